using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable.Execution;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Tests;

/// <summary>The replay executor on hand-built histories, without a backend.</summary>
public sealed class ExecutorTests
{
    private static readonly DateTimeOffset T0 = DurableHarness.Epoch;

    private readonly OrchestrationExecutor executor = new(
        new DurableTaskRegistry().AddOrchestrator<SequenceOrchestrator>().AddOrchestrator<FanOutOrchestrator>(),
        new ServiceCollection().BuildServiceProvider());

    [Fact]
    public void Execute_NewStart_SchedulesFirstActivityOnly()
    {
        var result = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(SequenceOrchestrator))], T0);

        var action = Assert.IsType<ScheduleTaskAction>(Assert.Single(result.Actions));
        Assert.Equal(("Hello", "\"Tokyo\""), (action.Name, action.Input));
        Assert.Equal([0, 1, 2], result.NewEvents.Select(e => e.SequenceNumber));
        Assert.IsType<TaskScheduled>(result.NewEvents[^1]);
        Assert.Equal(OrchestrationRuntimeStatus.Running, result.Status);
    }

    [Fact]
    public void Execute_ReplayOfFullHistory_ProducesNoNewActionsAndSameCompletion()
    {
        var history = RunSequenceToEnd(out var final);

        var replay = executor.Execute("i1", history[..^1], [], T0);

        Assert.Equal(OrchestrationOutcome.Completed, final.Completion!.Outcome);
        Assert.Equal(final.Completion.Result, replay.Completion!.Result);
        Assert.Empty(replay.Actions.OfType<ScheduleTaskAction>());
    }

    [Fact]
    public void Execute_DuplicateCompletion_IsDroppedNotAppended()
    {
        var first = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(SequenceOrchestrator))], T0);
        var history = first.NewEvents.ToList();
        var second = executor.Execute("i1", history, [new OrchestratorStarted { Timestamp = T0 }, new TaskCompleted(0, "\"a\""), new TaskCompleted(0, "\"a\"")], T0);

        Assert.Single(second.DroppedEvents);
        Assert.Single(second.NewEvents.OfType<TaskCompleted>());
        Assert.Equal("Hello", Assert.IsType<ScheduleTaskAction>(Assert.Single(second.Actions)).Name);
    }

    [Fact]
    public void Execute_CompletionForUnknownTask_IsDropped()
    {
        var first = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(SequenceOrchestrator))], T0);

        var second = executor.Execute("i1", first.NewEvents, [new OrchestratorStarted { Timestamp = T0 }, new TaskCompleted(42, "1")], T0);

        Assert.IsType<TaskCompleted>(Assert.Single(second.DroppedEvents));
        Assert.Empty(second.Actions);
    }

    [Fact]
    public void Execute_HistoryHasActivityCodeNeverSchedules_FailsNamingSequenceNumber()
    {
        var first = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(SequenceOrchestrator))], T0);
        HistoryEvent[] tampered = [.. first.NewEvents, new TaskScheduled(7, "Ghost", null) { SequenceNumber = 3 }];

        var result = executor.Execute("i1", tampered, [], T0);

        Assert.Equal(OrchestrationOutcome.Failed, result.Completion!.Outcome);
        Assert.Contains("sequence number 3", result.Completion.Failure!.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("TaskScheduled of activity 'Ghost' (task id 7)", result.Completion.Failure.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("scheduled nothing more", result.Completion.Failure.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Execute_FanOutCompletionsOutOfOrder_CompletesWithAllResults()
    {
        var first = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(FanOutOrchestrator), "5")], T0);
        HistoryEvent[] completions = [new OrchestratorStarted { Timestamp = T0 }, .. Enumerable.Range(0, 5).Reverse().Select(i => new TaskCompleted(i, (i * i).ToString(System.Globalization.CultureInfo.InvariantCulture)))];

        var result = executor.Execute("i1", first.NewEvents, completions, T0);

        Assert.Equal(5, first.Actions.Count);
        Assert.Equal("30", result.Completion!.Result);
    }

    [Fact]
    public void Execute_UnregisteredOrchestrator_FailsWithClearMessage()
    {
        var result = executor.Execute("i1", [], [new OrchestratorStarted { Timestamp = T0 }, Started("Missing")], T0);

        Assert.Contains("No orchestrator named 'Missing'", result.Completion!.Failure!.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void HistoryJson_EveryEventType_RoundTripsWithTypeDiscriminator()
    {
        var failure = new FailureDetails("System.IO.IOException", "disk", "at X", new FailureDetails("Inner", "cause", null));
        List<HistoryEvent> events =
        [
            Started("Orch"), new OrchestratorStarted(), new TaskScheduled(0, "A", "1"), new TaskCompleted(0, "2"), new TaskFailed(1, failure),
            new TimerCreated(2, T0), new TimerFired(2, T0), new EventRaised("E", "3", "ev-1"), new EventSent(3, "other", "E", null),
            new SubOrchestrationCreated(4, "Child", "i1:4", null), new SubOrchestrationCompleted(4, "5"), new SubOrchestrationFailed(5, failure),
            new ContinuedAsNew("6"), new ExecutionTerminated("why"), new ExecutionSuspended(null), new ExecutionResumed(null),
            new ExecutionCompleted("7"), new ExecutionFailed(failure),
        ];
        events = [.. events.Select((e, i) => e with { SequenceNumber = i, Timestamp = T0.AddSeconds(i) })];

        var json = JsonSerializer.Serialize(events, DurableJson.Options);
        var back = JsonSerializer.Deserialize<List<HistoryEvent>>(json, DurableJson.Options)!;

        Assert.Equal(Enum.GetValues<HistoryEventType>().Length, events.Select(e => e.EventType).Distinct().Count());
        Assert.Contains("\"type\":\"TaskScheduled\"", json, StringComparison.Ordinal);
        Assert.Equal(events, back);
    }

    [Fact]
    public void RetryPolicy_Backoff_GrowsAndCaps()
    {
        var policy = new RetryPolicy(5, TimeSpan.FromSeconds(1), 3.0, TimeSpan.FromSeconds(5));

        var delays = Enumerable.Range(2, 4).Select(policy.DelayBefore).ToList();

        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)], delays);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetryPolicy(0, TimeSpan.FromSeconds(1)).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RetryPolicy(2, TimeSpan.FromSeconds(1), 0.5).Validate());
    }

    private static ExecutionStarted Started(string name, string? input = null) => new(name, "e1", input) { Timestamp = T0 };

    private List<HistoryEvent> RunSequenceToEnd(out OrchestrationExecutionResult final)
    {
        var history = new List<HistoryEvent>();
        var result = executor.Execute("i1", history, [new OrchestratorStarted { Timestamp = T0 }, Started(nameof(SequenceOrchestrator))], T0);
        history.AddRange(result.NewEvents);
        for (var task = 0; task < 3; task++)
        {
            result = executor.Execute("i1", history, [new OrchestratorStarted { Timestamp = T0 }, new TaskCompleted(task, $"\"r{task}\"")], T0);
            history.AddRange(result.NewEvents);
        }

        final = result;
        return history;
    }
}
