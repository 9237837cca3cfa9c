using Serverless.Durable.History;

namespace Serverless.Durable.Runtime;

/// <summary>A message to an orchestration instance (a control-queue message in the storage backend).</summary>
/// <param name="MessageId">Unique per logical message; redeliveries of the same message keep it.</param>
/// <param name="InstanceId">The target instance.</param>
/// <param name="ExecutionId">The target execution, for completions; null for events that target whichever execution is current.</param>
/// <param name="Event">What happened.</param>
/// <param name="VisibleAt">Not delivered before this time (durable timers, delayed starts).</param>
public sealed record OrchestrationMessage(string MessageId, string InstanceId, string? ExecutionId, HistoryEvent Event, DateTimeOffset? VisibleAt = null);

/// <summary>A request to run an activity (a work-item-queue message in the storage backend).</summary>
/// <remarks>The message id is instance:execution:task, so duplicates are recognisable.</remarks>
public sealed record ActivityMessage(string MessageId, string InstanceId, string ExecutionId, int TaskId, string Name, string? Input);

/// <summary>
/// Everything a worker needs for one step of one instance: its state and history as read, the new
/// messages, and the version (ETag) the commit must still find.
/// </summary>
/// <remarks>The lock token identifies this fetch to the backend; a commit with an expired lease fails.</remarks>
public sealed record OrchestrationWorkItem(
    string InstanceId,
    OrchestrationState? State,
    IReadOnlyList<HistoryEvent> History,
    IReadOnlyList<OrchestrationMessage> Messages,
    string? ETag,
    string LockToken);

/// <summary>A fetched activity message; the dequeue count includes this fetch.</summary>
public sealed record ActivityWorkItem(ActivityMessage Message, long DequeueCount, string LockToken);

/// <summary>The outcome of one step, written by <see cref="IOrchestrationBackend.CommitOrchestrationWorkItemAsync"/>.</summary>
/// <param name="State">The instance's new state.</param>
/// <param name="NewEvents">Events to append (or, with <paramref name="ReplaceHistory"/>, the whole new history).</param>
/// <param name="ReplaceHistory">True on continue-as-new: the old execution's history is discarded.</param>
/// <param name="OrchestrationMessages">Outbox: messages to instances (this one included: timers, carried-over events).</param>
/// <param name="ActivityMessages">Outbox: activities to run.</param>
public sealed record OrchestrationCommit(
    OrchestrationState State,
    IReadOnlyList<HistoryEvent> NewEvents,
    bool ReplaceHistory,
    IReadOnlyList<OrchestrationMessage> OrchestrationMessages,
    IReadOnlyList<ActivityMessage> ActivityMessages);

/// <summary>A query over instances; every filter is optional.</summary>
/// <param name="Statuses">Any of these statuses.</param>
/// <param name="Name">Exact orchestrator name.</param>
/// <param name="CreatedFrom">Created at or after.</param>
/// <param name="CreatedTo">Created before.</param>
/// <param name="PageSize">1 to 1000.</param>
/// <param name="ContinuationToken">From the previous page.</param>
/// <param name="InstanceIdPrefix">Only instances whose id starts with this (case-sensitive): how callers that
/// name instances by scope (<c>{projectId}.{kind}.{key}</c>) list one scope.</param>
public sealed record OrchestrationQuery(
    IReadOnlyCollection<OrchestrationRuntimeStatus>? Statuses = null,
    string? Name = null,
    DateTimeOffset? CreatedFrom = null,
    DateTimeOffset? CreatedTo = null,
    int PageSize = 100,
    string? ContinuationToken = null,
    string? InstanceIdPrefix = null)
{
    public const int MaxPageSize = 1000;

    public void Validate()
    {
        if (PageSize is < 1 or > MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, $"Use a page size from 1 to {MaxPageSize}.");
        }
    }
}

/// <summary>One page of instances, ordered by creation time then id, and the token for the next page.</summary>
public sealed record OrchestrationQueryResult(IReadOnlyList<OrchestrationState> Items, string? ContinuationToken);

/// <summary>The instance changed since the work item was fetched (ETag mismatch, or the lock expired): another worker owns the step.</summary>
public sealed class OrchestrationConcurrencyException(string instanceId)
    : Exception($"Orchestration instance '{instanceId}' was changed by another worker since it was fetched; this step is discarded and will be redone from the messages.")
{
    public string InstanceId { get; } = instanceId;
}

/// <summary>
/// Where instances, histories and messages live. The runtime (<see cref="DurableWorker"/>,
/// <see cref="DurableClient"/>) is storage-agnostic and talks only to this.
/// </summary>
/// <remarks>
/// Contract every implementation keeps:
/// <list type="bullet">
/// <item>Delivery is at least once; messages may be duplicated or reordered. The executor drops
/// duplicates by task id (completions) and event id (external events).</item>
/// <item>At most one fetched work item per instance at a time within a backend (a lease with an expiry); an
/// expired lease lets another worker take over. Across processes the storage backend relies on the ETag: a
/// step that lost the race fails its commit with <see cref="OrchestrationConcurrencyException"/>.</item>
/// <item><see cref="CommitOrchestrationWorkItemAsync"/> runs in this order: send the outbox, then write
/// history and state in one write guarded by the fetched ETag, then delete the consumed messages. A crash
/// between steps therefore leaves, at worst, duplicate messages (dropped later) or consumed messages
/// still queued (re-processed against the newer history, where they are duplicates).</item>
/// </list>
/// </remarks>
public interface IOrchestrationBackend
{
    /// <summary>
    /// Creates an instance in <see cref="OrchestrationRuntimeStatus.Pending"/> and queues its start message.
    /// An instance that ended (completed, failed, terminated) is replaced with a fresh history.
    /// </summary>
    /// <exception cref="Orchestration.OrchestrationAlreadyExistsException">The id belongs to an instance that has not ended.</exception>
    Task CreateInstanceAsync(OrchestrationState state, OrchestrationMessage startMessage, CancellationToken cancellationToken = default);

    /// <summary>Queues a message to an instance (external event, terminate, suspend, resume).</summary>
    Task SendAsync(OrchestrationMessage message, CancellationToken cancellationToken = default);

    Task<OrchestrationState?> GetStateAsync(string instanceId, CancellationToken cancellationToken = default);

    /// <summary>The current execution's history, in sequence order (empty when none).</summary>
    Task<IReadOnlyList<HistoryEvent>> GetHistoryAsync(string instanceId, CancellationToken cancellationToken = default);

    Task<OrchestrationQueryResult> QueryAsync(OrchestrationQuery query, CancellationToken cancellationToken = default);

    /// <summary>Deletes an ended instance's state and history; false when it does not exist.</summary>
    Task<bool> PurgeAsync(string instanceId, CancellationToken cancellationToken = default);

    /// <summary>Leases the next instance that has visible messages, or returns null when there is none.</summary>
    Task<OrchestrationWorkItem?> FetchOrchestrationWorkItemAsync(CancellationToken cancellationToken = default);

    /// <summary>Commits a step: outbox → ETag-guarded history/state write → delete consumed messages; releases the lease.</summary>
    /// <exception cref="OrchestrationConcurrencyException">The ETag or lease no longer matches; nothing was written (the outbox may have been sent).</exception>
    Task CommitOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, OrchestrationCommit commit, CancellationToken cancellationToken = default);

    /// <summary>Releases the lease without consuming anything; the messages become visible again after <paramref name="delay"/>.</summary>
    Task AbandonOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Takes the next visible activity message (hidden for the lease period), or null.</summary>
    Task<ActivityWorkItem?> FetchActivityWorkItemAsync(CancellationToken cancellationToken = default);

    /// <summary>Sends the activity's result to its instance, then deletes the activity message.</summary>
    Task CompleteActivityWorkItemAsync(ActivityWorkItem workItem, OrchestrationMessage result, CancellationToken cancellationToken = default);

    /// <summary>Makes the activity message visible again after <paramref name="delay"/>.</summary>
    Task AbandonActivityWorkItemAsync(ActivityWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Returns when new work may be available (an in-process wake-up), or after <paramref name="maxWait"/>.</summary>
    Task WaitForWorkAsync(TimeSpan maxWait, CancellationToken cancellationToken = default);
}
