using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable;

/// <summary>Options for starting an instance.</summary>
/// <param name="InstanceId">Caller-chosen id (default: a new GUID). Reusing the id of an instance that has not ended is a conflict.</param>
/// <param name="StartAt">Delay the first step until this time.</param>
public sealed record StartOrchestrationOptions(string? InstanceId = null, DateTimeOffset? StartAt = null);

/// <summary>An instance's state and, on request, its history.</summary>
public sealed record OrchestrationMetadata(OrchestrationState State, IReadOnlyList<HistoryEvent>? History);

/// <summary>
/// The management API: start, inspect, signal and clean up orchestration instances. What the HTTP
/// management endpoints call; safe to use from any thread.
/// </summary>
public sealed class DurableClient(IOrchestrationBackend backend, TimeProvider? timeProvider = null)
{
    /// <summary>Longest instance id (ids become document ids and queue message fields).</summary>
    public const int MaxInstanceIdLength = 100;

    private readonly IOrchestrationBackend backend = backend ?? throw new ArgumentNullException(nameof(backend));
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    /// <summary>Starts an instance of orchestrator <paramref name="name"/>; returns its id.</summary>
    /// <exception cref="OrchestrationAlreadyExistsException">The id belongs to an instance that is pending, running or suspended.</exception>
    /// <exception cref="ArgumentException">The id is empty, too long, or has characters storage cannot key on.</exception>
    public async Task<string> ScheduleNewOrchestrationInstanceAsync(string name, object? input = null, StartOrchestrationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var instanceId = options?.InstanceId ?? Guid.NewGuid().ToString("N");
        ValidateInstanceId(instanceId);
        var now = time.GetUtcNow();
        var executionId = Guid.NewGuid().ToString("N");
        var serialized = DurableJson.Serialize(input);
        var state = new OrchestrationState(instanceId, name, executionId, OrchestrationRuntimeStatus.Pending, serialized, null, null, null, now, now);
        var start = new ExecutionStarted(name, executionId, serialized) { Timestamp = options?.StartAt ?? now };
        await backend.CreateInstanceAsync(state, new OrchestrationMessage($"{instanceId}:{executionId}:start", instanceId, executionId, start, options?.StartAt), cancellationToken);
        return instanceId;
    }

    /// <summary>The instance's state (and history when asked), or null when it does not exist.</summary>
    public async Task<OrchestrationMetadata?> GetInstanceAsync(string instanceId, bool includeHistory = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        var state = await backend.GetStateAsync(instanceId, cancellationToken);
        if (state is null)
        {
            return null;
        }

        var history = includeHistory ? await backend.GetHistoryAsync(instanceId, cancellationToken) : null;
        return new OrchestrationMetadata(state, history);
    }

    /// <summary>Raises an external event. Events raised before the orchestrator waits are buffered for it.</summary>
    /// <exception cref="OrchestrationNotFoundException">No such instance.</exception>
    /// <exception cref="OrchestrationStateException">The instance has ended.</exception>
    public async Task RaiseEventAsync(string instanceId, string eventName, object? eventData = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        var state = await RequireAsync(instanceId, cancellationToken);
        if (state.IsTerminal)
        {
            throw new OrchestrationStateException(instanceId, state.Status, $"raise event '{eventName}' on");
        }

        var eventId = Guid.NewGuid().ToString("N");
        var raised = new EventRaised(eventName, DurableJson.Serialize(eventData), eventId) { Timestamp = time.GetUtcNow() };
        await backend.SendAsync(new OrchestrationMessage(eventId, instanceId, null, raised), cancellationToken);
    }

    /// <summary>Asks the instance to stop; it ends as Terminated at its next step. False when it had already ended.</summary>
    public Task<bool> TerminateAsync(string instanceId, string? reason = null, CancellationToken cancellationToken = default) =>
        SignalAsync(instanceId, new ExecutionTerminated(reason), cancellationToken);

    /// <summary>Pauses the instance: events keep arriving and are recorded, but not delivered until it is resumed.</summary>
    public Task<bool> SuspendAsync(string instanceId, string? reason = null, CancellationToken cancellationToken = default) =>
        SignalAsync(instanceId, new ExecutionSuspended(reason), cancellationToken);

    /// <summary>Resumes a suspended instance; what arrived meanwhile is delivered in order.</summary>
    public Task<bool> ResumeAsync(string instanceId, string? reason = null, CancellationToken cancellationToken = default) =>
        SignalAsync(instanceId, new ExecutionResumed(reason), cancellationToken);

    /// <summary>Deletes an ended instance and its history. False when it does not exist.</summary>
    /// <exception cref="OrchestrationStateException">The instance has not ended.</exception>
    public Task<bool> PurgeAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        return backend.PurgeAsync(instanceId, cancellationToken);
    }

    /// <summary>Instances by status, name and creation time, a page at a time.</summary>
    public Task<OrchestrationQueryResult> QueryAsync(OrchestrationQuery query, CancellationToken cancellationToken = default) =>
        backend.QueryAsync(query, cancellationToken);

    /// <summary>Polls until the instance has ended (for callers that have a worker running elsewhere).</summary>
    /// <exception cref="TimeoutException">It did not end within <paramref name="timeout"/>.</exception>
    public async Task<OrchestrationState> WaitForCompletionAsync(string instanceId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (true)
            {
                var state = await RequireAsync(instanceId, deadline.Token);
                if (state.IsTerminal)
                {
                    return state;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Orchestration instance '{instanceId}' did not end within {timeout}.");
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> for ids storage cannot key on.</summary>
    public static void ValidateInstanceId(string instanceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instanceId);
        if (instanceId.Length > MaxInstanceIdLength)
        {
            throw new ArgumentException($"Instance ids are at most {MaxInstanceIdLength} characters; this one has {instanceId.Length}.", nameof(instanceId));
        }

        foreach (var c in instanceId)
        {
            if (char.IsControl(c) || c is '/' or '\\' or '?' or '#')
            {
                throw new ArgumentException($"Instance id '{instanceId}' contains '{(char.IsControl(c) ? "a control character" : c.ToString())}', which storage keys cannot hold.", nameof(instanceId));
            }
        }
    }

    private async Task<bool> SignalAsync(string instanceId, HistoryEvent signal, CancellationToken cancellationToken)
    {
        var state = await RequireAsync(instanceId, cancellationToken);
        if (state.IsTerminal)
        {
            return false;
        }

        await backend.SendAsync(new OrchestrationMessage(Guid.NewGuid().ToString("N"), instanceId, null, signal with { Timestamp = time.GetUtcNow() }), cancellationToken);
        return true;
    }

    private async Task<OrchestrationState> RequireAsync(string instanceId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        return await backend.GetStateAsync(instanceId, cancellationToken) ?? throw new OrchestrationNotFoundException(instanceId);
    }
}
