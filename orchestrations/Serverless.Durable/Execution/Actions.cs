using Serverless.Durable.History;

namespace Serverless.Durable.Execution;

/// <summary>Something one replay step decided to do; the runtime turns actions into outgoing messages.</summary>
public abstract record OrchestratorAction(int TaskId);

/// <summary>Run an activity.</summary>
public sealed record ScheduleTaskAction(int TaskId, string Name, string? Input) : OrchestratorAction(TaskId);

/// <summary>Fire a durable timer at <paramref name="FireAt"/>.</summary>
public sealed record CreateTimerAction(int TaskId, DateTimeOffset FireAt) : OrchestratorAction(TaskId);

/// <summary>Start a child orchestration that reports back to this task id.</summary>
public sealed record CreateSubOrchestrationAction(int TaskId, string Name, string InstanceId, string? Input) : OrchestratorAction(TaskId);

/// <summary>Raise an event on another instance; <paramref name="EventId"/> de-duplicates redeliveries.</summary>
public sealed record SendEventAction(int TaskId, string TargetInstanceId, string Name, string? Input, string EventId) : OrchestratorAction(TaskId);

/// <summary>How an execution ended.</summary>
public enum OrchestrationOutcome
{
    Completed,
    Failed,
    Terminated,
    ContinuedAsNew,
}

/// <summary>The execution ended (completed, failed, terminated, or continued as new with <paramref name="NewInput"/>).</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Result">Output (JSON text) when completed; the reason when terminated.</param>
/// <param name="Failure">Why it failed.</param>
/// <param name="NewInput">Input of the next execution when continued as new.</param>
/// <param name="CarryoverEvents">External events not yet consumed, to deliver to the next execution in order.</param>
public sealed record CompleteOrchestrationAction(
    OrchestrationOutcome Outcome,
    string? Result,
    FailureDetails? Failure,
    string? NewInput,
    IReadOnlyList<EventRaised> CarryoverEvents) : OrchestratorAction(-1);

/// <summary>What one replay step produced.</summary>
/// <param name="NewEvents">Events to append to history, with sequence numbers assigned: the accepted incoming
/// events in the order processed, then one scheduling event per new action, then the end event if any.</param>
/// <param name="Actions">New work to send (the outbox), in task id order; a <see cref="CompleteOrchestrationAction"/> last when the execution ended.</param>
/// <param name="Status">Status after the step.</param>
/// <param name="CustomStatus">The orchestrator's latest custom status (JSON text).</param>
/// <param name="DroppedEvents">Incoming events ignored as duplicates or as arriving after the end; they are consumed, not appended.</param>
public sealed record OrchestrationExecutionResult(
    IReadOnlyList<HistoryEvent> NewEvents,
    IReadOnlyList<OrchestratorAction> Actions,
    OrchestrationRuntimeStatus Status,
    string? CustomStatus,
    IReadOnlyList<HistoryEvent> DroppedEvents)
{
    /// <summary>The end of the execution, or null while it keeps running.</summary>
    public CompleteOrchestrationAction? Completion => Actions.OfType<CompleteOrchestrationAction>().FirstOrDefault();
}
