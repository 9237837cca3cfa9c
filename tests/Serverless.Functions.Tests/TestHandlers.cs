using System.Collections.Concurrent;
using Serverless.Functions.Functions;

namespace Serverless.Functions.Tests;

/// <summary>A queue handler that records what it receives and optionally fails.</summary>
public sealed class RecordingQueueHandler(string functionName, string queueName, Exception? failWith = null) : IQueueMessageHandler
{
    public string FunctionName { get; } = functionName;

    public string QueueName { get; } = queueName;

    public ConcurrentQueue<QueueMessageContext> Received { get; } = new();

    public Task HandleAsync(QueueMessageContext message, CancellationToken cancellationToken)
    {
        Received.Enqueue(message);
        return failWith is null ? Task.CompletedTask : Task.FromException(failWith);
    }
}

/// <summary>A BlobCreated handler that records what it receives and optionally fails.</summary>
public sealed class RecordingBlobHandler(Exception? failWith = null) : IBlobCreatedHandler
{
    public ConcurrentQueue<BlobCreatedEvent> Received { get; } = new();

    public Exception? FailWith { get; set; } = failWith;

    public Task HandleAsync(BlobCreatedEvent blobCreated, CancellationToken cancellationToken)
    {
        Received.Enqueue(blobCreated);
        return FailWith is null ? Task.CompletedTask : Task.FromException(FailWith);
    }
}
