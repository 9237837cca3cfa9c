namespace Serverless.Core.Storage.Queues;

/// <summary>
/// The queue port (Azure Queue Storage, or Azurite locally), reached through our own REST client.
/// Delivery is at-least-once: a received message reappears after its visibility timeout unless
/// deleted with its pop receipt, so consumers must be idempotent.
/// </summary>
public interface IQueueStore
{
    /// <summary>Creates the queue if missing (idempotent). Names: 3..63 lowercase letters, digits, '-'.</summary>
    Task CreateIfNotExistsAsync(string queue, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends a text message (at most <see cref="QueueLimits.MaxMessageBytes"/> bytes once encoded;
    /// larger ones throw <see cref="QueueMessageTooLargeException"/>; send big payloads by reference).
    /// </summary>
    Task<SentMessage> SendAsync(string queue, string text, TimeSpan? visibilityDelay = null, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default);

    /// <summary>Receives up to <paramref name="maxMessages"/> (1..32), hiding them for <paramref name="visibilityTimeout"/>.</summary>
    Task<IReadOnlyList<QueueMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default);

    /// <summary>Deletes a received message. Returns false when it was already gone or its receipt is stale.</summary>
    Task<bool> DeleteAsync(string queue, string messageId, string popReceipt, CancellationToken cancellationToken = default);

    /// <summary>Hides a received message for <paramref name="visibilityTimeout"/> more; returns the new pop receipt.</summary>
    Task<string> UpdateVisibilityAsync(string queue, string messageId, string popReceipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default);

    /// <summary>Looks at up to 32 visible messages without hiding them.</summary>
    Task<IReadOnlyList<PeekedMessage>> PeekAsync(string queue, int maxMessages = 1, CancellationToken cancellationToken = default);

    /// <summary>The service's approximate message count.</summary>
    Task<int> GetApproximateCountAsync(string queue, CancellationToken cancellationToken = default);

    /// <summary>Checks the service answers; used by the health endpoint.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken = default);
}

/// <summary>A received message with what is needed to delete or extend it.</summary>
public sealed record QueueMessage(string MessageId, string PopReceipt, string Text, long DequeueCount, DateTimeOffset InsertedOn, DateTimeOffset NextVisibleOn);

/// <summary>A peeked message (no pop receipt: it cannot be deleted).</summary>
public sealed record PeekedMessage(string MessageId, string Text, long DequeueCount, DateTimeOffset InsertedOn);

/// <summary>Identity of a sent message.</summary>
public sealed record SentMessage(string MessageId, string PopReceipt, DateTimeOffset InsertedOn, DateTimeOffset NextVisibleOn);

/// <summary>Azure Queue Storage's limits.</summary>
public static class QueueLimits
{
    /// <summary>Largest message (64 KiB, after Base64 encoding).</summary>
    public const int MaxMessageBytes = 64 * 1024;

    /// <summary>Longest visibility delay or timeout (7 days).</summary>
    public static readonly TimeSpan MaxVisibility = TimeSpan.FromDays(7);
}

/// <summary>Base of the queue store's typed errors.</summary>
public class QueueStoreException(string message, int status = 0, string? errorCode = null, Exception? inner = null) : Exception(message, inner)
{
    public int Status { get; } = status;

    public string? ErrorCode { get; } = errorCode;
}

/// <summary>The encoded message exceeds <see cref="QueueLimits.MaxMessageBytes"/>.</summary>
public sealed class QueueMessageTooLargeException(int encodedBytes)
    : QueueStoreException($"The message is {encodedBytes} bytes once encoded; the queue limit is {QueueLimits.MaxMessageBytes}. Store the payload in a blob and send a reference.", 413);

/// <summary>The queue or message does not exist (or the pop receipt is stale).</summary>
public sealed class QueueNotFoundException(string message, string? errorCode = null) : QueueStoreException(message, 404, errorCode);
