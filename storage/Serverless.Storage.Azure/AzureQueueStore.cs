using System.Globalization;
using System.Net;
using System.Text;
using System.Xml.Linq;
using global::Azure.Core;
using Serverless.Core.Storage.Queues;

namespace Serverless.Storage.Azure;

/// <summary>
/// <see cref="IQueueStore"/> over the Queue service REST API (Azure or Azurite). Message text is
/// sent Base64-encoded UTF-8, which is what the Azure Functions queue trigger decodes by default.
/// </summary>
public sealed class AzureQueueStore : IQueueStore
{
    private readonly AzureRestClient _client;

    /// <summary>Uses Shared Key when <paramref name="options"/> has an account key, else Entra ID (managed identity or the default chain).</summary>
    public AzureQueueStore(AzureStorageOptions options)
        : this(options, AzureCredentials.For(options), null)
    {
    }

    /// <summary>Uses Entra ID bearer tokens from <paramref name="credential"/> (ignored when the options carry an account key).</summary>
    public AzureQueueStore(AzureStorageOptions options, TokenCredential credential)
        : this(options, credential, null)
    {
    }

    internal AzureQueueStore(AzureStorageOptions options, TokenCredential? credential, HttpClient? http)
    {
        ArgumentNullException.ThrowIfNull(options);
        _client = new AzureRestClient(options.QueueEndpoint, options, credential, http, f => f.Status == 404
            ? new QueueNotFoundException(f.Message, f.ErrorCode)
            : new QueueStoreException(f.Message, f.Status, f.ErrorCode, f.Inner));
    }

    /// <summary>Bytes a message occupies once Base64-encoded (what the service's limit counts).</summary>
    public static int EncodedSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return (Encoding.UTF8.GetByteCount(text) + 2) / 3 * 4;
    }

    /// <inheritdoc />
    public async Task CreateIfNotExistsAsync(string queue, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(queue)), true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return; // QueueAlreadyExists (with other metadata): still idempotent for us.
        }

        await _client.ThrowIfFailedAsync(response, $"Create queue '{queue}'", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<SentMessage> SendAsync(string queue, string text, TimeSpan? visibilityDelay = null, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        ArgumentNullException.ThrowIfNull(text);
        var size = EncodedSize(text);
        if (size > QueueLimits.MaxMessageBytes)
        {
            throw new QueueMessageTooLargeException(size);
        }

        if (visibilityDelay is { } delay && (delay < TimeSpan.Zero || delay > QueueLimits.MaxVisibility))
        {
            throw new ArgumentOutOfRangeException(nameof(visibilityDelay), "The visibility delay must be 0..7 days.");
        }

        // -1 means "never expires"; otherwise at least one second.
        string? ttl = timeToLive switch
        {
            null => null,
            { } t when t == Timeout.InfiniteTimeSpan => "-1",
            { } t when t >= TimeSpan.FromSeconds(1) => Seconds(t),
            _ => throw new ArgumentOutOfRangeException(nameof(timeToLive), "The time to live must be at least one second (or infinite)."),
        };
        if (visibilityDelay is { } d && ttl is not null && ttl != "-1" && d >= timeToLive!.Value)
        {
            throw new ArgumentOutOfRangeException(nameof(visibilityDelay), "The visibility delay must be shorter than the time to live.");
        }

        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
        var body = Encoding.UTF8.GetBytes(new XElement("QueueMessage", new XElement("MessageText", encoded)).ToString(SaveOptions.DisableFormatting));
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Post, _client.BuildUri(
                $"{queue}/messages",
                ("visibilitytimeout", visibilityDelay is { } v ? Seconds(v) : null),
                ("messagettl", ttl)))
            {
                Content = new ByteArrayContent(body),
            },
            idempotent: false,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Send to queue '{queue}'", cancellationToken).ConfigureAwait(false);
        var message = (await ReadMessagesAsync(response, cancellationToken).ConfigureAwait(false)).FirstOrDefault()
            ?? throw new QueueStoreException($"Send to queue '{queue}' returned no message.", (int)response.StatusCode);
        return new SentMessage(
            Text(message, "MessageId"),
            Text(message, "PopReceipt"),
            Date(message, "InsertionTime"),
            Date(message, "TimeNextVisible"));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<QueueMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxMessages, 32);
        ValidateVisibilityTimeout(visibilityTimeout);

        // Not retried: a lost response would leave messages hidden, but a retry would hide more.
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(
                $"{queue}/messages",
                ("numofmessages", maxMessages.ToString(CultureInfo.InvariantCulture)),
                ("visibilitytimeout", Seconds(visibilityTimeout)))),
            idempotent: false,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Receive from queue '{queue}'", cancellationToken).ConfigureAwait(false);
        return (await ReadMessagesAsync(response, cancellationToken).ConfigureAwait(false)).Select(m => new QueueMessage(
            Text(m, "MessageId"),
            Text(m, "PopReceipt"),
            Decode(Text(m, "MessageText")),
            long.Parse(Text(m, "DequeueCount"), CultureInfo.InvariantCulture),
            Date(m, "InsertionTime"),
            Date(m, "TimeNextVisible"))).ToList();
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string queue, string messageId, string popReceipt, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        ArgumentException.ThrowIfNullOrEmpty(popReceipt);
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Delete, _client.BuildUri($"{queue}/messages/{Uri.EscapeDataString(messageId)}", ("popreceipt", popReceipt))),
            true,
            cancellationToken).ConfigureAwait(false);
        if (IsGoneOrStale(response))
        {
            return false;
        }

        await _client.ThrowIfFailedAsync(response, $"Delete message from queue '{queue}'", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public async Task<string> UpdateVisibilityAsync(string queue, string messageId, string popReceipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        ArgumentException.ThrowIfNullOrEmpty(popReceipt);
        ValidateVisibilityTimeout(visibilityTimeout, allowZero: true);
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(
                $"{queue}/messages/{Uri.EscapeDataString(messageId)}",
                ("popreceipt", popReceipt),
                ("visibilitytimeout", Seconds(visibilityTimeout)))),
            true,
            cancellationToken).ConfigureAwait(false);
        if (IsGoneOrStale(response))
        {
            var failure = await AzureRestClient.ReadFailureAsync(response, $"Update visibility in queue '{queue}'", cancellationToken).ConfigureAwait(false);
            throw new QueueNotFoundException(failure.Message, failure.ErrorCode);
        }

        await _client.ThrowIfFailedAsync(response, $"Update visibility in queue '{queue}'", cancellationToken).ConfigureAwait(false);
        return response.Headers.TryGetValues("x-ms-popreceipt", out var receipts)
            ? receipts.First()
            : throw new QueueStoreException("Update visibility returned no pop receipt.", (int)response.StatusCode);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<PeekedMessage>> PeekAsync(string queue, int maxMessages = 1, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessages, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxMessages, 32);
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(
                $"{queue}/messages",
                ("peekonly", "true"),
                ("numofmessages", maxMessages.ToString(CultureInfo.InvariantCulture)))),
            true,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Peek queue '{queue}'", cancellationToken).ConfigureAwait(false);
        return (await ReadMessagesAsync(response, cancellationToken).ConfigureAwait(false)).Select(m => new PeekedMessage(
            Text(m, "MessageId"),
            Decode(Text(m, "MessageText")),
            long.Parse(Text(m, "DequeueCount"), CultureInfo.InvariantCulture),
            Date(m, "InsertionTime"))).ToList();
    }

    /// <inheritdoc />
    public async Task<int> GetApproximateCountAsync(string queue, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(queue, "queue");
        using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(queue, ("comp", "metadata"))), true, cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Get metadata of queue '{queue}'", cancellationToken).ConfigureAwait(false);
        return response.Headers.TryGetValues("x-ms-approximate-messages-count", out var values)
            && int.TryParse(values.First(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new QueueStoreException("The queue's metadata lacks x-ms-approximate-messages-count.", (int)response.StatusCode);
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(string.Empty, ("comp", "list"), ("maxresults", "1"))), true, cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (QueueStoreException)
        {
            return false;
        }
    }

    // A stale pop receipt is 400 PopReceiptMismatch on Azure and 404 on some emulator versions.
    private static bool IsGoneOrStale(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.NotFound
        || (response.StatusCode == HttpStatusCode.BadRequest
            && response.Headers.TryGetValues("x-ms-error-code", out var codes)
            && codes.Contains("PopReceiptMismatch", StringComparer.Ordinal));

    private static void ValidateVisibilityTimeout(TimeSpan timeout, bool allowZero = false)
    {
        if (timeout < (allowZero ? TimeSpan.Zero : TimeSpan.FromSeconds(1)) || timeout > QueueLimits.MaxVisibility)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), $"The visibility timeout must be {(allowZero ? 0 : 1)} second(s) .. 7 days.");
        }
    }

    private static async Task<List<XElement>> ReadMessagesAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var doc = await XDocument.LoadAsync(body, LoadOptions.None, cancellationToken).ConfigureAwait(false);
        return doc.Root?.Elements("QueueMessage").ToList() ?? [];
    }

    private static string Text(XElement message, string name) =>
        message.Element(name)?.Value ?? throw new QueueStoreException($"The service's message lacks {name}.");

    private static DateTimeOffset Date(XElement message, string name) => AzureRestClient.ParseDate(Text(message, name));

    private static string Decode(string base64)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            // Someone else put plain text on the queue; hand it over as it is rather than drop it.
            return base64;
        }
    }

    private static string Seconds(TimeSpan value) => ((long)Math.Ceiling(value.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
