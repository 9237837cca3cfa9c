using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Tests;

/// <summary>The runtime end to end on the in-memory backend: the conformance scenarios of issue 3.</summary>
public sealed class RuntimeTests : IDisposable
{
    private readonly DurableHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Fact]
    public async Task Sequence_ThreeActivities_CompletesWithResultsInOrder()
    {
        var state = await harness.RunAsync(nameof(SequenceOrchestrator));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(["Hello Tokyo!", "Hello Seattle!", "Hello London!"], state.ReadOutputAs<List<string>>());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Equal(Enumerable.Range(0, history.Count), history.Select(e => e.SequenceNumber));
        Assert.Equal(3, history.OfType<TaskCompleted>().Count());
        Assert.IsType<ExecutionCompleted>(history[^1]);
    }

    [Fact]
    public async Task Sequence_ReplaySafeLogger_WritesEachLineOnce()
    {
        await harness.RunAsync(nameof(SequenceOrchestrator));

        // Four steps replay 1+2+3+4 times without replay safety; with it, each line appears once.
        Assert.Equal(["Step Tokyo", "Step Seattle", "Step London", "Step done"], harness.Logs.Lines.Where(l => l.StartsWith("Step ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task FanOut_ThousandActivities_SumsAllResults()
    {
        var state = await harness.RunAsync(nameof(FanOutOrchestrator), 1000);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(Enumerable.Range(0, 1000).Sum(i => (long)i * i), state.ReadOutputAs<long>());
        Assert.Equal(1000, harness.CallCount("Square"));
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Equal(1000, history.OfType<TaskCompleted>().Select(e => e.ScheduledId).Distinct().Count());
    }

    [Fact]
    public async Task SubOrchestrations_ChildrenCompleteAndFail_ParentSeesResultsAndFailure()
    {
        var state = await harness.RunAsync(nameof(ParentOrchestrator));

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal("Hello Tokyo!,Hello Seattle!,Hello London!|14|True", state.ReadOutputAs<string>());
        var child = await harness.StateAsync("child-fan-out");
        Assert.Equal(OrchestrationRuntimeStatus.Completed, child.Status);
        Assert.Equal(state.InstanceId, child.Parent?.InstanceId);
    }

    [Fact]
    public async Task Timer_BeforeDueTime_WaitsThenFiresWithHistoryTime()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(TimerOrchestrator), 30);
        await harness.Worker.RunUntilIdleAsync();
        var waiting = await harness.StateAsync(id);

        harness.Time.Advance(TimeSpan.FromMinutes(29));
        await harness.Worker.RunUntilIdleAsync();
        var stillWaiting = await harness.StateAsync(id);
        harness.Time.Advance(TimeSpan.FromMinutes(1));
        await harness.Worker.RunUntilIdleAsync();
        var done = await harness.StateAsync(id);

        Assert.Equal(OrchestrationRuntimeStatus.Running, waiting.Status);
        Assert.Equal(OrchestrationRuntimeStatus.Running, stillWaiting.Status);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.Status);
        Assert.Equal(30.0, done.ReadOutputAs<double>());
    }

    [Fact]
    public async Task ExternalEvent_RaisedAfterWait_IsDelivered()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(ApprovalOrchestrator), 60);
        await harness.Worker.RunUntilIdleAsync();

        await harness.Client.RaiseEventAsync(id, "Approval", "alice");
        await harness.Worker.RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.True(state.Status == OrchestrationRuntimeStatus.Completed, state.Failure?.ToString() + state.Failure?.StackTrace);
        Assert.Equal("approved by alice", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task ExternalEvent_NoneWithinTimeout_TimesOut()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(ApprovalOrchestrator), 60);
        await harness.Worker.RunUntilIdleAsync();

        harness.Time.Advance(TimeSpan.FromMinutes(61));
        await harness.Worker.RunUntilIdleAsync();

        Assert.Equal("timed out", (await harness.StateAsync(id)).ReadOutputAs<string>());
        await Assert.ThrowsAsync<OrchestrationStateException>(() => harness.Client.RaiseEventAsync(id, "Approval", "too late"));
    }

    [Fact]
    public async Task ExternalEvents_RaisedBeforeWait_AreBufferedAndDeliveredInOrder()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(EventCollectorOrchestrator), 3);
        await harness.Client.RaiseEventAsync(id, "add", 1);
        await harness.Client.RaiseEventAsync(id, "Add", 2);
        await harness.Client.RaiseEventAsync(id, "ADD", 3);

        await harness.Worker.RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal([1, 2, 3], state.ReadOutputAs<List<int>>());
    }

    [Fact]
    public async Task ContinueAsNew_UntilLimit_KeepsOnlyLastExecutionHistory()
    {
        var state = await harness.RunAsync(nameof(CounterOrchestrator), 0);

        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(16, state.ReadOutputAs<int>());
        Assert.Equal(4, state.ReadInputAs<int>());
        var history = await harness.HistoryAsync(state.InstanceId);
        Assert.Single(history.OfType<ExecutionStarted>());
        Assert.Equal(5, harness.CallCount("Square"));
    }

    [Fact]
    public async Task ContinueAsNew_EventsRaisedMeanwhile_AreCarriedOverInOrder()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(EventCounterOrchestrator), 0);
        foreach (var value in new[] { 5, 7, 11, -1 })
        {
            await harness.Client.RaiseEventAsync(id, "Add", value);
        }

        await harness.Worker.RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(23, state.ReadOutputAs<int>());
    }

    [Fact]
    public async Task Retry_FailsTwiceThenSucceeds_WaitsWithBackoffTimers()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(RetryOrchestrator), 3);
        await harness.Worker.RunUntilIdleAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(10));
        await harness.Worker.RunUntilIdleAsync();
        var afterSecondAttempt = await harness.StateAsync(id);
        harness.Time.Advance(TimeSpan.FromSeconds(20));
        await harness.Worker.RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Running, afterSecondAttempt.Status);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(3, state.ReadOutputAs<int>());
        var history = await harness.HistoryAsync(id);
        Assert.Equal(2, history.OfType<TaskFailed>().Count());
        var timers = history.OfType<TimerCreated>().Select(t => t.FireAt - DurableHarness.Epoch).ToList();
        Assert.Equal([TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30)], timers);
        Assert.Equal(3, harness.Calls["Flaky"].Distinct().Count());
    }

    [Fact]
    public async Task Retry_AllAttemptsFail_FailsWithLastFailure()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(RetryOrchestrator), 10);
        for (var i = 0; i < 5; i++)
        {
            await harness.Worker.RunUntilIdleAsync();
            harness.Time.Advance(TimeSpan.FromMinutes(1));
        }

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Failed, state.Status);
        Assert.Equal(3, harness.CallCount("Flaky"));
        Assert.True(state.Failure!.IsCausedBy(nameof(TimeoutException)), state.Failure.ToString());
    }

    [Fact]
    public async Task Failure_ActivityThrows_OrchestrationFailsWithDetails()
    {
        var state = await harness.RunAsync(nameof(FailingOrchestrator), "disk on fire");

        Assert.Equal(OrchestrationRuntimeStatus.Failed, state.Status);
        Assert.Equal(typeof(TaskFailedException).FullName, state.Failure!.ErrorType);
        Assert.Contains("Activity 'Throw' (task 0) failed", state.Failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("disk on fire", state.Failure.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failure_CaughtInOrchestrator_ExposesRemoteTypeMessageAndStack()
    {
        var state = await harness.RunAsync(nameof(CatchingOrchestrator), "bad input");

        var report = state.ReadOutputAs<FailureReport>()!;
        Assert.Equal(typeof(InvalidOperationException).FullName, report.ErrorType);
        Assert.Equal("bad input", report.ErrorMessage);
        Assert.True(report.HasStack);
        Assert.Equal(0, report.TaskId);
    }

    [Fact]
    public async Task Terminate_WaitingInstance_EndsTerminatedWithReason()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator));
        await harness.Worker.RunUntilIdleAsync();

        var accepted = await harness.Client.TerminateAsync(id, "operator said so");
        await harness.Worker.RunUntilIdleAsync();
        var again = await harness.Client.TerminateAsync(id, "twice");

        var state = await harness.StateAsync(id);
        Assert.True(accepted);
        Assert.False(again);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, state.Status);
        Assert.Equal("operator said so", state.ReadOutputAs<string>());
    }

    [Fact]
    public async Task SuspendResume_EventWhileSuspended_IsHeldUntilResumed()
    {
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(CustomStatusOrchestrator));
        await harness.Worker.RunUntilIdleAsync();

        await harness.Client.SuspendAsync(id, "maintenance");
        await harness.Worker.RunUntilIdleAsync();
        await harness.Client.RaiseEventAsync(id, "go", "payload");
        await harness.Worker.RunUntilIdleAsync();
        var suspended = await harness.StateAsync(id);
        await harness.Client.ResumeAsync(id);
        await harness.Worker.RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Suspended, suspended.Status);
        Assert.Equal("waiting", suspended.ReadCustomStatusAs<Dictionary<string, string>>()!["stage"]);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal("payload", state.ReadOutputAs<string>());
        Assert.Equal("done", state.ReadCustomStatusAs<Dictionary<string, string>>()!["stage"]);
    }

    [Fact]
    public async Task NewGuid_AcrossReplays_IsStableAndUnique()
    {
        var state = await harness.RunAsync(nameof(GuidOrchestrator), null, "guid-instance");
        using var other = new DurableHarness();
        var again = await other.RunAsync(nameof(GuidOrchestrator), null, "guid-instance");

        var ids = state.ReadOutputAs<List<Guid>>()!;
        Assert.Equal(3, ids.Distinct().Count());
        var scheduled = (await harness.HistoryAsync("guid-instance")).OfType<TaskScheduled>().Single();
        Assert.Equal(ids[0].ToString(), DurableJson.Deserialize<string>(scheduled.Input));
        Assert.Equal(8, ids[0].Version);
        Assert.NotEqual(ids, again.ReadOutputAs<List<Guid>>()); // a different execution id gives different GUIDs
    }

    [Fact]
    public async Task SendEvent_ToAnotherInstance_IsDelivered()
    {
        var waiter = await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(ApprovalOrchestrator), 60, new StartOrchestrationOptions("waiter"));
        await harness.RunAsync(nameof(SendEventOrchestrator), waiter);

        Assert.Equal("approved by a sibling", (await harness.StateAsync(waiter)).ReadOutputAs<string>());
    }

    [Fact]
    public async Task NonDeterminism_CodeChangedMidFlight_FailsInstanceNamingSequenceAndBothSides()
    {
        var v1 = new DurableTaskRegistry().AddOrchestrator<VersionOne>("Versioned").AddActivity<string, string>("A", (_, s) => Task.FromResult(s)).AddActivity<string, string>("B", (_, s) => Task.FromResult(s));
        var v2 = new DurableTaskRegistry().AddOrchestrator<VersionTwo>("Versioned").AddActivity<string, string>("A", (_, s) => Task.FromResult(s)).AddActivity<string, string>("B", (_, s) => Task.FromResult(s));
        var id = await harness.Client.ScheduleNewOrchestrationInstanceAsync("Versioned");
        await harness.NewWorker(v1).ProcessNextOrchestrationAsync();

        await harness.NewWorker(v2).RunUntilIdleAsync();

        var state = await harness.StateAsync(id);
        Assert.Equal(OrchestrationRuntimeStatus.Failed, state.Status);
        Assert.Equal(typeof(NonDeterministicOrchestrationException).FullName, state.Failure!.ErrorType);
        Assert.Contains("sequence number 2", state.Failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("TaskScheduled of activity 'A' (task id 0)", state.Failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("scheduled activity 'B' (task id 0)", state.Failure.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_ExistingRunningId_Conflicts()
    {
        await harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator), null, new StartOrchestrationOptions("same"));

        var error = await Assert.ThrowsAsync<OrchestrationAlreadyExistsException>(() =>
            harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(WaitForeverOrchestrator), null, new StartOrchestrationOptions("same")));

        Assert.Equal(OrchestrationRuntimeStatus.Pending, error.Status);
    }

    [Fact]
    public async Task Start_EndedId_StartsFreshExecution()
    {
        var first = await harness.RunAsync(nameof(SequenceOrchestrator), null, "reused");

        var second = await harness.RunAsync(nameof(FanOutOrchestrator), 3, "reused");

        Assert.Equal(OrchestrationRuntimeStatus.Completed, second.Status);
        Assert.NotEqual(first.ExecutionId, second.ExecutionId);
        Assert.Equal(5, second.ReadOutputAs<long>());
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("what?")]
    public async Task Start_BadInstanceId_ThrowsArgumentException(string id)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            harness.Client.ScheduleNewOrchestrationInstanceAsync(nameof(SequenceOrchestrator), null, new StartOrchestrationOptions(id)));
    }

    [Fact]
    public async Task Purge_EndedAndRunningInstances_DeletesOnlyEnded()
    {
        var done = await harness.RunAsync(nameof(SequenceOrchestrator));
        var running = await harness.RunAsync(nameof(WaitForeverOrchestrator));

        var purged = await harness.Client.PurgeAsync(done.InstanceId);
        await Assert.ThrowsAsync<OrchestrationStateException>(() => harness.Client.PurgeAsync(running.InstanceId));

        Assert.True(purged);
        Assert.Null(await harness.Client.GetInstanceAsync(done.InstanceId));
        Assert.NotNull(await harness.Client.GetInstanceAsync(running.InstanceId));
        Assert.False(await harness.Client.PurgeAsync("never-existed"));
    }

    [Fact]
    public async Task Query_ByStatusNameAndTime_PagesThroughMatches()
    {
        for (var i = 0; i < 5; i++)
        {
            await harness.RunAsync(nameof(SequenceOrchestrator), null, $"seq-{i}");
            harness.Time.Advance(TimeSpan.FromMinutes(1));
        }

        await harness.RunAsync(nameof(WaitForeverOrchestrator), null, "waiting");

        var firstPage = await harness.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed], nameof(SequenceOrchestrator), PageSize: 3));
        var secondPage = await harness.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Completed], nameof(SequenceOrchestrator), PageSize: 3, ContinuationToken: firstPage.ContinuationToken));
        var byTime = await harness.Client.QueryAsync(new OrchestrationQuery(CreatedFrom: DurableHarness.Epoch.AddMinutes(2), CreatedTo: DurableHarness.Epoch.AddMinutes(4)));
        var running = await harness.Client.QueryAsync(new OrchestrationQuery([OrchestrationRuntimeStatus.Running]));

        Assert.Equal(["seq-0", "seq-1", "seq-2"], firstPage.Items.Select(s => s.InstanceId));
        Assert.Equal(["seq-3", "seq-4"], secondPage.Items.Select(s => s.InstanceId));
        Assert.Null(secondPage.ContinuationToken);
        Assert.Equal(["seq-2", "seq-3"], byTime.Items.Select(s => s.InstanceId));
        Assert.Equal(["waiting"], running.Items.Select(s => s.InstanceId));
    }

    [Fact]
    public async Task GetInstance_UnknownAndRaiseOnUnknown_NullAndNotFound()
    {
        Assert.Null(await harness.Client.GetInstanceAsync("nope"));
        await Assert.ThrowsAsync<OrchestrationNotFoundException>(() => harness.Client.RaiseEventAsync("nope", "x"));
    }

    private sealed class VersionOne : TaskOrchestrator<string?, string>
    {
        public override Task<string> RunAsync(TaskOrchestrationContext context, string? input) => context.CallActivityAsync<string>("A", "x");
    }

    private sealed class VersionTwo : TaskOrchestrator<string?, string>
    {
        public override Task<string> RunAsync(TaskOrchestrationContext context, string? input) => context.CallActivityAsync<string>("B", "x");
    }
}
