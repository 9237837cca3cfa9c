using Serverless.Core.Storage.Queues;
using Serverless.Durable.History;
using Serverless.Durable.Runtime;
using Serverless.Durable.Storage;
using Serverless.Testing;

namespace Serverless.Durable.Tests.Storage;

/// <summary>Crashes, duplicates, expired visibility, races and two processes, on real SQLite + Azurite.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class StorageFaultTests(AzuriteFixture azurite)
{
    private static readonly List<string> Expected = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"];

    [Theory]
    [InlineData(CommitStage.AfterOutbox, 1)]
    [InlineData(CommitStage.AfterOutbox, 2)]
    [InlineData(CommitStage.AfterOutbox, 4)]
    [InlineData(CommitStage.AfterStateWrite, 1)]
    [InlineData(CommitStage.AfterStateWrite, 2)]
    [InlineData(CommitStage.AfterStateWrite, 4)]
    public async Task CrashMidCommit_AnotherProcessTakesOver_CompletesExactlyOnce(CommitStage stage, int crashOnCommit)
    {
        var commits = 0;
        var crashed = new TaskCompletionSource();
        var options = new StorageBackendOptions(
            TaskHub: AzuriteFixture.UniqueName("f"),
            MessageLease: TimeSpan.FromSeconds(1),
            QueuePollInterval: TimeSpan.FromMilliseconds(50));
        await using var a = new StorageHarness(azurite, options with
        {
            CrashAt = (s, _) =>
            {
                if (s != stage || Interlocked.Increment(ref commits) != crashOnCommit)
                {
                    return false;
                }

                crashed.TrySetResult();
                return true;
            },
        }).Start(1);
        await using var client = a.NewProcess("client", options with { InProcessDispatch = false });

        var id = await client.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SequenceOrchestrator));
        await crashed.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await a.StopAsync();
        await using var b = a.NewProcess("b", options).Start(1);
        var state = await client.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(Expected, state.ReadOutputAs<List<string>>());
        var history = await client.HistoryAsync(id);
        Assert.Single(history.OfType<ExecutionStarted>());
        Assert.Equal(3, history.OfType<TaskScheduled>().Count());
        Assert.Equal([0, 1, 2], history.OfType<TaskCompleted>().Select(e => e.ScheduledId));
        Assert.Single(history.OfType<ExecutionCompleted>());
        Assert.Equal(Enumerable.Range(0, history.Count), history.Select(e => e.SequenceNumber));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryMessageSentTwice_SequenceFanOutEvents_CompleteOnceAndQueuesDrain(bool inProcess)
    {
        var options = new StorageBackendOptions(
            TaskHub: AzuriteFixture.UniqueName("d"),
            MessageLease: TimeSpan.FromSeconds(1),
            InProcessDispatch: inProcess,
            QueuePollInterval: TimeSpan.FromMilliseconds(50));
        await using var harness = new StorageHarness(azurite, options, wrapQueues: q => new DuplicatingQueueStore(q)).Start();

        var sequence = await harness.RunAsync(nameof(SequenceOrchestrator));
        var fanOut = await harness.RunAsync(nameof(FanOutOrchestrator), 50);
        var collector = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(EventCollectorOrchestrator), 2);
        await harness.Client.RaiseEventAsync(collector, "Add", 1);
        await harness.Client.RaiseEventAsync(collector, "Add", 2);
        var events = await harness.Client.WaitForCompletionAsync(collector, TimeSpan.FromSeconds(20));

        Assert.Equal(Expected, sequence.ReadOutputAs<List<string>>());
        Assert.Equal(Enumerable.Range(0, 50).Sum(i => (long)i * i), fanOut.ReadOutputAs<long>());
        Assert.Equal([1, 2], events.ReadOutputAs<List<int>>());
        foreach (var id in new[] { sequence.InstanceId, fanOut.InstanceId, collector })
        {
            var history = await harness.HistoryAsync(id);
            var completions = history.OfType<TaskCompleted>().Select(e => e.ScheduledId).ToList();
            Assert.Equal(completions.Count, completions.Distinct().Count());
            Assert.Equal(history.OfType<TaskScheduled>().Count(), completions.Count);
            Assert.Single(history.OfType<ExecutionCompleted>());
        }

        // The duplicates come back after the lease and are recognised and deleted.
        await StorageConformanceTests.WaitUntilAsync(async () => await harness.QueuedAsync() == 0, 60);
        Assert.Equal(2, (await harness.HistoryAsync(collector)).OfType<EventRaised>().Count());
    }

    [Fact]
    public async Task VisibilityTimeoutExpiresDuringActivity_ActivityRunsAgain_ResultRecordedOnce()
    {
        var options = new StorageBackendOptions(
            TaskHub: AzuriteFixture.UniqueName("v"),
            MessageLease: TimeSpan.FromSeconds(1),
            InProcessDispatch: false,
            QueuePollInterval: TimeSpan.FromMilliseconds(50));
        await using var harness = new StorageHarness(azurite, options).Start(3);

        var state = await harness.RunAsync(nameof(SlowOrchestrator), 2500);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(2500, state.ReadOutputAs<int>());
        Assert.True(harness.CallCount("Slow") >= 2, $"The activity ran {harness.CallCount("Slow")} time(s); its message should have reappeared.");
        Assert.Single(harness.Calls["Slow"].Distinct());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Single(history.OfType<TaskCompleted>());
    }

    [Fact]
    public async Task TwoProcesses_OneStopsMidWay_TheOtherFinishesEverythingExactlyOnce()
    {
        // Which worker wins a given message is up to the queues, so the hand-over is staged: a works
        // alone, is stopped once it has finished some instances (holding leases on others), and b,
        // a separate process on the same store and queues, must finish the rest exactly once.
        const int count = 48;
        var options = new StorageBackendOptions(
            TaskHub: AzuriteFixture.UniqueName("w"),
            MessageLease: TimeSpan.FromSeconds(2),
            QueuePollInterval: TimeSpan.FromMilliseconds(50));
        await using var a = new StorageHarness(azurite, options, name: "a").Start();
        await using var client = a.NewProcess("client", options with { InProcessDispatch = false });
        var ids = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => client.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WhereOrchestrator), 5)));
        await StorageConformanceTests.WaitUntilAsync(async () =>
            (await client.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed]))).Items.Count >= 1);
        await a.StopAsync();
        var completedByA = (await client.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed], PageSize: count))).Items.Count;

        await using var b = a.NewProcess("b").Start();
        var states = await Task.WhenAll(ids.Select(id => client.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(40))));

        Assert.All(states, s => Assert.Equal(OrchestrationRuntimeStatus.Completed, s.Status));
        var places = states.SelectMany(s => s.ReadOutputAs<List<string>>()!).ToList();
        Assert.Equal(count * 5, places.Count);
        Assert.Contains("a", places);
        if (completedByA < count)
        {
            Assert.Contains("b", places);
        }

        foreach (var id in ids)
        {
            var history = await client.HistoryAsync(id);
            Assert.Equal([0, 1, 2, 3, 4], history.OfType<TaskCompleted>().Select(e => e.ScheduledId));
            Assert.Single(history.OfType<ExecutionCompleted>());
        }
    }

    [Fact]
    public async Task UnreadableMessage_ForAnInstance_GoesToPoisonQueueAndInstanceFails()
    {
        await using var harness = new StorageHarness(azurite).Start();
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator));
        await StorageConformanceTests.WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync(id))!.State.Status == OrchestrationRuntimeStatus.Running);

        var bogus = "{\"kind\":\"Orchestration\",\"id\":\"bogus-1\",\"instance\":\"" + id + "\",\"event\":{\"type\":\"NoSuchEvent\"}}";
        await harness.Queues.SendAsync(harness.Options.ControlQueueOf(id), bogus);
        await StorageConformanceTests.WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync(id))!.State.Status == OrchestrationRuntimeStatus.Failed);
        var state = (await harness.Client.GetInstanceAsync(id))!.State;
        var poisoned = await harness.Queues.PeekAsync(harness.Options.PoisonQueue, 32);

        Assert.Equal("PoisonMessage", state.Failure!.ErrorType);
        Assert.Contains("bogus-1", state.Failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains(poisoned, m => m.Text.Contains("bogus-1", StringComparison.Ordinal));
    }

    /// <summary>An at-least-once queue at its worst: every send is delivered twice (a decorator over the real Azurite store).</summary>
    private sealed class DuplicatingQueueStore(IQueueStore inner) : IQueueStore
    {
        public Task CreateIfNotExistsAsync(string queue, CancellationToken cancellationToken = default) => inner.CreateIfNotExistsAsync(queue, cancellationToken);

        public async Task<SentMessage> SendAsync(string queue, string text, TimeSpan? visibilityDelay = null, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
        {
            var first = await inner.SendAsync(queue, text, visibilityDelay, timeToLive, cancellationToken);
            await inner.SendAsync(queue, text, visibilityDelay, timeToLive, cancellationToken);
            return first;
        }

        public Task<IReadOnlyList<QueueMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default) =>
            inner.ReceiveAsync(queue, maxMessages, visibilityTimeout, cancellationToken);

        public Task<bool> DeleteAsync(string queue, string messageId, string popReceipt, CancellationToken cancellationToken = default) =>
            inner.DeleteAsync(queue, messageId, popReceipt, cancellationToken);

        public Task<string> UpdateVisibilityAsync(string queue, string messageId, string popReceipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default) =>
            inner.UpdateVisibilityAsync(queue, messageId, popReceipt, visibilityTimeout, cancellationToken);

        public Task<IReadOnlyList<PeekedMessage>> PeekAsync(string queue, int maxMessages = 1, CancellationToken cancellationToken = default) =>
            inner.PeekAsync(queue, maxMessages, cancellationToken);

        public Task<int> GetApproximateCountAsync(string queue, CancellationToken cancellationToken = default) => inner.GetApproximateCountAsync(queue, cancellationToken);

        public Task<bool> PingAsync(CancellationToken cancellationToken = default) => inner.PingAsync(cancellationToken);
    }
}
