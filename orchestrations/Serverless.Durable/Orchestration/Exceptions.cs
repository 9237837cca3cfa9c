using Serverless.Durable.History;

namespace Serverless.Durable.Orchestration;

/// <summary>
/// An activity or sub-orchestration failed. Thrown inside the orchestrator at the await; carries the
/// remote exception's type, message and stack in <see cref="Failure"/> because the exception object
/// itself does not travel.
/// </summary>
public sealed class TaskFailedException(string taskName, int taskId, FailureDetails failure, bool isSubOrchestration = false)
    : Exception($"{(isSubOrchestration ? "Sub-orchestration" : "Activity")} '{taskName}' (task {taskId}) failed: {failure.ErrorType}: {failure.ErrorMessage}")
{
    public string TaskName { get; } = taskName;

    public int TaskId { get; } = taskId;

    public FailureDetails Failure { get; } = failure;

    public bool IsSubOrchestration { get; } = isSubOrchestration;
}

/// <summary>
/// Replaying the orchestrator's code against its history gave a different sequence of decisions
/// than the one recorded. The instance is failed with this error.
/// </summary>
public sealed class NonDeterministicOrchestrationException(string orchestrationName, string instanceId, int sequenceNumber, string expected, string actual)
    : Exception(
        $"Non-deterministic orchestration '{orchestrationName}' (instance '{instanceId}'): at history sequence number {sequenceNumber} " +
        $"the history expected {expected}, but the code {actual}. The orchestrator code changed while this instance was running, " +
        "or it uses a non-deterministic API; deploy changed logic under a new orchestrator name (see TaskOrchestrator remarks).")
{
    public string OrchestrationName { get; } = orchestrationName;

    public string InstanceId { get; } = instanceId;

    public int SequenceNumber { get; } = sequenceNumber;

    public string Expected { get; } = expected;

    public string Actual { get; } = actual;
}

/// <summary>Starting an instance whose id is taken by an instance that is still pending, running or suspended.</summary>
public sealed class OrchestrationAlreadyExistsException(string instanceId, OrchestrationRuntimeStatus status)
    : Exception($"An orchestration instance with id '{instanceId}' already exists and is {status}; terminate it or wait for it to finish before reusing the id.")
{
    public string InstanceId { get; } = instanceId;

    public OrchestrationRuntimeStatus Status { get; } = status;
}

/// <summary>No instance has this id.</summary>
public sealed class OrchestrationNotFoundException(string instanceId)
    : Exception($"No orchestration instance with id '{instanceId}' exists.")
{
    public string InstanceId { get; } = instanceId;
}

/// <summary>The operation does not apply to the instance in its current status (e.g. purging a running instance).</summary>
public sealed class OrchestrationStateException(string instanceId, OrchestrationRuntimeStatus status, string operation)
    : Exception($"Cannot {operation} orchestration instance '{instanceId}' while it is {status}.")
{
    public string InstanceId { get; } = instanceId;

    public OrchestrationRuntimeStatus Status { get; } = status;
}
