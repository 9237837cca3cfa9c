using System.Collections.Concurrent;
using Serverless.Core.Storage.Queues;
using Serverless.Durable.Runtime;
using Serverless.Durable.Storage;
using Serverless.Testing;

namespace Serverless.Durable.Tests.Storage;

/// <summary>Messages whose step fails without committing back off 2^attempts seconds, then go to the poison queue.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class BackoffTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(5, 32)]
    [InlineData(8, 256)]
    [InlineData(9, 300)]
    [InlineData(1000, 300)]
    public void For_Attempts_TwoToThePowerSecondsCappedAtFiveMinutes(long attempts, int seconds)
    {
        // Act
        var delay = DurableBackoff.For(attempts);

        // Assert
        Assert.Equal(TimeSpan.FromSeconds(seconds), delay);
    }

    [Fact]
    public async Task StepCommitKeepsFailing_RetriesAfter2sThen4s_QueueCopyHiddenAsLong_ThenPoisonedAndInstanceFailed()
    {
        // Arrange: every activity send fails, so the first step of SequenceOrchestrator can never commit.
        var options = new StorageBackendOptions(
            TaskHub: AzuriteFixture.UniqueName("bo"),
            MessageLease: TimeSpan.FromSeconds(1),
            InProcessDispatch: false,
            MaxDequeueCount: 2,
            QueuePollInterval: TimeSpan.FromMilliseconds(50));
        FailingWorkQueueStore? store = null;
        await using var harness = new StorageHarness(azurite, options, wrapQueues: q => store = new FailingWorkQueueStore(q, options)).Start(1);

        // Act
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SequenceOrchestrator));
        var state = await harness.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30));
        var poisoned = await harness.Queues.PeekAsync(options.PoisonQueue, 32);

        // Assert
        Assert.Equal(OrchestrationRuntimeStatus.Failed, state.Status);
        Assert.Equal("PoisonMessage", state.Failure?.ErrorType);
        Assert.Contains(options.PoisonQueue, state.Failure!.ErrorMessage, StringComparison.Ordinal);
        Assert.Single(poisoned);
        var attempts = store!.WorkSends.ToArray();
        Assert.Equal(2, attempts.Length);
        Assert.True(attempts[1] - attempts[0] >= TimeSpan.FromSeconds(1.9), $"second attempt {(attempts[1] - attempts[0]).TotalSeconds:F2} s after the first");
        Assert.True(store.PoisonedAt - attempts[1] >= TimeSpan.FromSeconds(3.9), $"poisoned {(store.PoisonedAt - attempts[1]).TotalSeconds:F2} s after the second attempt");
        var controlHides = store.ControlVisibilityUpdates.ToArray();
        Assert.Contains(controlHides, t => t >= TimeSpan.FromSeconds(1.9) && t <= TimeSpan.FromSeconds(2));
        Assert.Contains(controlHides, t => t >= TimeSpan.FromSeconds(3.9) && t <= TimeSpan.FromSeconds(4));
    }

    /// <summary>Fails every send to the work queue and records when sends and visibility changes happen.</summary>
    private sealed class FailingWorkQueueStore(IQueueStore inner, StorageBackendOptions options) : IQueueStore
    {
        public ConcurrentQueue<DateTimeOffset> WorkSends { get; } = new();

        public ConcurrentQueue<TimeSpan> ControlVisibilityUpdates { get; } = new();

        public DateTimeOffset PoisonedAt { get; private set; }

        public Task CreateIfNotExistsAsync(string queue, CancellationToken cancellationToken = default) => inner.CreateIfNotExistsAsync(queue, cancellationToken);

        public Task<SentMessage> SendAsync(string queue, string text, TimeSpan? visibilityDelay = null, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        {
            if (queue == options.WorkQueue)
            {
                WorkSends.Enqueue(DateTimeOffset.UtcNow);
                throw new QueueStoreException("work queue throttled (test)", 503, "ServerBusy");
            }

            if (queue == options.PoisonQueue)
            {
                PoisonedAt = DateTimeOffset.UtcNow;
            }

            return inner.SendAsync(queue, text, visibilityDelay, timeToLive, cancellationToken);
        }

        public Task<IReadOnlyList<QueueMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default) =>
            inner.ReceiveAsync(queue, maxMessages, visibilityTimeout, cancellationToken);

        public Task<bool> DeleteAsync(string queue, string messageId, string popReceipt, CancellationToken cancellationToken = default) =>
            inner.DeleteAsync(queue, messageId, popReceipt, cancellationToken);

        public Task<string> UpdateVisibilityAsync(string queue, string messageId, string popReceipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
        {
            if (queue.StartsWith(options.TaskHub + "-control", StringComparison.Ordinal))
            {
                ControlVisibilityUpdates.Enqueue(visibilityTimeout);
            }

            return inner.UpdateVisibilityAsync(queue, messageId, popReceipt, visibilityTimeout, cancellationToken);
        }

        public Task<IReadOnlyList<PeekedMessage>> PeekAsync(string queue, int maxMessages = 1, CancellationToken cancellationToken = default) =>
            inner.PeekAsync(queue, maxMessages, cancellationToken);

        public Task<int> GetApproximateCountAsync(string queue, CancellationToken cancellationToken = default) => inner.GetApproximateCountAsync(queue, cancellationToken);

        public Task<bool> PingAsync(CancellationToken cancellationToken = default) => inner.PingAsync(cancellationToken);
    }
}
