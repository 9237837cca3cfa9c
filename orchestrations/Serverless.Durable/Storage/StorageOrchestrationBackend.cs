using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Storage;

/// <summary>
/// The durable backend on the storage ports: instances and histories in an <see cref="IDocumentStore"/>
/// (partition = instance id; one ETag-guarded atomic batch per step), messages on <see cref="IQueueStore"/>
/// (control queues partitioned by a stable hash of the instance id, one shared work-item queue, a poison queue),
/// and payloads too large for a message or document gzipped in an <see cref="IBlobStore"/>.
/// </summary>
/// <remarks>
/// <para><b>In-process dispatch</b> (<see cref="StorageBackendOptions.InProcessDispatch"/>). Queue round trips are the
/// bottleneck (Azurite: ~90 sequential send/receive/delete per second), so what this process produces it also
/// consumes at once, and the queues hold only the durable fallback:</para>
/// <list type="bullet">
/// <item>A message to an instance (start, event, sub-orchestration start or result, timer) is sent to its control
/// queue hidden for the lease period (or until a timer's due time) <i>before</i> the commit that produces it, and a
/// copy goes to the in-memory inbox after that commit. The queue copy is deleted once a step consuming the message
/// has committed; if this process dies, it becomes visible and any worker processes it. Duplicates are dropped by
/// history (task and event ids).</item>
/// <item>Activities scheduled by a step are not sent at all: before the step commits, one <i>watchdog</i> message
/// per instance is sent (or its visibility extended) to the control queue, hidden for the lease period. After the
/// commit the activities run in process and their results go straight to the instance's next step. The watchdog
/// is deleted when no in-process activity of the instance is left uncommitted. If the process dies, the watchdog
/// becomes visible; whoever receives it re-dispatches every activity that history shows scheduled and not
/// completed. Activities are at-least-once anyway; orchestration state changes stay exactly-once because each is
/// one ETag-guarded write and duplicates are dropped.</item>
/// <item>Several results for one instance are applied in one step (one write), which makes fan-in cheap.</item>
/// </list>
/// <para>There are no partition leases: every worker may receive from every control queue, an in-process lease
/// keeps one step per instance per process, and the ETag decides between processes (the loser's messages are
/// retried). A completion is checked against the event that scheduled its task id (activity name and input hash,
/// timer due time, child instance id), so a message sent by a step whose commit then lost the race cannot complete a
/// different task.</para>
/// </remarks>
public sealed partial class StorageOrchestrationBackend : IOrchestrationBackend, IAsyncDisposable
{
    private static readonly TimeSpan MaxQueueDelay = QueueLimits.MaxVisibility - TimeSpan.FromMinutes(1);
    private static readonly TimeSpan OrphanStartGrace = TimeSpan.FromMinutes(1);
    private const int MaxCachedHistories = 10_000;

    private readonly IQueueStore queues;
    private readonly IBlobStore blobs;
    private readonly StorageBackendOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly MessageCodec codec;
    private readonly InstanceStore instances;
    private readonly Lock gate = new();
    private readonly Dictionary<string, List<PendingMessage>> inbox = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> instanceLeases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> instanceLeaseExpiry = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Step> steps = new(StringComparer.Ordinal);
    private readonly LinkedList<LocalActivity> activities = new();
    private readonly Dictionary<string, LocalActivity> activityLeases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Watchdog> watchdogs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> outstanding = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CachedHistory> cache = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim wakeUp = new(0);
    private readonly SemaphoreSlim backgroundSlots = new(16);
    private readonly SemaphoreSlim startGate = new(1);
    private volatile bool started;
    private volatile bool documentsReady;
    private volatile bool crashed;
    private int backgroundCount;
    private int pollingControl;
    private int pollingWork;
    private readonly PollClock controlPoll = new();
    private readonly PollClock workPoll = new();

    public StorageOrchestrationBackend(
        IDocumentStore documents,
        IQueueStore queues,
        IBlobStore blobs,
        StorageBackendOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        this.queues = queues ?? throw new ArgumentNullException(nameof(queues));
        this.blobs = blobs ?? throw new ArgumentNullException(nameof(blobs));
        this.options = options ?? new StorageBackendOptions();
        this.options.Validate();
        time = timeProvider ?? TimeProvider.System;
        logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<StorageOrchestrationBackend>();
        codec = new MessageCodec(blobs, this.options);
        instances = new InstanceStore(documents, codec, this.options);
    }

    /// <summary>The settings in use.</summary>
    public StorageBackendOptions Options => options;

    /// <summary>Messages and activities held in memory and not yet consumed (for tests and diagnostics).</summary>
    public int InMemoryCount
    {
        get
        {
            lock (gate)
            {
                return inbox.Values.Sum(l => l.Count) + activities.Count;
            }
        }
    }

    /// <summary>Creates the container, queues and blob container (idempotent; other calls do it on first use).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (started)
        {
            return;
        }

        await startGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (started)
            {
                return;
            }

            await instances.EnsureAsync(cancellationToken).ConfigureAwait(false);
            var names = Enumerable.Range(0, options.ControlPartitions).Select(options.ControlQueue).Append(options.WorkQueue).Append(options.PoisonQueue);
            await Task.WhenAll(names.Select(q => queues.CreateIfNotExistsAsync(q, cancellationToken))).ConfigureAwait(false);
            await blobs.CreateContainerIfNotExistsAsync(options.PayloadContainer, cancellationToken).ConfigureAwait(false);
            started = true;
        }
        finally
        {
            startGate.Release();
        }
    }

    /// <summary>Waits until queued background deletes have finished (tests and benchmarks).</summary>
    public async Task DrainAsync(CancellationToken cancellationToken = default)
    {
        while (Volatile.Read(ref backgroundCount) > 0)
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    // ───────────── client side ─────────────

    public async Task CreateInstanceAsync(OrchestrationState state, OrchestrationMessage startMessage, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(startMessage);
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);

        // The start message goes first: a crash before the document exists leaves an orphan start, which is
        // dropped after a grace period; the other order could leave a Pending instance that never runs.
        var delivery = new Delivery(startMessage);
        var sent = await SendDurableAsync(delivery, cancellationToken).ConfigureAwait(false);
        try
        {
            var body = await instances.InstanceBodyAsync(state, state.ExecutionId, 0, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                try
                {
                    await instances.Container.CreateAsync(state.InstanceId, InstanceStore.InstanceId, body, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (DocumentConflictException)
                {
                    var existing = await instances.ReadAsync(state.InstanceId, cancellationToken).ConfigureAwait(false);
                    if (existing is null)
                    {
                        continue;
                    }

                    if (!existing.State.IsTerminal)
                    {
                        throw new OrchestrationAlreadyExistsException(state.InstanceId, existing.State.Status);
                    }

                    var ops = new List<BatchOperation> { BatchOperation.Replace(InstanceStore.InstanceId, body, existing.ETag) };
                    ops.AddRange(Enumerable.Range(0, Math.Min(existing.Pages, DocumentLimits.MaxBatchOperations - 1))
                        .Select(p => BatchOperation.Delete(InstanceStore.PageId(existing.HistoryExecution, p))));
                    try
                    {
                        await instances.Container.ExecuteBatchAsync(state.InstanceId, ops, cancellationToken).ConfigureAwait(false);
                        break;
                    }
                    catch (DocumentBatchFailedException)
                    {
                        // Someone else replaced or changed it first: read again and decide.
                    }
                }
            }
        }
        catch
        {
            Background(() => queues.DeleteAsync(sent.Queue, sent.MessageId, sent.PopReceipt));
            throw;
        }

        lock (gate)
        {
            cache.Remove(state.InstanceId);
        }

        AddLocal(delivery, sent, countsOutstanding: false);
    }

    public async Task SendAsync(OrchestrationMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        var delivery = new Delivery(message);
        var sent = await SendDurableAsync(delivery, cancellationToken).ConfigureAwait(false);
        AddLocal(delivery, sent, countsOutstanding: false);
    }

    public async Task<OrchestrationState?> GetStateAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        await EnsureReadableAsync(cancellationToken).ConfigureAwait(false);
        return (await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false))?.State;
    }

    public async Task<IReadOnlyList<HistoryEvent>> GetHistoryAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        await EnsureReadableAsync(cancellationToken).ConfigureAwait(false);
        var record = await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return [];
        }

        var history = await instances.ReadHistoryAsync(instanceId, record, cancellationToken).ConfigureAwait(false);
        return history.Events;
    }

    public async Task<OrchestrationQueryResult> QueryAsync(OrchestrationQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        await EnsureReadableAsync(cancellationToken).ConfigureAwait(false);
        var filters = new List<Filter> { Filter.Eq("docType", "instance") };
        if (query.Statuses is { Count: > 0 } statuses)
        {
            filters.Add(Filter.In("status", [.. statuses.Select(s => (System.Text.Json.Nodes.JsonNode?)s.ToString())]));
        }

        if (query.Name is not null)
        {
            filters.Add(Filter.Eq("name", query.Name));
        }

        if (!string.IsNullOrEmpty(query.InstanceIdPrefix))
        {
            // The partition key is the instance id, and every document carries it as "pk".
            filters.Add(Filter.StartsWith("pk", query.InstanceIdPrefix));
        }

        if (query.CreatedFrom is { } from)
        {
            filters.Add(Filter.Gte("createdAt", from.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (query.CreatedTo is { } to)
        {
            filters.Add(Filter.Lt("createdAt", to.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));
        }

        QueryPage page;
        try
        {
            page = await instances.Container.QueryAsync(
                new DocumentQuery(null, Filter.And([.. filters]), [new SortField("createdAt")], query.PageSize, query.ContinuationToken),
                cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidQueryException ex)
        {
            throw new ArgumentException($"The query is not valid: {ex.Message}", nameof(query), ex);
        }

        var items = new List<OrchestrationState>(page.Items.Count);
        foreach (var doc in page.Items)
        {
            items.Add((await instances.ToRecordAsync(doc, cancellationToken).ConfigureAwait(false)).State);
        }

        return new OrchestrationQueryResult(items, page.ContinuationToken);
    }

    public async Task<bool> PurgeAsync(string instanceId, CancellationToken cancellationToken = default)
    {
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        var record = await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return false;
        }

        if (!record.State.IsTerminal)
        {
            throw new OrchestrationStateException(instanceId, record.State.Status, "purge");
        }

        // Pages first (in chunks), the instance document last and ETag-guarded: a crash midway leaves a
        // purgeable instance, never pages without their instance.
        var pages = Enumerable.Range(0, record.Pages).Select(p => BatchOperation.Delete(InstanceStore.PageId(record.HistoryExecution, p))).ToList();
        while (pages.Count >= DocumentLimits.MaxBatchOperations)
        {
            await instances.Container.ExecuteBatchAsync(instanceId, pages[..(DocumentLimits.MaxBatchOperations - 1)], cancellationToken).ConfigureAwait(false);
            pages.RemoveRange(0, DocumentLimits.MaxBatchOperations - 1);
        }

        pages.Add(BatchOperation.Delete(InstanceStore.InstanceId, record.ETag));
        try
        {
            await instances.Container.ExecuteBatchAsync(instanceId, pages, cancellationToken).ConfigureAwait(false);
        }
        catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentNotFoundException or DocumentPreconditionFailedException)
        {
            return false;
        }

        lock (gate)
        {
            cache.Remove(instanceId);
        }

        foreach (var prefix in new[] { $"state/{instanceId}/", $"history/{instanceId}/", $"messages/{instanceId}/" })
        {
            Background(async () =>
            {
                var listing = await blobs.ListAsync(options.PayloadContainer, prefix).ConfigureAwait(false);
                foreach (var item in listing.Items)
                {
                    await blobs.DeleteAsync(options.PayloadContainer, item.Name).ConfigureAwait(false);
                }
            });
        }

        return true;
    }

    // ───────────── orchestration work items ─────────────

    public async Task<OrchestrationWorkItem?> FetchOrchestrationWorkItemAsync(CancellationToken cancellationToken = default)
    {
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        if (options.PollQueues && controlPoll.Due(time, MinPoll))
        {
            await PollControlQueuesAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var attempt = 0; attempt < 3; attempt++)
        {
            var picked = TryLeaseInstance();
            if (picked is null)
            {
                if (!options.PollQueues || attempt > 0)
                {
                    return null;
                }

                await PollControlQueuesAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            var item = await LoadAsync(picked.Value.InstanceId, picked.Value.Token, picked.Value.Messages, cancellationToken).ConfigureAwait(false);
            if (item is not null)
            {
                return item;
            }
        }

        return null;
    }

    public async Task CommitOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, OrchestrationCommit commit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        ArgumentNullException.ThrowIfNull(commit);
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        Step step;
        lock (gate)
        {
            if (!steps.TryGetValue(workItem.LockToken, out step!) || !instanceLeases.TryGetValue(workItem.InstanceId, out var token) || token != workItem.LockToken)
            {
                throw new OrchestrationConcurrencyException(workItem.InstanceId);
            }
        }

        var id = workItem.InstanceId;

        // 1. Outbox: durable copies of every outgoing message (and the watchdog of in-process activities), in parallel.
        var outgoing = commit.OrchestrationMessages.Select(m => new Delivery(m, null, id)).ToList();
        var sendTasks = outgoing.Select(d => SendDurableAsync(d, cancellationToken)).ToList();
        var activityTask = commit.ActivityMessages.Count == 0
            ? Task.CompletedTask
            : options.InProcessDispatch
                ? EnsureWatchdogAsync(id, step.Messages, cancellationToken)
                : Task.WhenAll(commit.ActivityMessages.Select(a => SendActivityAsync(a, cancellationToken)));
        try
        {
            await Task.WhenAll(sendTasks.Cast<Task>().Append(activityTask)).ConfigureAwait(false);
        }
        catch
        {
            // Nothing is written yet; whatever was sent is a duplicate-to-be. Retry the step shortly.
            ReleaseStep(workItem, TimeSpan.FromSeconds(1));
            throw;
        }

        MaybeCrash(CommitStage.AfterOutbox, id);

        // 2. One atomic batch: the instance document (ETag-guarded) and the history pages.
        var history = commit.ReplaceHistory || step.History is null
            ? new CachedHistory(string.Empty, commit.State.ExecutionId, [], 0, [], 0)
            : step.History;
        var ops = new List<BatchOperation>();
        var pageOps = await instances.AppendAsync(id, history, commit.NewEvents, cancellationToken).ConfigureAwait(false);
        var body = await instances.InstanceBodyAsync(commit.State, history.Execution, history.Pages, cancellationToken).ConfigureAwait(false);
        ops.Add(workItem.ETag is null ? BatchOperation.Create(InstanceStore.InstanceId, body) : BatchOperation.Replace(InstanceStore.InstanceId, body, workItem.ETag));
        ops.AddRange(pageOps);
        var stalePages = new List<string>();
        if (step.Record is { } old && old.HistoryExecution != history.Execution)
        {
            stalePages.AddRange(Enumerable.Range(0, old.Pages).Select(p => InstanceStore.PageId(old.HistoryExecution, p)));
        }

        while (stalePages.Count > 0 && ops.Count < DocumentLimits.MaxBatchOperations)
        {
            ops.Add(BatchOperation.Delete(stalePages[0]));
            stalePages.RemoveAt(0);
        }

        if (ops.Count > DocumentLimits.MaxBatchOperations)
        {
            ReleaseStep(workItem, TimeSpan.FromSeconds(1));
            throw new InvalidOperationException($"Step of instance '{id}' appends {commit.NewEvents.Count} events, more than one atomic write can hold; split the fan-out.");
        }

        IReadOnlyList<StoredDocument?> written;
        try
        {
            written = await instances.Container.ExecuteBatchAsync(id, ops, cancellationToken).ConfigureAwait(false);
        }
        catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException or DocumentConflictException or DocumentNotFoundException)
        {
            // A lost race is not a failed attempt: it must not push the messages towards the poison queue.
            ReleaseStep(workItem, TimeSpan.Zero, countAttempt: false);
            throw new OrchestrationConcurrencyException(id);
        }
        catch
        {
            ReleaseStep(workItem, TimeSpan.FromSeconds(1));
            throw;
        }

        history.ETag = written[0]!.ETag;
        MaybeCrash(CommitStage.AfterStateWrite, id);

        // 3. Consume: forget and delete what the step consumed; hand new work to this process.
        var sent = await Task.WhenAll(sendTasks).ConfigureAwait(false);
        var toDelete = new List<QueueRef>();
        var deleteWatchdog = default(Watchdog);
        lock (gate)
        {
            if (commit.State.IsTerminal)
            {
                cache.Remove(id);
            }
            else
            {
                if (cache.Count >= MaxCachedHistories)
                {
                    // Crude but bounded: histories are re-read from the store when missing.
                    cache.Clear();
                }

                cache[id] = history;
            }

            steps.Remove(workItem.LockToken);
            instanceLeases.Remove(id);
            instanceLeaseExpiry.Remove(id);
            if (inbox.TryGetValue(id, out var list))
            {
                foreach (var consumed in step.Messages)
                {
                    list.Remove(consumed);
                    toDelete.AddRange(SparingWatchdogLocked(id, consumed.Refs));
                    consumed.Done?.TrySetResult();
                    if (consumed.CountsOutstanding)
                    {
                        outstanding[id] = outstanding.GetValueOrDefault(id) - 1;
                    }
                }

                if (list.Count == 0)
                {
                    inbox.Remove(id);
                }
            }

            if (options.InProcessDispatch)
            {
                foreach (var activity in commit.ActivityMessages)
                {
                    activities.AddLast(new LocalActivity(activity, null, Fast: true));
                }

                outstanding[id] = outstanding.GetValueOrDefault(id) + commit.ActivityMessages.Count;
            }

            if (outstanding.GetValueOrDefault(id) <= 0)
            {
                outstanding.Remove(id);
                if (watchdogs.Remove(id, out var w))
                {
                    deleteWatchdog = w;
                }
            }
        }

        for (var i = 0; i < outgoing.Count; i++)
        {
            AddLocal(outgoing[i], sent[i], countsOutstanding: false, signal: false);
        }

        foreach (var reference in toDelete)
        {
            DeleteInBackground(reference);
        }

        if (deleteWatchdog is not null)
        {
            DeleteInBackground(deleteWatchdog.Ref);
        }

        foreach (var page in stalePages)
        {
            Background(() => instances.Container.DeleteAsync(id, page));
        }

        Signal();
    }

    public Task AbandonOrchestrationWorkItemAsync(OrchestrationWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        ReleaseStep(workItem, delay);
        return Task.CompletedTask;
    }

    // ───────────── activity work items ─────────────

    public async Task<ActivityWorkItem?> FetchActivityWorkItemAsync(CancellationToken cancellationToken = default)
    {
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (options.PollQueues && (attempt > 0 || workPoll.Due(time, MinPoll)))
            {
                await PollWorkQueueAsync(cancellationToken).ConfigureAwait(false);
            }

            var now = time.GetUtcNow();
            ActivityWorkItem? picked = null;
            var poisoned = new List<LocalActivity>();
            lock (gate)
            {
                for (var node = activities.First; node is not null;)
                {
                    var local = node.Value;
                    var next = node.Next;
                    if (local.Lease is null && local.VisibleAt <= now)
                    {
                        if (local.Attempts >= options.MaxDequeueCount)
                        {
                            // Every attempt failed to complete (not: the activity threw, which is a result).
                            activities.Remove(node);
                            poisoned.Add(local);
                            node = next;
                            continue;
                        }

                        local.Lease = Guid.NewGuid().ToString("N");
                        local.Attempts++;
                        activityLeases[local.Lease] = local;
                        picked = new ActivityWorkItem(local.Message, Math.Max(local.Attempts, local.DequeueCount), local.Lease);
                        break;
                    }

                    node = next;
                }
            }

            foreach (var local in poisoned)
            {
                Background(() => PoisonActivityAsync(local));
            }

            if (picked is not null)
            {
                return picked;
            }

            if (!options.PollQueues)
            {
                break;
            }
        }

        return null;
    }

    public async Task CompleteActivityWorkItemAsync(ActivityWorkItem workItem, OrchestrationMessage result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        ArgumentNullException.ThrowIfNull(result);
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        LocalActivity? local;
        lock (gate)
        {
            if (activityLeases.Remove(workItem.LockToken, out local))
            {
                activities.Remove(local);
            }
        }

        // The result stays in memory until the instance's next step commits it; the activity's queue message (if it
        // came from the queue) is deleted only then, and in-process activities stay covered by the watchdog.
        var sig = StableHash.Of(workItem.Message.Name, workItem.Message.Input);
        var pending = new PendingMessage(new Delivery(result, sig, null), time.GetUtcNow())
        {
            CountsOutstanding = local?.Fast == true,
            Done = local?.Done,
        };
        if (local?.Ref is { } reference)
        {
            pending.Refs.Add(reference);
        }

        lock (gate)
        {
            Merge(pending);
        }

        Signal();
    }

    public Task AbandonActivityWorkItemAsync(ActivityWorkItem workItem, TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workItem);
        lock (gate)
        {
            if (activityLeases.Remove(workItem.LockToken, out var local))
            {
                // A failed attempt: back off by its attempt count, and keep the queue copy hidden as long.
                local.Lease = null;
                var wait = Max(delay, DurableBackoff.For(Math.Max(local.Attempts, local.DequeueCount)));
                local.VisibleAt = time.GetUtcNow() + wait;
                if (local.Ref is { } reference && reference.HiddenUntil < local.VisibleAt)
                {
                    var hide = wait > MaxQueueDelay ? MaxQueueDelay : wait;
                    local.Ref = reference with { HiddenUntil = local.VisibleAt };
                    Background(async () =>
                    {
                        var receipt = await queues.UpdateVisibilityAsync(reference.Queue, reference.MessageId, reference.PopReceipt, hide).ConfigureAwait(false);
                        lock (gate)
                        {
                            if (local.Ref is { } current && current.MessageId == reference.MessageId)
                            {
                                local.Ref = current with { PopReceipt = receipt };
                            }
                        }
                    });
                }
            }
        }

        return Task.CompletedTask;
    }

    public async Task WaitForWorkAsync(TimeSpan maxWait, CancellationToken cancellationToken = default)
    {
        var wait = maxWait;
        var now = time.GetUtcNow();
        lock (gate)
        {
            foreach (var list in inbox.Values)
            {
                foreach (var m in list)
                {
                    if (m.Lease is null && m.VisibleAt - now < wait)
                    {
                        wait = m.VisibleAt - now;
                    }
                }
            }
        }

        if (wait > TimeSpan.Zero)
        {
            await wakeUp.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    // ───────────── delivery by the Functions host ─────────────

    /// <summary>
    /// Takes a message the Azure Functions host (or any other poller) received from one of this backend's queues
    /// and returns once it has been durably processed (its step committed), so the caller may then delete it.
    /// The worker loop of this process must be running (with <see cref="StorageBackendOptions.PollQueues"/> false).
    /// </summary>
    /// <exception cref="TimeoutException">Not processed within the lease period; the caller should let the message be retried.</exception>
    public async Task DeliverAsync(string text, long dequeueCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        await EnsureAliveAsync(cancellationToken).ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await IngestAsync(null, text, dequeueCount, done, cancellationToken).ConfigureAwait(false);
        Signal();
        await done.Task.WaitAsync(options.Lease, time, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await DrainAsync().ConfigureAwait(false);
        wakeUp.Dispose();
        backgroundSlots.Dispose();
        startGate.Dispose();
    }

    // ───────────── internals ─────────────

    /// <summary>
    /// For reads (status, history, queries): only the instances container must exist, so status queries keep
    /// answering while the queue service is unreachable, as Durable Functions status queries do.
    /// </summary>
    private async Task EnsureReadableAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(crashed, this);
        if (!started && !documentsReady)
        {
            await instances.EnsureAsync(cancellationToken).ConfigureAwait(false);
            documentsReady = true;
        }
    }

    private async Task EnsureAliveAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(crashed, this);
        if (!started)
        {
            await StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private TimeSpan MinPoll => options.QueuePollInterval ?? TimeSpan.FromMilliseconds(100);

    private (string InstanceId, string Token, List<PendingMessage> Messages)? TryLeaseInstance()
    {
        var now = time.GetUtcNow();
        var poisoned = new List<(string Instance, PendingMessage Message)>();
        (string, string, List<PendingMessage>)? picked = null;
        lock (gate)
        {
            foreach (var (instanceId, list) in inbox)
            {
                if (instanceLeases.TryGetValue(instanceId, out var held))
                {
                    if (instanceLeaseExpiry.GetValueOrDefault(instanceId) > now)
                    {
                        continue;
                    }

                    // A step that never committed nor abandoned (its caller failed): take the instance back.
                    steps.Remove(held);
                    foreach (var stale in list.Where(m => m.Lease == held))
                    {
                        stale.Lease = null;
                    }
                }

                var visible = list.Where(m => m.Lease is null && m.VisibleAt <= now).ToList();
                if (visible.Count == 0)
                {
                    continue;
                }

                var token = Guid.NewGuid().ToString("N");
                foreach (var m in visible)
                {
                    m.Lease = token;
                    m.Attempts++;
                    if (m.Attempts > options.MaxDequeueCount || m.DequeueCount > options.MaxDequeueCount)
                    {
                        poisoned.Add((instanceId, m));
                    }
                }

                instanceLeases[instanceId] = token;
                instanceLeaseExpiry[instanceId] = now + options.Lease;
                picked = (instanceId, token, visible);
                break;
            }
        }

        if (poisoned.Count > 0 && picked is { } p)
        {
            // Hand the poison to the background: fail the instance, keep the message in the poison queue.
            foreach (var (instance, message) in poisoned)
            {
                p.Item3.Remove(message);
                Background(() => PoisonAsync(instance, message, $"it was delivered {Math.Max(message.Attempts, message.DequeueCount)} times without its step committing"));
            }

            if (p.Item3.Count == 0)
            {
                lock (gate)
                {
                    instanceLeases.Remove(p.Item1);
                    instanceLeaseExpiry.Remove(p.Item1);
                }

                return null;
            }
        }

        return picked;
    }

    private async Task<OrchestrationWorkItem?> LoadAsync(string instanceId, string token, List<PendingMessage> messages, CancellationToken cancellationToken)
    {
        InstanceRecord? record;
        CachedHistory? history = null;
        try
        {
            record = await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false);
            if (record is not null)
            {
                lock (gate)
                {
                    if (cache.TryGetValue(instanceId, out var cached) && cached.ETag == record.ETag)
                    {
                        history = cached;
                    }
                }

                history ??= await instances.ReadHistoryAsync(instanceId, record, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            ReleaseLease(instanceId, token, messages, TimeSpan.FromSeconds(1), backoff: true);
            throw;
        }

        var now = time.GetUtcNow();
        var usable = new List<PendingMessage>();
        var dropped = new List<PendingMessage>();
        var held = new List<PendingMessage>();
        foreach (var m in messages)
        {
            var e = m.Delivery.Message.Event;
            if (record is null && e is ExecutionStarted { Parent: null })
            {
                // A client start whose instance document is not written yet (or never will be: an orphan).
                (now - m.FirstSeen > OrphanStartGrace ? dropped : held).Add(m);
            }
            else if (record is null && e is not ExecutionStarted)
            {
                dropped.Add(m);
            }
            else if (history is not null && !Matches(history.Events, m.Delivery))
            {
                LogMismatch(logger, instanceId, m.Delivery.Message.MessageId);
                dropped.Add(m);
            }
            else
            {
                usable.Add(m);
            }
        }

        if (held.Count > 0)
        {
            // Waiting for the client to write the instance is not a failed attempt.
            held.ForEach(m => m.Attempts--);
            ReleaseLease(instanceId, token, held, TimeSpan.FromMilliseconds(200));
        }

        lock (gate)
        {
            if (usable.Count == 0)
            {
                // Nothing to run: forget the dropped ones (deleting their queue copies) and release.
                RemoveConsumed(instanceId, dropped);
                if (instanceLeases.TryGetValue(instanceId, out var t) && t == token)
                {
                    instanceLeases.Remove(instanceId);
                    instanceLeaseExpiry.Remove(instanceId);
                }

                return null;
            }

            steps[token] = new Step(instanceId, [.. usable, .. dropped], record, history);
            if (history is not null && record is { State.IsTerminal: false } && options.InProcessDispatch
                && outstanding.GetValueOrDefault(instanceId) == 0 && usable.Concat(dropped).Any(m => m.RecoveryHint))
            {
                RedispatchOpenActivitiesLocked(instanceId, record.State.ExecutionId, history.Events);
            }
        }

        return new OrchestrationWorkItem(
            instanceId,
            record?.State,
            history?.Events.ToList() ?? [],
            [.. usable.Select(m => m.Delivery.Message)],
            record?.ETag,
            token);
    }

    /// <summary>
    /// The refs to delete, minus any copy of the instance's watchdog message: that one is kept (with the newest
    /// receipt) while in-process activities are outstanding, since it is what recovers them after a crash.
    /// </summary>
    private List<QueueRef> SparingWatchdogLocked(string instanceId, List<QueueRef> refs)
    {
        if (!watchdogs.TryGetValue(instanceId, out var watchdog))
        {
            return refs;
        }

        var result = new List<QueueRef>(refs.Count);
        foreach (var r in refs)
        {
            if (r.MessageId == watchdog.Ref.MessageId && r.Queue == watchdog.Ref.Queue)
            {
                if (r.HiddenUntil > watchdog.Ref.HiddenUntil)
                {
                    watchdogs[instanceId] = watchdog = new Watchdog(r, r.HiddenUntil - options.Lease);
                }
            }
            else
            {
                result.Add(r);
            }
        }

        return result;
    }

    /// <summary>Runs in this process every activity history shows scheduled and not completed (after a presumed crash).</summary>
    private void RedispatchOpenActivitiesLocked(string instanceId, string execution, List<HistoryEvent> history)
    {
        var done = history.Select(e => e switch { TaskCompleted c => c.ScheduledId, TaskFailed f => f.ScheduledId, _ => -1 }).ToHashSet();
        var open = history.OfType<TaskScheduled>().Where(s => !done.Contains(s.TaskId)).ToList();
        if (open.Count == 0)
        {
            return;
        }

        LogRecovered(logger, instanceId, open.Count);
        foreach (var s in open)
        {
            activities.AddLast(new LocalActivity(new ActivityMessage($"{instanceId}:{execution}:{s.TaskId}", instanceId, execution, s.TaskId, s.Name, s.Input), null, Fast: true));
        }

        outstanding[instanceId] = outstanding.GetValueOrDefault(instanceId) + open.Count;
    }

    /// <summary>False when the message completes a task id that history gave to different work.</summary>
    private static bool Matches(List<HistoryEvent> history, Delivery delivery)
    {
        var e = delivery.Message.Event;
        int? taskId = e switch
        {
            TaskCompleted c => c.ScheduledId,
            TaskFailed f => f.ScheduledId,
            TimerFired t => t.ScheduledId,
            SubOrchestrationCompleted s => s.ScheduledId,
            SubOrchestrationFailed s => s.ScheduledId,
            _ => null,
        };
        if (taskId is null)
        {
            return true;
        }

        foreach (var h in history)
        {
            switch (h)
            {
                case TaskScheduled s when s.TaskId == taskId:
                    return e is TaskCompleted or TaskFailed && (delivery.Sig is null || delivery.Sig == StableHash.Of(s.Name, s.Input));
                case TimerCreated t when t.TaskId == taskId:
                    return e is TimerFired fired && fired.FireAt == t.FireAt;
                case SubOrchestrationCreated c when c.TaskId == taskId:
                    return e is SubOrchestrationCompleted or SubOrchestrationFailed && (delivery.From is null || delivery.From == c.InstanceId);
                case EventSent s when s.TaskId == taskId:
                    return false;
                default:
                    break;
            }
        }

        // Not scheduled in committed history: the executor drops it, which is safe because the drop commits only
        // against the history that lacks the schedule (the ETag), and a schedule still in flight then loses the race.
        return true;
    }

    private void ReleaseStep(OrchestrationWorkItem workItem, TimeSpan delay, bool countAttempt = true)
    {
        lock (gate)
        {
            if (steps.Remove(workItem.LockToken, out var step))
            {
                if (!countAttempt)
                {
                    step.Messages.ForEach(m => m.Attempts--);
                }

                cache.Remove(workItem.InstanceId);
                ReleaseLeaseLocked(workItem.InstanceId, workItem.LockToken, step.Messages, delay, backoff: countAttempt);
            }
        }

        Signal();
    }

    private void ReleaseLease(string instanceId, string token, List<PendingMessage> messages, TimeSpan delay, bool backoff = false)
    {
        lock (gate)
        {
            ReleaseLeaseLocked(instanceId, token, messages, delay, backoff);
        }
    }

    /// <summary>
    /// Returns leased messages to the inbox, visible after <paramref name="delay"/> or, for a failed attempt
    /// (<paramref name="backoff"/>), after <see cref="DurableBackoff"/> of its attempts if that is longer; their queue
    /// copies are hidden as long, so no other process retries them sooner.
    /// </summary>
    private void ReleaseLeaseLocked(string instanceId, string token, List<PendingMessage> messages, TimeSpan delay, bool backoff = false)
    {
        var now = time.GetUtcNow();
        foreach (var m in messages)
        {
            if (m.Lease == token)
            {
                m.Lease = null;
                var wait = backoff ? Max(delay, DurableBackoff.For(Math.Max(m.Attempts, m.DequeueCount))) : delay;
                var visibleAt = now + wait;
                m.VisibleAt = m.VisibleAt > visibleAt ? m.VisibleAt : visibleAt;
                if (backoff)
                {
                    HideQueueCopiesLocked(instanceId, m.Refs, m.VisibleAt);
                }
            }
        }

        if (instanceLeases.TryGetValue(instanceId, out var t) && t == token)
        {
            instanceLeases.Remove(instanceId);
            instanceLeaseExpiry.Remove(instanceId);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Extends the visibility of queue copies that would reappear before <paramref name="until"/> (in the background).</summary>
    private void HideQueueCopiesLocked(string instanceId, List<QueueRef> refs, DateTimeOffset until)
    {
        var now = time.GetUtcNow();
        watchdogs.TryGetValue(instanceId, out var watchdog);
        for (var i = 0; i < refs.Count; i++)
        {
            var reference = refs[i];
            if (reference.HiddenUntil >= until || (watchdog is not null && watchdog.Ref.MessageId == reference.MessageId))
            {
                continue;
            }

            var hide = until - now > MaxQueueDelay ? MaxQueueDelay : until - now;
            refs[i] = reference with { HiddenUntil = until };
            Background(async () =>
            {
                var receipt = await queues.UpdateVisibilityAsync(reference.Queue, reference.MessageId, reference.PopReceipt, hide).ConfigureAwait(false);
                lock (gate)
                {
                    var at = refs.FindIndex(r => r.MessageId == reference.MessageId && r.Queue == reference.Queue);
                    if (at >= 0)
                    {
                        refs[at] = refs[at] with { PopReceipt = receipt };
                    }
                }
            });
        }
    }

    private void RemoveConsumed(string instanceId, List<PendingMessage> consumed)
    {
        if (!inbox.TryGetValue(instanceId, out var list))
        {
            return;
        }

        foreach (var m in consumed)
        {
            list.Remove(m);
            m.Done?.TrySetResult();
            foreach (var r in SparingWatchdogLocked(instanceId, m.Refs))
            {
                DeleteInBackground(r);
            }

            if (m.CountsOutstanding)
            {
                outstanding[instanceId] = outstanding.GetValueOrDefault(instanceId) - 1;
            }
        }

        if (list.Count == 0)
        {
            inbox.Remove(instanceId);
        }
    }

    /// <summary>Adds (or merges by message id) a message into its instance's inbox. Caller holds the lock.</summary>
    private void Merge(PendingMessage message)
    {
        var id = message.Delivery.Message.InstanceId;
        if (!inbox.TryGetValue(id, out var list))
        {
            list = [];
            inbox.Add(id, list);
        }

        var existing = list.Find(m => m.Delivery.Message.MessageId == message.Delivery.Message.MessageId);
        if (existing is null)
        {
            list.Add(message);
            return;
        }

        existing.Refs.AddRange(message.Refs);
        existing.RecoveryHint |= message.RecoveryHint;
        existing.DequeueCount = Math.Max(existing.DequeueCount, message.DequeueCount);
        if (message.Done is not null)
        {
            if (existing.Done is null)
            {
                existing.Done = message.Done;
            }
            else
            {
                var first = existing.Done;
                _ = first.Task.ContinueWith(_ => message.Done.TrySetResult(), TaskScheduler.Default);
            }
        }

        if (message.CountsOutstanding && !existing.CountsOutstanding)
        {
            existing.CountsOutstanding = true;
        }
        else if (message.CountsOutstanding)
        {
            // A second in-process result for one task: count it once.
            outstanding[id] = outstanding.GetValueOrDefault(id) - 1;
        }
    }

    private void AddLocal(Delivery delivery, QueueRef? sent, bool countsOutstanding, bool signal = true)
    {
        if (!options.InProcessDispatch)
        {
            return;
        }

        var pending = new PendingMessage(delivery, time.GetUtcNow())
        {
            VisibleAt = delivery.Message.VisibleAt ?? DateTimeOffset.MinValue,
            CountsOutstanding = countsOutstanding,
        };
        if (sent is not null)
        {
            pending.Refs.Add(sent);
        }

        lock (gate)
        {
            Merge(pending);
        }

        if (signal)
        {
            Signal();
        }
    }

    /// <summary>Sends the durable copy of a message to its instance's control queue; returns where it is.</summary>
    private async Task<QueueRef> SendDurableAsync(Delivery delivery, CancellationToken cancellationToken)
    {
        var queue = options.ControlQueueOf(delivery.Message.InstanceId);
        var now = time.GetUtcNow();
        var delay = delivery.Message.VisibleAt is { } at && at > now ? at - now : TimeSpan.Zero;
        if (options.InProcessDispatch && delay < options.Lease)
        {
            // This process handles it now; the queue copy only matters if we die.
            delay = options.Lease;
        }

        if (delay > MaxQueueDelay)
        {
            delay = MaxQueueDelay;
        }

        var envelope = MessageCodec.From(delivery) with { SelfDispatched = options.InProcessDispatch ? true : null };
        var text = await codec.EncodeAsync(envelope, cancellationToken).ConfigureAwait(false);
        var sent = await queues.SendAsync(queue, text, delay == TimeSpan.Zero ? null : delay, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        return new QueueRef(queue, sent.MessageId, sent.PopReceipt, null) { HiddenUntil = now + delay };
    }

    private async Task SendActivityAsync(ActivityMessage activity, CancellationToken cancellationToken)
    {
        var text = await codec.EncodeAsync(MessageCodec.From(activity), cancellationToken).ConfigureAwait(false);
        await queues.SendAsync(options.WorkQueue, text, null, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
    }

    private async Task EnsureWatchdogAsync(string instanceId, List<PendingMessage> consumed, CancellationToken cancellationToken)
    {
        Watchdog? current;
        var now = time.GetUtcNow();
        lock (gate)
        {
            if (!watchdogs.TryGetValue(instanceId, out current)
                && consumed.SelectMany(m => m.Refs).Where(r => r.Blob is null && r.Queue != options.WorkQueue).MaxBy(r => r.HiddenUntil) is { } anchor)
            {
                // Keep a message this step consumes as the watchdog instead of sending one: if it comes back, its
                // receiver sees a message that was sent for in-process handling (or delivered twice) and re-dispatches.
                current = new Watchdog(anchor, anchor.HiddenUntil - options.Lease);
                watchdogs[instanceId] = current;
            }
        }

        if (current is not null)
        {
            if (now - current.RenewedAt < options.Lease / 3)
            {
                return;
            }

            try
            {
                var receipt = await queues.UpdateVisibilityAsync(current.Ref.Queue, current.Ref.MessageId, current.Ref.PopReceipt, options.Lease, cancellationToken).ConfigureAwait(false);
                lock (gate)
                {
                    watchdogs[instanceId] = new Watchdog(current.Ref with { PopReceipt = receipt, HiddenUntil = now + options.Lease }, now);
                }

                return;
            }
            catch (QueueNotFoundException)
            {
                // Another worker took the watchdog (it expired): it re-dispatches; we send a fresh one for our work.
            }
        }

        var queue = options.ControlQueueOf(instanceId);
        var text = MessageCodec.Serialize(new Envelope(EnvelopeKind.Recover, $"{instanceId}:recover:{Guid.NewGuid():N}", instanceId));
        var sent = await queues.SendAsync(queue, text, options.Lease, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        lock (gate)
        {
            watchdogs[instanceId] = new Watchdog(new QueueRef(queue, sent.MessageId, sent.PopReceipt, null) { HiddenUntil = now + options.Lease }, now);
        }
    }

    private async Task PollControlQueuesAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref pollingControl, 1) == 1)
        {
            return;
        }

        try
        {
            var counts = await Task.WhenAll(Enumerable.Range(0, options.ControlPartitions).Select(p => PollQueueAsync(options.ControlQueue(p), cancellationToken))).ConfigureAwait(false);
            controlPoll.Polled(time, counts.Sum() > 0, MinPoll, options.MaxQueuePollInterval);
        }
        finally
        {
            Volatile.Write(ref pollingControl, 0);
        }
    }

    private async Task PollWorkQueueAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref pollingWork, 1) == 1)
        {
            return;
        }

        try
        {
            var count = await PollQueueAsync(options.WorkQueue, cancellationToken).ConfigureAwait(false);
            workPoll.Polled(time, count > 0, MinPoll, options.MaxQueuePollInterval);
        }
        finally
        {
            Volatile.Write(ref pollingWork, 0);
        }
    }

    private async Task<int> PollQueueAsync(string queue, CancellationToken cancellationToken)
    {
        var received = await queues.ReceiveAsync(queue, 32, options.Lease, cancellationToken).ConfigureAwait(false);
        var hiddenUntil = time.GetUtcNow() + options.Lease;
        foreach (var message in received)
        {
            await IngestAsync(new QueueRef(queue, message.MessageId, message.PopReceipt, null) { HiddenUntil = hiddenUntil }, message.Text, message.DequeueCount, null, cancellationToken).ConfigureAwait(false);
        }

        return received.Count;
    }

    /// <summary>Turns a received queue message into in-memory work (or handles it: watchdogs, chained timers, poison).</summary>
    private async Task IngestAsync(QueueRef? reference, string text, long dequeueCount, TaskCompletionSource? done, CancellationToken cancellationToken)
    {
        Envelope envelope;
        string? blob;
        try
        {
            (envelope, blob) = await codec.DecodeAsync(text, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or BlobNotFoundException or InvalidDataException)
        {
            // The message goes to the poison queue first, so it is kept even if failing the instance fails.
            await PoisonRawAsync(reference, text, $"it cannot be read: {ex.Message}", cancellationToken).ConfigureAwait(false);
            if (TryReadInstanceId(text) is { } target)
            {
                await FailInstanceAsync(target, $"Message {TryReadField(text, "id") ?? reference?.MessageId} cannot be read ({ex.Message}); it was moved to queue '{options.PoisonQueue}'.", cancellationToken).ConfigureAwait(false);
            }

            done?.TrySetResult();
            return;
        }

        if (blob is not null && reference is not null)
        {
            reference = reference with { Blob = blob };
        }

        var now = time.GetUtcNow();
        switch (envelope.Kind)
        {
            case EnvelopeKind.Recover:
                await RecoverAsync(envelope.Instance, reference, cancellationToken).ConfigureAwait(false);
                done?.TrySetResult();
                return;
            case EnvelopeKind.Activity:
                ActivityMessage activity;
                try
                {
                    activity = MessageCodec.ToActivity(envelope);
                }
                catch (JsonException ex)
                {
                    await PoisonRawAsync(reference, text, ex.Message, cancellationToken).ConfigureAwait(false);
                    done?.TrySetResult();
                    return;
                }

                if (dequeueCount > options.MaxDequeueCount)
                {
                    await PoisonRawAsync(reference, text, $"delivered {dequeueCount} times", cancellationToken).ConfigureAwait(false);
                    await FailInstanceAsync(activity.InstanceId, $"Activity '{activity.Name}' (task {activity.TaskId}) message was delivered {dequeueCount} times without completing; it was moved to queue '{options.PoisonQueue}'.", cancellationToken).ConfigureAwait(false);
                    done?.TrySetResult();
                    return;
                }

                lock (gate)
                {
                    activities.AddLast(new LocalActivity(activity, reference, Fast: false) { DequeueCount = dequeueCount, Done = done });
                }

                return;
            case EnvelopeKind.Orchestration:
                Delivery delivery;
                try
                {
                    delivery = MessageCodec.ToDelivery(envelope);
                }
                catch (JsonException ex)
                {
                    await PoisonRawAsync(reference, text, ex.Message, cancellationToken).ConfigureAwait(false);
                    await FailInstanceAsync(envelope.Instance, $"Message {envelope.Id} cannot be read ({ex.Message}); it was moved to queue '{options.PoisonQueue}'.", cancellationToken).ConfigureAwait(false);
                    done?.TrySetResult();
                    return;
                }

                if (delivery.Message.VisibleAt is { } due && due - now > options.Lease && reference is not null)
                {
                    // A timer beyond the queue's 7-day limit arrives early: chain it with the remaining delay.
                    var again = await SendDurableAsync(delivery, cancellationToken).ConfigureAwait(false);
                    await queues.DeleteAsync(reference.Queue, reference.MessageId, reference.PopReceipt, cancellationToken).ConfigureAwait(false);
                    reference = again;
                }

                var pending = new PendingMessage(delivery, now)
                {
                    VisibleAt = delivery.Message.VisibleAt ?? DateTimeOffset.MinValue,
                    DequeueCount = dequeueCount,
                    Done = done,

                    // Sent by an in-process dispatcher (which would have consumed and deleted it in time), or delivered
                    // before: whoever handled it may have died with activities in flight.
                    RecoveryHint = envelope.SelfDispatched == true || dequeueCount > 1,
                };
                if (reference is not null)
                {
                    pending.Refs.Add(reference);
                }

                lock (gate)
                {
                    Merge(pending);
                }

                return;
            default:
                await PoisonRawAsync(reference, text, $"kind {envelope.Kind} is not expected here", cancellationToken).ConfigureAwait(false);
                done?.TrySetResult();
                return;
        }
    }

    private static string? TryReadInstanceId(string text) => TryReadField(text, "instance");

    private static string? TryReadField(string text, string field)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A watchdog became visible: keep it if this process is still working on the instance, else re-dispatch.</summary>
    private async Task RecoverAsync(string instanceId, QueueRef? reference, CancellationToken cancellationToken)
    {
        bool ours;
        lock (gate)
        {
            ours = watchdogs.ContainsKey(instanceId) && outstanding.GetValueOrDefault(instanceId) > 0;
        }

        if (ours && reference is null)
        {
            // Delivered by the Functions host, which deletes it when we return: replace it with a fresh watchdog.
            var queue = options.ControlQueueOf(instanceId);
            var text = MessageCodec.Serialize(new Envelope(EnvelopeKind.Recover, $"{instanceId}:recover:{Guid.NewGuid():N}", instanceId));
            var sent = await queues.SendAsync(queue, text, options.Lease, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            var now = time.GetUtcNow();
            lock (gate)
            {
                watchdogs[instanceId] = new Watchdog(new QueueRef(queue, sent.MessageId, sent.PopReceipt, null) { HiddenUntil = now + options.Lease }, now);
            }

            return;
        }

        if (ours && reference is not null)
        {
            var receipt = await queues.UpdateVisibilityAsync(reference.Queue, reference.MessageId, reference.PopReceipt, options.Lease, cancellationToken).ConfigureAwait(false);
            lock (gate)
            {
                watchdogs[instanceId] = new Watchdog(reference with { PopReceipt = receipt }, time.GetUtcNow());
            }

            return;
        }

        var record = await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false);
        var open = new List<TaskScheduled>();
        if (record is { State.IsTerminal: false })
        {
            var history = await instances.ReadHistoryAsync(instanceId, record, cancellationToken).ConfigureAwait(false);
            var done = history.Events.Select(e => e switch { TaskCompleted c => c.ScheduledId, TaskFailed f => f.ScheduledId, _ => -1 }).ToHashSet();
            open.AddRange(history.Events.OfType<TaskScheduled>().Where(s => !done.Contains(s.TaskId)));
        }

        LogRecovered(logger, instanceId, open.Count);
        var execution = record?.State.ExecutionId ?? string.Empty;
        var messages = open.Select(s => new ActivityMessage($"{instanceId}:{execution}:{s.TaskId}", instanceId, execution, s.TaskId, s.Name, s.Input)).ToList();
        if (open.Count > 0 && options.InProcessDispatch && reference is not null)
        {
            // Adopt the watchdog: this process now runs the open activities under it.
            var receipt = await queues.UpdateVisibilityAsync(reference.Queue, reference.MessageId, reference.PopReceipt, options.Lease, cancellationToken).ConfigureAwait(false);
            lock (gate)
            {
                watchdogs[instanceId] = new Watchdog(reference with { PopReceipt = receipt }, time.GetUtcNow());
                foreach (var m in messages)
                {
                    activities.AddLast(new LocalActivity(m, null, Fast: true));
                }

                outstanding[instanceId] = outstanding.GetValueOrDefault(instanceId) + messages.Count;
            }

            Signal();
            return;
        }

        await Task.WhenAll(messages.Select(m => SendActivityAsync(m, cancellationToken))).ConfigureAwait(false);
        if (reference is not null)
        {
            await queues.DeleteAsync(reference.Queue, reference.MessageId, reference.PopReceipt, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task PoisonAsync(string instanceId, PendingMessage message, string reason)
    {
        await queues.SendAsync(options.PoisonQueue, await codec.EncodeAsync(MessageCodec.From(message.Delivery), CancellationToken.None).ConfigureAwait(false), null, Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        LogPoisoned(logger, message.Delivery.Message.MessageId, options.PoisonQueue, reason);
        await FailInstanceAsync(instanceId, $"Message {message.Delivery.Message.MessageId} ({message.Delivery.Message.Event.EventType}) was moved to queue '{options.PoisonQueue}' because {reason}.", CancellationToken.None).ConfigureAwait(false);
        lock (gate)
        {
            RemoveConsumed(instanceId, [message]);
        }
    }

    private async Task PoisonActivityAsync(LocalActivity local)
    {
        var attempts = Math.Max(local.Attempts, local.DequeueCount);
        var reason = $"Activity '{local.Message.Name}' (task {local.Message.TaskId}) failed to complete {attempts} times; its message was moved to queue '{options.PoisonQueue}'.";
        LogPoisoned(logger, local.Message.MessageId, options.PoisonQueue, reason);
        await queues.SendAsync(options.PoisonQueue, await codec.EncodeAsync(MessageCodec.From(local.Message), CancellationToken.None).ConfigureAwait(false), null, Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        await FailInstanceAsync(local.Message.InstanceId, reason, CancellationToken.None).ConfigureAwait(false);
        if (local.Ref is { } reference)
        {
            await queues.DeleteAsync(reference.Queue, reference.MessageId, reference.PopReceipt).ConfigureAwait(false);
        }

        local.Done?.TrySetResult();
        if (local.Fast)
        {
            lock (gate)
            {
                outstanding[local.Message.InstanceId] = outstanding.GetValueOrDefault(local.Message.InstanceId) - 1;
            }
        }
    }

    private async Task PoisonRawAsync(QueueRef? reference, string text, string reason, CancellationToken cancellationToken)
    {
        LogPoisoned(logger, reference?.MessageId ?? "(delivered)", options.PoisonQueue, reason);
        if (MessageCodec.MaxInlineEncodedBytes >= (System.Text.Encoding.UTF8.GetByteCount(text) + 2) / 3 * 4)
        {
            await queues.SendAsync(options.PoisonQueue, text, null, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        }

        if (reference is not null)
        {
            await queues.DeleteAsync(reference.Queue, reference.MessageId, reference.PopReceipt, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Marks a live instance Failed with <paramref name="reason"/> (ETag-guarded, retried on races).</summary>
    private async Task FailInstanceAsync(string instanceId, string reason, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var record = await instances.ReadAsync(instanceId, cancellationToken).ConfigureAwait(false);
            if (record is null || record.State.IsTerminal)
            {
                return;
            }

            var state = record.State with
            {
                Status = OrchestrationRuntimeStatus.Failed,
                Failure = new FailureDetails("PoisonMessage", reason, null),
                LastUpdatedAt = time.GetUtcNow(),
            };
            var body = await instances.InstanceBodyAsync(state, record.HistoryExecution, record.Pages, cancellationToken).ConfigureAwait(false);
            try
            {
                await instances.Container.ReplaceAsync(instanceId, InstanceStore.InstanceId, body, record.ETag, cancellationToken).ConfigureAwait(false);
                lock (gate)
                {
                    cache.Remove(instanceId);
                }

                return;
            }
            catch (DocumentPreconditionFailedException)
            {
                // A step committed meanwhile: read again.
            }
        }
    }

    private void DeleteInBackground(QueueRef reference)
    {
        Background(async () =>
        {
            await queues.DeleteAsync(reference.Queue, reference.MessageId, reference.PopReceipt).ConfigureAwait(false);
            if (reference.Blob is not null)
            {
                await blobs.DeleteAsync(options.PayloadContainer, reference.Blob).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Runs best-effort work off the critical path (deletes whose failure only leaves a duplicate behind).</summary>
    private void Background(Func<Task> work)
    {
        Interlocked.Increment(ref backgroundCount);
        _ = Task.Run(async () =>
        {
            await backgroundSlots.WaitAsync().ConfigureAwait(false);
            try
            {
                if (!crashed)
                {
                    await work().ConfigureAwait(false);
                }
            }
#pragma warning disable CA1031 // Best effort: a failed delete leaves a duplicate that is dropped when it comes back.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogBackgroundFailed(logger, ex);
            }
            finally
            {
                backgroundSlots.Release();
                Interlocked.Decrement(ref backgroundCount);
            }
        });
    }

    private void MaybeCrash(CommitStage stage, string instanceId)
    {
        if (options.CrashAt?.Invoke(stage, instanceId) == true)
        {
            crashed = true;
            throw new SimulatedCrashException(stage);
        }
    }

    private void Signal()
    {
        if (wakeUp.CurrentCount == 0)
        {
            try
            {
                wakeUp.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Instance {InstanceId}: dropped message {MessageId}, which completes a task id that history gave to different work")]
    private static partial void LogMismatch(ILogger logger, string instanceId, string messageId);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "Instance {InstanceId}: watchdog expired; re-dispatching {Count} open activities")]
    private static partial void LogRecovered(ILogger logger, string instanceId, int count);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Error, Message = "Moved message {MessageId} to {PoisonQueue}: {Reason}")]
    private static partial void LogPoisoned(ILogger logger, string messageId, string poisonQueue, string reason);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "Background queue clean-up failed; the message will come back as a duplicate and be dropped")]
    private static partial void LogBackgroundFailed(ILogger logger, Exception exception);

    private sealed record QueueRef(string Queue, string MessageId, string PopReceipt, string? Blob)
    {
        /// <summary>When the message becomes visible again unless extended.</summary>
        public DateTimeOffset HiddenUntil { get; init; }
    }

    /// <summary>When to poll a set of queues next: soon after finding messages, backing off to the maximum when idle.</summary>
    private sealed class PollClock
    {
        private readonly Lock gate = new();
        private long next;
        private TimeSpan interval;

        public bool Due(TimeProvider time, TimeSpan min)
        {
            var now = time.GetTimestamp();
            lock (gate)
            {
                if (now < next)
                {
                    return false;
                }

                // Claim this poll; Polled sets the real next time.
                next = now + (long)(min.TotalSeconds * time.TimestampFrequency);
                return true;
            }
        }

        public void Polled(TimeProvider time, bool found, TimeSpan min, TimeSpan max)
        {
            lock (gate)
            {
                interval = found || interval == TimeSpan.Zero ? min : TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, max.Ticks));
                next = time.GetTimestamp() + (long)(interval.TotalSeconds * time.TimestampFrequency);
            }
        }
    }

    private sealed record Watchdog(QueueRef Ref, DateTimeOffset RenewedAt);

    private sealed record Step(string InstanceId, List<PendingMessage> Messages, InstanceRecord? Record, CachedHistory? History);

    private sealed class PendingMessage(Delivery delivery, DateTimeOffset firstSeen)
    {
        public Delivery Delivery { get; } = delivery;

        public DateTimeOffset FirstSeen { get; } = firstSeen;

        public List<QueueRef> Refs { get; } = [];

        public DateTimeOffset VisibleAt { get; set; } = DateTimeOffset.MinValue;

        public string? Lease { get; set; }

        public int Attempts { get; set; }

        public long DequeueCount { get; set; }

        public bool CountsOutstanding { get; set; }

        public bool RecoveryHint { get; set; }

        public TaskCompletionSource? Done { get; set; }
    }

    private sealed class LocalActivity(ActivityMessage message, QueueRef? reference, bool Fast)
    {
        public ActivityMessage Message { get; } = message;

        public QueueRef? Ref { get; set; } = reference;

        public bool Fast { get; } = Fast;

        public DateTimeOffset VisibleAt { get; set; } = DateTimeOffset.MinValue;

        public string? Lease { get; set; }

        public int Attempts { get; set; }

        public long DequeueCount { get; init; }

        public TaskCompletionSource? Done { get; init; }
    }
}
