using System.Text.Json;
using Serverless.Functions.Functions;

namespace Serverless.Functions.CustomHandler;

/// <summary>Turns custom-handler invocation payloads into the records the handlers take.</summary>
public static class TriggerDecoding
{
    /// <summary>The Event Grid type of the events <see cref="IBlobCreatedHandler"/> handles.</summary>
    public const string BlobCreatedEventType = "Microsoft.Storage.BlobCreated";

    /// <summary>A queue trigger's message, with the metadata the host sends (Id, DequeueCount, InsertionTime).</summary>
    /// <exception cref="InvalidInvocationException">The payload holds no message.</exception>
    public static QueueMessageContext QueueMessage(FunctionDefinition function, InvocationRequest request)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(request);
        var value = request.FindData(function.TriggerBinding.Name)
            ?? throw new InvalidInvocationException($"The invocation of {function.Name} has no Data.{function.TriggerBinding.Name} (the queue message).");
        return new QueueMessageContext(
            function.Name,
            function.QueueName!,
            TolerantJson.ScalarText(request.FindMetadata("Id")) ?? string.Empty,
            TolerantJson.MessageText(value),
            TolerantJson.WholeNumber(request.FindMetadata("DequeueCount")) ?? 1,
            TolerantJson.Timestamp(request.FindMetadata("InsertionTime")));
    }

    /// <summary>
    /// The events of an Event Grid trigger (Event Grid schema or CloudEvents schema), split into
    /// BlobCreated events and the types of the others, which the caller reports as ignored.
    /// </summary>
    /// <exception cref="InvalidInvocationException">The payload holds no event or a BlobCreated event lacks its blob.</exception>
    public static (IReadOnlyList<BlobCreatedEvent> BlobCreated, IReadOnlyList<string> IgnoredTypes) EventGridEvents(FunctionDefinition function, InvocationRequest request)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(request);
        var value = request.FindData(function.TriggerBinding.Name)
            ?? throw new InvalidInvocationException($"The invocation of {function.Name} has no Data.{function.TriggerBinding.Name} (the event).");
        var created = new List<BlobCreatedEvent>();
        var ignored = new List<string>();
        foreach (var item in TolerantJson.Objects(value))
        {
            var type = String(item, "eventType") ?? String(item, "type") ?? "(no type)";
            if (string.Equals(type, BlobCreatedEventType, StringComparison.Ordinal))
            {
                created.Add(BlobCreated(item));
            }
            else
            {
                ignored.Add(type);
            }
        }

        if (created.Count == 0 && ignored.Count == 0)
        {
            throw new InvalidInvocationException($"The invocation of {function.Name} holds no event.");
        }

        return (created, ignored);
    }

    private static BlobCreatedEvent BlobCreated(JsonElement item)
    {
        var data = item.TryGetProperty("data", out var d) && d.ValueKind != JsonValueKind.Null
            ? TolerantJson.Objects(d)[0]
            : default;
        var url = data.ValueKind == JsonValueKind.Object && String(data, "url") is { } u && Uri.TryCreate(u, UriKind.Absolute, out var parsed) ? parsed : null;
        var (container, name) = BlobFromSubject(String(item, "subject")) ?? BlobFromUrl(url)
            ?? throw new InvalidInvocationException("A BlobCreated event names no blob: neither its subject (/blobServices/default/containers/{container}/blobs/{name}) nor data.url can be read.");
        var time = TolerantJson.Timestamp(Property(item, "eventTime") ?? Property(item, "time")) ?? DateTimeOffset.UtcNow;
        var has = data.ValueKind == JsonValueKind.Object;
        return new BlobCreatedEvent(
            String(item, "id") ?? $"{container}/{name}@{time:O}",
            container,
            name,
            has ? TolerantJson.WholeNumber(Property(data, "contentLength")) : null,
            has ? String(data, "contentType") : null,
            has ? String(data, "eTag") : null,
            url,
            time);
    }

    private static (string Container, string Name)? BlobFromSubject(string? subject)
    {
        const string containers = "/containers/";
        const string blobs = "/blobs/";
        if (subject is null)
        {
            return null;
        }

        var c = subject.IndexOf(containers, StringComparison.Ordinal);
        var b = c < 0 ? -1 : subject.IndexOf(blobs, c + containers.Length, StringComparison.Ordinal);
        if (b < 0)
        {
            return null;
        }

        var container = subject[(c + containers.Length)..b];
        var name = subject[(b + blobs.Length)..];
        return container.Length > 0 && name.Length > 0 ? (container, name) : null;
    }

    private static (string Container, string Name)? BlobFromUrl(Uri? url)
    {
        // https://{account}.blob.core.windows.net/{container}/{name}, or http://127.0.0.1:10000/{account}/{container}/{name} (Azurite).
        if (url is null)
        {
            return null;
        }

        var segments = url.AbsolutePath.TrimStart('/').Split('/', 2);
        var isPathStyle = url.IsLoopback || System.Net.IPAddress.TryParse(url.Host, out _);
        if (isPathStyle)
        {
            segments = segments.Length == 2 ? segments[1].Split('/', 2) : [];
        }

        return segments.Length == 2 && segments[0].Length > 0 && segments[1].Length > 0
            ? (segments[0], Uri.UnescapeDataString(segments[1]))
            : null;
    }

    private static JsonElement? Property(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var property in element.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value;
            }
        }

        return null;
    }

    private static string? String(JsonElement element, string name) => TolerantJson.ScalarText(Property(element, name));
}
