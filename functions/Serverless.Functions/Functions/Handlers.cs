namespace Serverless.Functions.Functions;

/// <summary>
/// Handles the messages of one queue-triggered function. The same handler runs whether the Azure
/// Functions host delivered the message (custom handler mode) or the local poller received it.
/// </summary>
/// <remarks>
/// Delivery is at-least-once: a handler must be idempotent. Throwing marks the attempt failed; the
/// message comes back later and is moved to <c>{queue}-poison</c> after the maximum dequeue count.
/// </remarks>
public interface IQueueMessageHandler
{
    /// <summary>The function in <see cref="FunctionCatalog"/> this handler serves.</summary>
    string FunctionName { get; }

    /// <summary>The queue; must equal the catalog's queue for <see cref="FunctionName"/>.</summary>
    string QueueName { get; }

    Task HandleAsync(QueueMessageContext message, CancellationToken cancellationToken);
}

/// <summary>
/// Handles a blob landing in an upload container: called for Event Grid <c>BlobCreated</c> events in
/// Azure, and by the local blob watcher standing in for Event Grid. Must be idempotent: the same
/// blob may be reported more than once.
/// </summary>
public interface IBlobCreatedHandler
{
    Task HandleAsync(BlobCreatedEvent blobCreated, CancellationToken cancellationToken);
}

/// <summary>
/// A queue message as a handler sees it, whichever path delivered it. <c>Text</c> is the message text:
/// the host's Base64 already decoded and its extra level of JSON string encoding removed.
/// </summary>
public sealed record QueueMessageContext(
    string FunctionName,
    string QueueName,
    string MessageId,
    string Text,
    long DequeueCount,
    DateTimeOffset? InsertedOn);

/// <summary>
/// A blob that was created or overwritten. <c>EventId</c> is Event Grid's event id, or a local id
/// (container/name@etag) from the watcher; <c>Url</c> is known only from Event Grid.
/// </summary>
public sealed record BlobCreatedEvent(
    string EventId,
    string Container,
    string BlobName,
    long? ContentLength,
    string? ContentType,
    string? ETag,
    Uri? Url,
    DateTimeOffset EventTime);
