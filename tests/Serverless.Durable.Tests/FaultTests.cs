using Serverless.Durable.History;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Tests;

/// <summary>At-least-once delivery and crashes between commit steps, on the in-memory backend.</summary>
public sealed class FaultTests
{
    [Fact]
    public async Task EveryMessageDeliveredTwice_SequenceAndFanOut_CompleteOnceWithRightOutput()
    {
        using var harness = new DurableHarness(new InMemoryBackendOptions(DeliverEveryMessageTwice: true));

        var sequence = await harness.RunAsync(nameof(SequenceOrchestrator));
        var fanOut = await harness.RunAsync(nameof(FanOutOrchestrator), 50);

        Assert.Equal(["Hello Tokyo!", "Hello Seattle!", "Hello London!"], sequence.ReadOutputAs<List<string>>());
        Assert.Equal(Enumerable.Range(0, 50).Sum(i => (long)i * i), fanOut.ReadOutputAs<long>());
        foreach (var id in new[] { sequence.InstanceId, fanOut.InstanceId })
        {
            var history = await harness.HistoryAsync(id);
            var completions = history.OfType<TaskCompleted>().Select(e => e.ScheduledId).ToList();
            Assert.Equal(completions.Count, completions.Distinct().Count());
            Assert.Single(history.OfType<ExecutionStarted>());
            Assert.Single(history.OfType<ExecutionCompleted>());
        }

        // Activities are at least once: duplicated deliveries ran them again with the same idempotency key.
        Assert.Equal(50, harness.Calls["Square"].Distinct().Count());
        Assert.Equal(0, harness.Backend.PendingMessageCount);
    }

    [Fact]
    public async Task EventRaisedTwice_SameEventId_DeliveredOnce()
    {
        using var harness = new DurableHarness(new InMemoryBackendOptions(DeliverEveryMessageTwice: true));
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(EventCollectorOrchestrator), 2);

        await harness.Client.RaiseEventAsync(id, "Add", 1);
        await harness.Client.RaiseEventAsync(id, "Add", 2);
        await harness.Worker.RunUntilIdleAsync();

        Assert.Equal([1, 2], (await harness.StateAsync(id)).ReadOutputAs<List<int>>());
    }

    [Theory]
    [InlineData(CommitStage.AfterOutbox, 1)]
    [InlineData(CommitStage.AfterOutbox, 3)]
    [InlineData(CommitStage.AfterStateWrite, 1)]
    [InlineData(CommitStage.AfterStateWrite, 3)]
    public async Task CrashMidCommit_LeaseExpires_AnotherWorkerFinishesExactlyOnce(CommitStage stage, int crashOnCommit)
    {
        var commits = 0;
        using var harness = new DurableHarness(new InMemoryBackendOptions(
            LeaseDuration: TimeSpan.FromMinutes(1),
            CrashAt: (s, _) => s == stage && ++commits == crashOnCommit));
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SequenceOrchestrator));

        await Assert.ThrowsAsync<SimulatedCrashException>(() => harness.Worker.RunUntilIdleAsync());
        harness.Time.Advance(TimeSpan.FromMinutes(2));
        await harness.NewWorker(harness.Registry).RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(["Hello Tokyo!", "Hello Seattle!", "Hello London!"], state.ReadOutputAs<List<string>>());
        var history = await harness.HistoryAsync(id);
        Assert.Equal(3, history.OfType<TaskScheduled>().Count());
        Assert.Equal(3, history.OfType<TaskCompleted>().Select(e => e.ScheduledId).Distinct().Count());
        Assert.Single(history.OfType<ExecutionCompleted>());
        Assert.Equal(0, harness.Backend.PendingMessageCount);
    }
}
