using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;
using Serverless.Testing;

namespace Serverless.Durable.Tests.Storage;

/// <summary>The conformance scenarios of issue 3 on the storage backend: real SQLite file and real Azurite queues and blobs.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class StorageConformanceTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private StorageHarness harness = null!;

    public Task InitializeAsync()
    {
        harness = new StorageHarness(azurite).Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await harness.DisposeAsync();

    [Fact]
    public async Task Sequence_ThreeActivities_CompletesWithResultsInOrder()
    {
        var state = await harness.RunAsync(nameof(SequenceOrchestrator));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(["Hello Tokyo!", "Hello Seattle!", "Hello London!"], state.ReadOutputAs<List<string>>());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Equal(Enumerable.Range(0, history.Count), history.Select(e => e.SequenceNumber));
        Assert.IsType<ExecutionCompleted>(history[^1]);
    }

    [Fact]
    public async Task FanOut_ThousandActivities_SumsAllResultsOnce()
    {
        var state = await harness.RunAsync(nameof(FanOutOrchestrator), 1000, timeoutSeconds: 60);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(Enumerable.Range(0, 1000).Sum(i => (long)i * i), state.ReadOutputAs<long>());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Equal(1000, history.OfType<TaskCompleted>().Select(e => e.ScheduledId).Distinct().Count());
        Assert.Equal(1000, history.OfType<TaskCompleted>().Count());
    }

    [Fact]
    public async Task SubOrchestrations_ChildrenCompleteAndFail_ParentSeesResultsAndFailure()
    {
        var state = await harness.RunAsync(nameof(ParentOrchestrator));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal("Hello Tokyo!,Hello Seattle!,Hello London!|14|True", state.ReadOutputAs<string>());
        var child = (await harness.Client.GetInstanceAsync("child-fan-out"))!.State;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, child.Status);
        Assert.Equal(state.InstanceId, child.Parent?.InstanceId);
    }

    [Fact]
    public async Task Timer_OneSecond_FiresNotBeforeDueTime()
    {
        var started = DateTimeOffset.UtcNow;
        var state = await harness.RunAsync(nameof(SecondsTimerOrchestrator), 1.0);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.True(state.ReadOutputAs<double>() >= 1.0, $"Orchestrator time advanced {state.ReadOutputAs<double>()} s.");
        Assert.True(DateTimeOffset.UtcNow - started >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task ExternalEvents_RaisedBeforeAndAfterTheWait_DeliveredInOrder()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(EventCollectorOrchestrator), 3);
        await harness.Client.RaiseEventAsync(id, "Add", 1);
        await harness.Client.RaiseEventAsync(id, "Add", 2);
        await WaitUntilAsync(async () => (await harness.HistoryAsync(id)).OfType<EventRaised>().Count() == 2);

        await harness.Client.RaiseEventAsync(id, "Add", 3);
        var state = await harness.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(20));

        Assert.Equal([1, 2, 3], state.ReadOutputAs<List<int>>());
    }

    [Fact]
    public async Task ContinueAsNew_FourGenerations_LastOutputAndFreshHistory()
    {
        var state = await harness.RunAsync(nameof(CounterOrchestrator), 1);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(16, state.ReadOutputAs<int>());
        Assert.Equal(4, state.ReadInputAs<int>());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Single(history.OfType<ExecutionStarted>());
        Assert.Single(history.OfType<TaskScheduled>());
    }

    [Fact]
    public async Task Retry_FlakyActivity_SucceedsOnThirdAttempt()
    {
        var state = await harness.RunAsync(nameof(QuickRetryOrchestrator), 3);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(3, state.ReadOutputAs<int>());
        Assert.Equal(3, harness.CallCount("Flaky"));
    }

    [Fact]
    public async Task Failure_UncaughtActivityException_InstanceFailedWithDetails()
    {
        var failed = await harness.RunAsync(nameof(FailingOrchestrator), "boom");
        var caught = await harness.RunAsync(nameof(CatchingOrchestrator), "caught boom");

        Assert.Equal(OrchestrationRuntimeStatus.Failed, failed.Status);
        Assert.True(failed.Failure!.IsCausedBy(nameof(InvalidOperationException)));
        Assert.Contains("boom", failed.Failure.ToString() + failed.Failure.InnerFailure, StringComparison.Ordinal);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, caught.Status);
        Assert.Equal("caught boom", caught.ReadOutputAs<FailureReport>()!.ErrorMessage);
    }

    [Fact]
    public async Task Terminate_WaitingInstance_EndsTerminatedWithReason()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator));
        await WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync(id))!.State.Status == OrchestrationRuntimeStatus.Running);

        Assert.True(await harness.Client.TerminateAsync(id, "enough"));
        var state = await harness.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(20));

        Assert.Equal(OrchestrationRuntimeStatus.Terminated, state.Status);
        Assert.Equal("enough", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task SuspendResume_EventWhileSuspended_DeliveredAfterResume()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(CustomStatusOrchestrator));
        await WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync(id))!.State.Status == OrchestrationRuntimeStatus.Running);

        await harness.Client.SuspendAsync(id, "pause");
        await WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync(id))!.State.Status == OrchestrationRuntimeStatus.Suspended);
        await harness.Client.RaiseEventAsync(id, "go", "green");
        await WaitUntilAsync(async () => (await harness.HistoryAsync(id)).OfType<EventRaised>().Any());
        var whileSuspended = (await harness.Client.GetInstanceAsync(id))!.State;
        await harness.Client.ResumeAsync(id);
        var state = await harness.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(20));

        Assert.Equal(OrchestrationRuntimeStatus.Suspended, whileSuspended.Status);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal("green", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task Purge_CompletedInstance_RemovesStateAndHistory()
    {
        var state = await harness.RunAsync(nameof(SequenceOrchestrator));
        var running = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator));

        var purged = await harness.Client.PurgeAsync(state.InstanceId);
        var again = await harness.Client.PurgeAsync(state.InstanceId);

        Assert.True(purged);
        Assert.False(again);
        Assert.Null(await harness.Client.GetInstanceAsync(state.InstanceId));
        Assert.Empty(await harness.Backend.GetHistoryAsync(state.InstanceId));
        await Assert.ThrowsAsync<OrchestrationStateException>(() => harness.Client.PurgeAsync(running));
    }

    [Fact]
    public async Task Query_ByStatusAndName_PagesThroughInstances()
    {
        for (var i = 0; i < 3; i++)
        {
            await harness.RunAsync(nameof(SequenceOrchestrator));
        }

        var waiting = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator));

        var first = await harness.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed], nameof(SequenceOrchestrator), PageSize: 2));
        var second = await harness.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed], nameof(SequenceOrchestrator), PageSize: 2, ContinuationToken: first.ContinuationToken));

        Assert.Equal(2, first.Items.Count);
        Assert.Single(second.Items);
        Assert.Null(second.ContinuationToken);
        Assert.DoesNotContain(waiting, first.Items.Concat(second.Items).Select(s => s.InstanceId));
    }

    [Theory]
    [InlineData(40 * 1024)]
    [InlineData(47 * 1024)]
    [InlineData(70 * 1024)]
    [InlineData(3 * 1024 * 1024)]
    public async Task Payload_AroundQueueAndDocumentLimits_RoundTripsThroughQueuesAndBlobs(int size)
    {
        // A worker and client that use the queues for everything, so that every message really travels.
        await harness.StopAsync();
        await using var queued = harness.NewProcess("queued", harness.Options with { InProcessDispatch = false }).Start();
        var input = new string('x', size - 1) + "!";

        var state = await queued.RunAsync(nameof(EchoOrchestrator), input, timeoutSeconds: 60);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(input + "|" + size, state.ReadOutputAs<string>());
        Assert.Equal(input, state.ReadInputAs<string>());
    }

    [Fact]
    public async Task Start_FortyConcurrentWithSameId_OneInstanceOthersConflict()
    {
        // An orchestrator that never ends, so that no start can legitimately replace an ended instance.
        var attempts = Enumerable.Range(0, 40).Select(async i =>
        {
            try
            {
                await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator), $"start {i}", new StartOrchestrationOptions("same-id"));
                return true;
            }
            catch (OrchestrationAlreadyExistsException)
            {
                return false;
            }
        });

        var outcomes = await Task.WhenAll(attempts);
        await WaitUntilAsync(async () => (await harness.Client.GetInstanceAsync("same-id"))!.State.Status == OrchestrationRuntimeStatus.Running);
        await Task.Delay(300);
        var history = await harness.HistoryAsync("same-id");
        var state = (await harness.Client.GetInstanceAsync("same-id"))!.State;

        Assert.Single(outcomes, started => started);
        Assert.Single(history.OfType<ExecutionStarted>());
        Assert.Equal(state.ExecutionId, history.OfType<ExecutionStarted>().Single().ExecutionId);
        Assert.Equal(state.Input, history.OfType<ExecutionStarted>().Single().Input);
    }

    [Fact]
    public async Task Start_FortyConcurrentWithUniqueIds_AllCompleteOnce()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SequenceOrchestrator))));

        var states = await Task.WhenAll(ids.Select(id => harness.Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30))));

        Assert.Equal(40, ids.Distinct().Count());
        Assert.All(states, s => Assert.Equal(OrchestrationRuntimeStatus.Completed, s.Status));
        foreach (var id in ids)
        {
            var history = await harness.HistoryAsync(id);
            Assert.Equal(3, history.OfType<TaskCompleted>().Select(e => e.ScheduledId).Distinct().Count());
            Assert.Single(history.OfType<ExecutionCompleted>());
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, int timeoutSeconds = 20)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not become true in time.");
            }

            await Task.Delay(25);
        }
    }
}
