using System.Text.Json.Serialization;

namespace Serverless.Durable.History;

/// <summary>The kind of a history event, stored as the JSON type discriminator.</summary>
public enum HistoryEventType
{
    ExecutionStarted,
    OrchestratorStarted,
    TaskScheduled,
    TaskCompleted,
    TaskFailed,
    TimerCreated,
    TimerFired,
    EventRaised,
    EventSent,
    SubOrchestrationCreated,
    SubOrchestrationCompleted,
    SubOrchestrationFailed,
    ContinuedAsNew,
    ExecutionTerminated,
    ExecutionSuspended,
    ExecutionResumed,
    ExecutionCompleted,
    ExecutionFailed,
}

/// <summary>
/// One entry of an orchestration's append-only history. The orchestrator is replayed against this
/// list, so an event never changes once committed.
/// </summary>
/// <remarks>
/// <see cref="SequenceNumber"/> is the event's position in its execution's history (assigned at
/// append). Events that schedule work carry a <c>TaskId</c>, a per-execution counter assigned in code
/// order; completions point at the scheduling event through <c>ScheduledId</c> = that task id, so a
/// completion can be matched, and a duplicate detected, without looking at positions.
/// Payloads are JSON text produced by <see cref="Orchestration.DurableJson"/>.
/// </remarks>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(ExecutionStarted), nameof(HistoryEventType.ExecutionStarted))]
[JsonDerivedType(typeof(OrchestratorStarted), nameof(HistoryEventType.OrchestratorStarted))]
[JsonDerivedType(typeof(TaskScheduled), nameof(HistoryEventType.TaskScheduled))]
[JsonDerivedType(typeof(TaskCompleted), nameof(HistoryEventType.TaskCompleted))]
[JsonDerivedType(typeof(TaskFailed), nameof(HistoryEventType.TaskFailed))]
[JsonDerivedType(typeof(TimerCreated), nameof(HistoryEventType.TimerCreated))]
[JsonDerivedType(typeof(TimerFired), nameof(HistoryEventType.TimerFired))]
[JsonDerivedType(typeof(EventRaised), nameof(HistoryEventType.EventRaised))]
[JsonDerivedType(typeof(EventSent), nameof(HistoryEventType.EventSent))]
[JsonDerivedType(typeof(SubOrchestrationCreated), nameof(HistoryEventType.SubOrchestrationCreated))]
[JsonDerivedType(typeof(SubOrchestrationCompleted), nameof(HistoryEventType.SubOrchestrationCompleted))]
[JsonDerivedType(typeof(SubOrchestrationFailed), nameof(HistoryEventType.SubOrchestrationFailed))]
[JsonDerivedType(typeof(ContinuedAsNew), nameof(HistoryEventType.ContinuedAsNew))]
[JsonDerivedType(typeof(ExecutionTerminated), nameof(HistoryEventType.ExecutionTerminated))]
[JsonDerivedType(typeof(ExecutionSuspended), nameof(HistoryEventType.ExecutionSuspended))]
[JsonDerivedType(typeof(ExecutionResumed), nameof(HistoryEventType.ExecutionResumed))]
[JsonDerivedType(typeof(ExecutionCompleted), nameof(HistoryEventType.ExecutionCompleted))]
[JsonDerivedType(typeof(ExecutionFailed), nameof(HistoryEventType.ExecutionFailed))]
public abstract record HistoryEvent
{
    /// <summary>Position in the execution's history; -1 until the event is appended.</summary>
    public int SequenceNumber { get; init; } = -1;

    /// <summary>When the event was created (from the runtime's time source, never read by orchestrator code directly).</summary>
    public DateTimeOffset Timestamp { get; init; }

    [JsonIgnore]
    public abstract HistoryEventType EventType { get; }
}

/// <summary>Who started a sub-orchestration: the parent's instance and the task id to complete there.</summary>
public sealed record ParentInstance(string InstanceId, string ExecutionId, int TaskId);

/// <summary>An exception's type, message and stack, kept when the exception itself cannot travel.</summary>
public sealed record FailureDetails(string ErrorType, string ErrorMessage, string? StackTrace, FailureDetails? InnerFailure = null)
{
    /// <summary>Captures <paramref name="exception"/> and its inner exceptions.</summary>
    public static FailureDetails FromException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);

        // A failed activity or child surfaces as TaskFailedException; its remote failure is the real cause.
        var inner = exception is Orchestration.TaskFailedException failed
            ? failed.Failure
            : exception.InnerException is null ? null : FromException(exception.InnerException);
        return new FailureDetails(exception.GetType().FullName ?? exception.GetType().Name, exception.Message, exception.StackTrace, inner);
    }

    /// <summary>True when this failure, or one inside it, has the type named (full or short name).</summary>
    public bool IsCausedBy(string typeName) =>
        ErrorType == typeName || ErrorType.EndsWith("." + typeName, StringComparison.Ordinal) || (InnerFailure?.IsCausedBy(typeName) ?? false);

    public override string ToString() => $"{ErrorType}: {ErrorMessage}";
}

/// <summary>First event of an execution: what to run and with which input.</summary>
public sealed record ExecutionStarted(string Name, string ExecutionId, string? Input, ParentInstance? Parent = null) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionStarted;
}

/// <summary>Marks the start of one replay episode; its timestamp is the orchestrator's current time.</summary>
public sealed record OrchestratorStarted : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.OrchestratorStarted;
}

/// <summary>The orchestrator scheduled an activity.</summary>
public sealed record TaskScheduled(int TaskId, string Name, string? Input) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.TaskScheduled;
}

/// <summary>An activity returned.</summary>
public sealed record TaskCompleted(int ScheduledId, string? Result) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.TaskCompleted;
}

/// <summary>An activity threw.</summary>
public sealed record TaskFailed(int ScheduledId, FailureDetails Failure) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.TaskFailed;
}

/// <summary>The orchestrator created a durable timer.</summary>
public sealed record TimerCreated(int TaskId, DateTimeOffset FireAt) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.TimerCreated;
}

/// <summary>A durable timer fired.</summary>
public sealed record TimerFired(int ScheduledId, DateTimeOffset FireAt) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.TimerFired;
}

/// <summary>An external event arrived. <paramref name="EventId"/> is unique per raise, so redeliveries are dropped.</summary>
public sealed record EventRaised(string Name, string? Input, string EventId) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.EventRaised;
}

/// <summary>The orchestrator sent an event to another instance.</summary>
public sealed record EventSent(int TaskId, string TargetInstanceId, string Name, string? Input) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.EventSent;
}

/// <summary>The orchestrator started a sub-orchestration.</summary>
public sealed record SubOrchestrationCreated(int TaskId, string Name, string InstanceId, string? Input) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.SubOrchestrationCreated;
}

/// <summary>A sub-orchestration completed.</summary>
public sealed record SubOrchestrationCompleted(int ScheduledId, string? Result) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.SubOrchestrationCompleted;
}

/// <summary>A sub-orchestration failed.</summary>
public sealed record SubOrchestrationFailed(int ScheduledId, FailureDetails Failure) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.SubOrchestrationFailed;
}

/// <summary>The execution ended by restarting with a new input (its history is then replaced).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "The Durable Task name of this event.")]
public sealed record ContinuedAsNew(string? Input) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ContinuedAsNew;
}

/// <summary>A client asked to terminate the instance.</summary>
public sealed record ExecutionTerminated(string? Reason) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionTerminated;
}

/// <summary>A client suspended the instance: later events wait until it is resumed.</summary>
public sealed record ExecutionSuspended(string? Reason) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionSuspended;
}

/// <summary>A client resumed a suspended instance.</summary>
public sealed record ExecutionResumed(string? Reason) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionResumed;
}

/// <summary>The orchestrator returned.</summary>
public sealed record ExecutionCompleted(string? Result) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionCompleted;
}

/// <summary>The orchestrator threw, or its replay was not deterministic.</summary>
public sealed record ExecutionFailed(FailureDetails Failure) : HistoryEvent
{
    public override HistoryEventType EventType => HistoryEventType.ExecutionFailed;
}
