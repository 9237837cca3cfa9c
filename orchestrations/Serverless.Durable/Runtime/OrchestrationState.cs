using Serverless.Durable.History;
using Serverless.Durable.Orchestration;

namespace Serverless.Durable;

/// <summary>Lifecycle of an instance.</summary>
public enum OrchestrationRuntimeStatus
{
    /// <summary>Created; its first step has not run yet.</summary>
    Pending,
    Running,
    Completed,
    Failed,
    Terminated,
    /// <summary>Paused by a client: events are recorded but not delivered until it is resumed.</summary>
    Suspended,
}

/// <summary>The instance record that queries and status calls read; the history is kept beside it.</summary>
/// <param name="InstanceId">Caller-chosen or generated; unique among live instances.</param>
/// <param name="Name">The orchestrator's registered name.</param>
/// <param name="ExecutionId">Changes on each continue-as-new; messages to an older execution are dropped.</param>
/// <param name="Status">Where it is in its lifecycle.</param>
/// <param name="Input">JSON text.</param>
/// <param name="Output">JSON text: the result, or the reason when terminated.</param>
/// <param name="CustomStatus">JSON text set by the orchestrator.</param>
/// <param name="Failure">Why it failed, when <see cref="Status"/> is Failed.</param>
/// <param name="CreatedAt">When it was started.</param>
/// <param name="LastUpdatedAt">When its last step committed.</param>
/// <param name="Parent">The orchestration that started it as a sub-orchestration.</param>
public sealed record OrchestrationState(
    string InstanceId,
    string Name,
    string ExecutionId,
    OrchestrationRuntimeStatus Status,
    string? Input,
    string? Output,
    string? CustomStatus,
    FailureDetails? Failure,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastUpdatedAt,
    ParentInstance? Parent = null)
{
    /// <summary>Completed, Failed or Terminated: nothing more will happen to it.</summary>
    public bool IsTerminal => Status.IsTerminal();

    /// <summary>Reads <see cref="Output"/> as <typeparamref name="T"/>.</summary>
    public T? ReadOutputAs<T>() => DurableJson.Deserialize<T>(Output);

    /// <summary>Reads <see cref="Input"/> as <typeparamref name="T"/>.</summary>
    public T? ReadInputAs<T>() => DurableJson.Deserialize<T>(Input);

    /// <summary>Reads <see cref="CustomStatus"/> as <typeparamref name="T"/>.</summary>
    public T? ReadCustomStatusAs<T>() => DurableJson.Deserialize<T>(CustomStatus);
}

/// <summary>Helpers on <see cref="OrchestrationRuntimeStatus"/>.</summary>
public static class OrchestrationRuntimeStatusExtensions
{
    public static bool IsTerminal(this OrchestrationRuntimeStatus status) =>
        status is OrchestrationRuntimeStatus.Completed or OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated;
}
