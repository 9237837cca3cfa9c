using System.Globalization;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Runtime;

/// <summary>Points inside a commit where <see cref="InMemoryBackendOptions.CrashAt"/> can simulate a worker crash.</summary>
public enum CommitStage
{
    /// <summary>The outbox has been sent; history and state are not written yet.</summary>
    AfterOutbox,
    /// <summary>History and state are written; consumed messages are not deleted yet.</summary>
    AfterStateWrite,
}

/// <summary>Thrown by the in-memory backend to simulate a worker dying mid-commit.</summary>
public sealed class SimulatedCrashException(CommitStage stage) : Exception($"Simulated crash {stage}.")
{
    public CommitStage Stage { get; } = stage;
}

/// <summary>Knobs of the in-memory backend, mostly for fault-injection tests.</summary>
/// <param name="LeaseDuration">How long a fetched work item stays owned before another worker may take it.</param>
/// <param name="MaxMessagesPerWorkItem">Most messages handed to one step.</param>
/// <param name="DeliverEveryMessageTwice">Queue every sent message twice, as an at-least-once queue may.</param>
/// <param name="CrashAt">Called at each commit stage; returning true throws <see cref="SimulatedCrashException"/> there, leaving the lease to expire.</param>
public sealed record InMemoryBackendOptions(
    TimeSpan? LeaseDuration = null,
    int MaxMessagesPerWorkItem = 5000,
    bool DeliverEveryMessageTwice = false,
    Func<CommitStage, string, bool>? CrashAt = null);

/// <summary>
/// An <see cref="IOrchestrationBackend"/> in process memory, <b>for fast unit tests only</b>: nothing
/// survives the process. It keeps the backend contract (leases, ETags, commit order, at-least-once,
/// delayed visibility on the given <see cref="TimeProvider"/>) so runtime behaviour can be tested
/// without storage.
/// </summary>
public sealed class InMemoryOrchestrationBackend : IOrchestrationBackend, IDisposable
{
    private readonly Lock gate = new();
    private readonly TimeProvider time;
    private readonly InMemoryBackendOptions options;
    private readonly TimeSpan lease;
    private readonly Dictionary<string, InstanceRecord> instances = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<StoredMessage>> inbox = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Token, DateTimeOffset Until)> instanceLeases = new(StringComparer.Ordinal);
    private readonly List<StoredActivity> activities = [];
    private readonly SemaphoreSlim wakeUp = new(0);
    private long sequence;

    public InMemoryOrchestrationBackend(TimeProvider? timeProvider = null, InMemoryBackendOptions? options = null)
    {
        time = timeProvider ?? TimeProvider.System;
        this.options = options ?? new InMemoryBackendOptions();
        lease = this.options.LeaseDuration ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>Messages (orchestration and activity) not yet consumed; for tests.</summary>
    public int PendingMessageCount
    {
        get
        {
            lock (gate)
            {
                return inbox.Values.Sum(list => list.Count) + activities.Count;
            }
        }
    }

    public Task CreateInstanceAsync(OrchestrationState state, OrchestrationMessage startMessage, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(startMessage);
        lock (gate)
        {
            if (instances.TryGetValue(state.InstanceId, out var existing) && existing.State is { IsTerminal: false } live)
            {
                throw new OrchestrationAlreadyExistsException(state.InstanceId, live.Status);
            }

            instances[state.InstanceId] = new InstanceRecord(state, [], NextETag());
            Enqueue(startMessage);
        }

        Signal();
        return Task.CompletedTask;
    }

    public Task SendAsync(OrchestrationMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (gate)
        {
            Enqueue(message);
        }

        Signal();
        return Task.CompletedTask;
    }

    public Task<OrchestrationState?> GetStateAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            return Task.FromResult(instances.TryGetValue(instanceId, out var record) ? record.State : null);
        }
    }

    public Task<IReadOnlyList<HistoryEvent>> GetHistoryAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            IReadOnlyList<HistoryEvent> history = instances.TryGetValue(instanceId, out var record) ? [.. record.History] : [];
            return Task.FromResult(history);
        }
    }

    public Task<OrchestrationQueryResult> QueryAsync(OrchestrationQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var skip = 0;
        if (query.ContinuationToken is not null && (!int.TryParse(query.ContinuationToken, NumberStyles.None, CultureInfo.InvariantCulture, out skip) || skip < 0))
        {
            throw new ArgumentException("The continuation token is malformed.", nameof(query));
        }

        lock (gate)
        {
            var matches = instances.Values
                .Select(r => r.State)
                .Where(s => s is not null)
                .Select(s => s!)
                .Where(s => query.Statuses is not { Count: > 0 } statuses || statuses.Contains(s.Status))
                .Where(s => query.Name is null || string.Equals(s.Name, query.Name, StringComparison.Ordinal))
                .Where(s => query.InstanceIdPrefix is null || s.InstanceId.StartsWith(query.InstanceIdPrefix, StringComparison.Ordinal))
                .Where(s => query.CreatedFrom is not { } from || s.CreatedAt >= from)
                .Where(s => query.CreatedTo is not { } to || s.CreatedAt < to)
                .OrderBy(s => s.CreatedAt)
                .ThenBy(s => s.InstanceId, StringComparer.Ordinal)
                .Skip(skip)
                .Take(query.PageSize + 1)
                .ToList();
            var more = matches.Count > query.PageSize;
            var page = more ? matches[..query.PageSize] : matches;
            var token = more ? (skip + query.PageSize).ToString(CultureInfo.InvariantCulture) : null;
            return Task.FromResult(new OrchestrationQueryResult(page, token));
        }
    }

    public Task<bool> PurgeAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            if (!instances.TryGetValue(instanceId, out var record))
            {
                return Task.FromResult(false);
            }

            if (record.State is { IsTerminal: false } live)
            {
                throw new OrchestrationStateException(instanceId, live.Status, "purge");
            }

            instances.Remove(instanceId);
            return Task.FromResult(true);
        }
    }

    public Task<OrchestrationWorkItem?> FetchOrchestrationWorkItemAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (gate)
        {
            foreach (var (instanceId, messages) in inbox)
            {
                if (instanceLeases.TryGetValue(instanceId, out var held) && held.Until > now)
                {
                    continue;
                }

                var visible = messages.Where(m => m.VisibleAt <= now).Take(options.MaxMessagesPerWorkItem).ToList();
                if (visible.Count == 0)
                {
                    continue;
                }

                var token = Guid.NewGuid().ToString("N");
                instanceLeases[instanceId] = (token, now + lease);
                foreach (var message in visible)
                {
                    message.LeaseToken = token;
                }

                instances.TryGetValue(instanceId, out var record);
                OrchestrationWorkItem item = new(
                    instanceId,
                    record?.State,
                    record is null ? [] : [.. record.History],
                    [.. visible.Select(m => m.Message)],
                    record?.ETag,
                    token);
                return Task.FromResult<OrchestrationWorkItem?>(item);
            }
        }

        return Task.FromResult<OrchestrationWorkItem?>(null);
    }

    public Task CommitOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, OrchestrationCommit commit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        ArgumentNullException.ThrowIfNull(commit);
        lock (gate)
        {
            // 1. Outbox first: if we die after this, the messages are duplicates the receivers drop.
            foreach (var message in commit.OrchestrationMessages)
            {
                Enqueue(message);
            }

            foreach (var activity in commit.ActivityMessages)
            {
                EnqueueActivity(activity);
            }

            MaybeCrash(CommitStage.AfterOutbox, workItem.InstanceId);

            // 2. One ETag-guarded write of history and state.
            instances.TryGetValue(workItem.InstanceId, out var record);
            var leaseHeld = instanceLeases.TryGetValue(workItem.InstanceId, out var held) && held.Token == workItem.LockToken;
            if (!leaseHeld || record?.ETag != workItem.ETag)
            {
                throw new OrchestrationConcurrencyException(workItem.InstanceId);
            }

            var history = commit.ReplaceHistory ? [.. commit.NewEvents] : new List<HistoryEvent>(record?.History ?? []);
            if (!commit.ReplaceHistory)
            {
                history.AddRange(commit.NewEvents);
            }

            instances[workItem.InstanceId] = new InstanceRecord(commit.State, history, NextETag());
            MaybeCrash(CommitStage.AfterStateWrite, workItem.InstanceId);

            // 3. Delete what this step consumed, and release the lease.
            if (inbox.TryGetValue(workItem.InstanceId, out var messages))
            {
                messages.RemoveAll(m => m.LeaseToken == workItem.LockToken);
                if (messages.Count == 0)
                {
                    inbox.Remove(workItem.InstanceId);
                }
            }

            instanceLeases.Remove(workItem.InstanceId);
        }

        Signal();
        return Task.CompletedTask;
    }

    public Task AbandonOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        var visibleAt = time.GetUtcNow() + delay;
        lock (gate)
        {
            if (instanceLeases.TryGetValue(workItem.InstanceId, out var held) && held.Token == workItem.LockToken)
            {
                instanceLeases.Remove(workItem.InstanceId);
            }

            if (inbox.TryGetValue(workItem.InstanceId, out var messages))
            {
                foreach (var message in messages.Where(m => m.LeaseToken == workItem.LockToken))
                {
                    message.LeaseToken = null;
                    message.VisibleAt = visibleAt;
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task<ActivityWorkItem?> FetchActivityWorkItemAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        lock (gate)
        {
            foreach (var stored in activities)
            {
                if (stored.VisibleAt > now)
                {
                    continue;
                }

                stored.LeaseToken = Guid.NewGuid().ToString("N");
                stored.VisibleAt = now + lease;
                stored.DequeueCount++;
                return Task.FromResult<ActivityWorkItem?>(new ActivityWorkItem(stored.Message, stored.DequeueCount, stored.LeaseToken));
            }
        }

        return Task.FromResult<ActivityWorkItem?>(null);
    }

    public Task CompleteActivityWorkItemAsync(ActivityWorkItem workItem, OrchestrationMessage result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        ArgumentNullException.ThrowIfNull(result);
        lock (gate)
        {
            Enqueue(result);
            activities.RemoveAll(a => a.LeaseToken == workItem.LockToken);
        }

        Signal();
        return Task.CompletedTask;
    }

    public Task AbandonActivityWorkItemAsync(ActivityWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        var visibleAt = time.GetUtcNow() + delay;
        lock (gate)
        {
            foreach (var stored in activities.Where(a => a.LeaseToken == workItem.LockToken))
            {
                stored.LeaseToken = null;
                stored.VisibleAt = visibleAt;
            }
        }

        return Task.CompletedTask;
    }

    public async Task WaitForWorkAsync(TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        await wakeUp.WaitAsync(maxWait, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => wakeUp.Dispose();

    private void Enqueue(OrchestrationMessage message)
    {
        var copies = options.DeliverEveryMessageTwice ? 2 : 1;
        if (!inbox.TryGetValue(message.InstanceId, out var list))
        {
            list = [];
            inbox.Add(message.InstanceId, list);
        }

        for (var i = 0; i < copies; i++)
        {
            list.Add(new StoredMessage(message) { VisibleAt = message.VisibleAt ?? DateTimeOffset.MinValue });
        }
    }

    private void EnqueueActivity(ActivityMessage message)
    {
        var copies = options.DeliverEveryMessageTwice ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            activities.Add(new StoredActivity(message) { VisibleAt = DateTimeOffset.MinValue });
        }
    }

    private void MaybeCrash(CommitStage stage, string instanceId)
    {
        if (options.CrashAt?.Invoke(stage, instanceId) == true)
        {
            throw new SimulatedCrashException(stage);
        }
    }

    private string NextETag() => (++sequence).ToString(CultureInfo.InvariantCulture);

    private void Signal()
    {
        if (wakeUp.CurrentCount == 0)
        {
            wakeUp.Release();
        }
    }

    private sealed record InstanceRecord(OrchestrationState? State, List<HistoryEvent> History, string ETag);

    private sealed class StoredMessage(OrchestrationMessage message)
    {
        public OrchestrationMessage Message { get; } = message;

        public DateTimeOffset VisibleAt { get; set; }

        public string? LeaseToken { get; set; }
    }

    private sealed class StoredActivity(ActivityMessage message)
    {
        public ActivityMessage Message { get; } = message;

        public DateTimeOffset VisibleAt { get; set; }

        public string? LeaseToken { get; set; }

        public long DequeueCount { get; set; }
    }
}
