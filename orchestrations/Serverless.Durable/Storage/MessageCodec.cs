using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Queues;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Storage;

/// <summary>What a queue message carries.</summary>
internal enum EnvelopeKind
{
    /// <summary>A message to an orchestration instance (control queue).</summary>
    Orchestration,

    /// <summary>An activity to run (work-item queue).</summary>
    Activity,

    /// <summary>The watchdog of an instance's in-process activities: when it becomes visible, the process that ran them
    /// is presumed dead and the activities still open in history are dispatched again.</summary>
    Recover,

    /// <summary>A pointer to the real envelope, gzipped in a blob because it was too large for a queue message.</summary>
    Reference,
}

/// <summary>
/// The JSON text of a queue message. <see cref="Sig"/> and <see cref="From"/> let the receiver check a completion
/// against the event that scheduled it, so that a message sent by a step whose commit then lost an ETag race can
/// never complete a different task that later got the same task id.
/// </summary>
internal sealed record Envelope(
    EnvelopeKind Kind,
    string Id,
    string Instance,
    string? Execution = null,
    HistoryEvent? Event = null,
    DateTimeOffset? VisibleAt = null,
    int? TaskId = null,
    string? Name = null,
    string? Input = null,
    ulong? Sig = null,
    string? From = null,
    string? Ref = null,
    bool? SelfDispatched = null);

/// <summary>A message to an instance as the backend holds it, with the facts needed to validate it.</summary>
internal sealed record Delivery(OrchestrationMessage Message, ulong? Sig = null, string? From = null);

/// <summary>Turns envelopes into queue text and back, moving large ones to blobs (gzipped).</summary>
internal sealed class MessageCodec(IBlobStore blobs, StorageBackendOptions options)
{
    /// <summary>Leave room under the 64 KiB limit for the service's own encoding overhead.</summary>
    internal const int MaxInlineEncodedBytes = QueueLimits.MaxMessageBytes - 1024;

    private static readonly JsonSerializerOptions Json = new(DurableJson.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public static Envelope From(Delivery delivery) => new(
        EnvelopeKind.Orchestration,
        delivery.Message.MessageId,
        delivery.Message.InstanceId,
        delivery.Message.ExecutionId,
        delivery.Message.Event,
        delivery.Message.VisibleAt,
        Sig: delivery.Sig,
        From: delivery.From);

    public static Envelope From(ActivityMessage activity) =>
        new(EnvelopeKind.Activity, activity.MessageId, activity.InstanceId, activity.ExecutionId, TaskId: activity.TaskId, Name: activity.Name, Input: activity.Input);

    public static Delivery ToDelivery(Envelope envelope) => new(
        new OrchestrationMessage(envelope.Id, envelope.Instance, envelope.Execution, envelope.Event ?? throw new JsonException("An orchestration message has no event."), envelope.VisibleAt),
        envelope.Sig,
        envelope.From);

    public static ActivityMessage ToActivity(Envelope envelope) => new(
        envelope.Id,
        envelope.Instance,
        envelope.Execution ?? throw new JsonException("An activity message has no execution id."),
        envelope.TaskId ?? throw new JsonException("An activity message has no task id."),
        envelope.Name ?? throw new JsonException("An activity message has no name."),
        envelope.Input);

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);

    public static T? Deserialize<T>(string text) => JsonSerializer.Deserialize<T>(text, Json);

    /// <summary>The queue text for <paramref name="envelope"/>; a reference to a blob when the text would not fit.</summary>
    public async Task<string> EncodeAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        var text = Serialize(envelope);
        if (EncodedSize(text) <= MaxInlineEncodedBytes)
        {
            return text;
        }

        var blob = $"messages/{envelope.Instance}/{Guid.NewGuid():N}.json.gz";
        await UploadGzipAsync(blob, text, cancellationToken).ConfigureAwait(false);
        return Serialize(new Envelope(EnvelopeKind.Reference, envelope.Id, envelope.Instance, Ref: blob));
    }

    /// <summary>Reads queue text; follows a blob reference. Returns the envelope and the blob it came from (to delete once consumed).</summary>
    public async Task<(Envelope Envelope, string? Blob)> DecodeAsync(string text, CancellationToken cancellationToken)
    {
        var envelope = Deserialize<Envelope>(text) ?? throw new JsonException("The message is JSON null.");
        if (envelope.Kind != EnvelopeKind.Reference)
        {
            return (envelope, null);
        }

        var blob = envelope.Ref ?? throw new JsonException("A reference message names no blob.");
        var inner = await DownloadGzipAsync(blob, cancellationToken).ConfigureAwait(false);
        return (Deserialize<Envelope>(inner) ?? throw new JsonException("The referenced message is JSON null."), blob);
    }

    public async Task UploadGzipAsync(string blob, string text, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
        }

        buffer.Position = 0;
        await blobs.UploadAsync(options.PayloadContainer, blob, buffer, new BlobUploadOptions(ContentType: "application/gzip"), cancellationToken).ConfigureAwait(false);
    }

    public async Task<string> DownloadGzipAsync(string blob, CancellationToken cancellationToken)
    {
        await using var download = await blobs.DownloadAsync(options.PayloadContainer, blob, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var gzip = new GZipStream(download.Content, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
    }

    private static int EncodedSize(string text) => (Encoding.UTF8.GetByteCount(text) + 2) / 3 * 4;
}
