using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Queues;
using Serverless.Functions.Functions;

namespace Serverless.Functions.Local;

/// <summary>
/// Receives one batch from a handler's queue and settles every message the way the Functions host's
/// queue trigger does: delete on success; on failure hide it for 2^DequeueCount seconds (at most
/// 5 minutes); after <see cref="LocalHostOptions.MaxDequeueCount"/> attempts copy it to
/// <c>{queue}-poison</c> and delete it. No message is dropped without a copy and an error log.
/// </summary>
public sealed class QueueMessagePump(IQueueStore store, IOptions<LocalHostOptions> options, ILogger<QueueMessagePump> logger)
{
    /// <summary>Longest failure back-off.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    private readonly LocalHostOptions _options = options.Value;
    private readonly HashSet<string> _createdPoisonQueues = new(StringComparer.Ordinal);

    /// <summary>The poison queue of <paramref name="queue"/>.</summary>
    public static string PoisonQueueName(string queue) => $"{queue}-poison";

    /// <summary>How long a message stays hidden after its <paramref name="dequeueCount"/>-th failed attempt.</summary>
    public static TimeSpan Backoff(long dequeueCount) =>
        dequeueCount >= 9 ? MaxBackoff : TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Max(dequeueCount, 0)), MaxBackoff.TotalSeconds));

    /// <summary>Processes one batch; returns how many messages were received (0 when the queue was empty).</summary>
    public async Task<int> PollOnceAsync(IQueueMessageHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var messages = await store.ReceiveAsync(handler.QueueName, _options.QueueBatchSize, _options.QueueVisibilityTimeout, cancellationToken);
        foreach (var message in messages)
        {
            await ProcessAsync(handler, message, cancellationToken);
        }

        return messages.Count;
    }

    private async Task ProcessAsync(IQueueMessageHandler handler, QueueMessage message, CancellationToken cancellationToken)
    {
        var queue = handler.QueueName;
        if (message.DequeueCount > _options.MaxDequeueCount)
        {
            // Seen more often than allowed without being settled (e.g. the process died mid-handler).
            await PoisonAsync(queue, message, "its dequeue count exceeded the maximum before processing", cancellationToken);
            return;
        }

        try
        {
            await handler.HandleAsync(
                new QueueMessageContext(handler.FunctionName, queue, message.MessageId, message.Text, message.DequeueCount, message.InsertedOn),
                cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: leave the message; it becomes visible again after its timeout.
            throw;
        }
        catch (Exception ex)
        {
            await FailAsync(handler, message, ex, cancellationToken);
            return;
        }

        if (!await store.DeleteAsync(queue, message.MessageId, message.PopReceipt, cancellationToken))
        {
            LocalTriggerLog.DeleteStale(logger, queue, message.MessageId);
        }
    }

    private async Task FailAsync(IQueueMessageHandler handler, QueueMessage message, Exception error, CancellationToken cancellationToken)
    {
        var queue = handler.QueueName;
        if (message.DequeueCount >= _options.MaxDequeueCount)
        {
            LocalTriggerLog.HandlerFailed(logger, error, handler.FunctionName, message.MessageId, message.DequeueCount, TimeSpan.Zero);
            await PoisonAsync(queue, message, $"{handler.FunctionName} failed {message.DequeueCount} times", cancellationToken);
            return;
        }

        var backoff = Backoff(message.DequeueCount);
        LocalTriggerLog.HandlerFailed(logger, error, handler.FunctionName, message.MessageId, message.DequeueCount, backoff);
        try
        {
            await store.UpdateVisibilityAsync(queue, message.MessageId, message.PopReceipt, backoff, cancellationToken);
        }
        catch (QueueNotFoundException)
        {
            // The receipt went stale (visibility expired while the handler ran): the message is
            // already visible again and will be retried; nothing is lost.
            LocalTriggerLog.DeleteStale(logger, queue, message.MessageId);
        }
    }

    private async Task PoisonAsync(string queue, QueueMessage message, string reason, CancellationToken cancellationToken)
    {
        var poison = PoisonQueueName(queue);
        if (!_createdPoisonQueues.Contains(poison))
        {
            await store.CreateIfNotExistsAsync(poison, cancellationToken);
            _createdPoisonQueues.Add(poison);
        }

        // Copy first, delete second: a crash in between duplicates the message, never loses it.
        await store.SendAsync(poison, message.Text, cancellationToken: cancellationToken);
        await store.DeleteAsync(queue, message.MessageId, message.PopReceipt, cancellationToken);
        LocalTriggerLog.Poisoned(logger, queue, message.MessageId, message.DequeueCount, poison, reason);
    }
}
