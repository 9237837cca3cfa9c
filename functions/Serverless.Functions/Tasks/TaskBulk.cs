using System.Text.Json.Nodes;
using Serverless.Durable;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Activity;
using Serverless.Functions.Items;

namespace Serverless.Functions.Tasks;

/// <summary>The bulk changes a task's items can go through.</summary>
public static class TaskBulkKinds
{
    /// <summary>One assignee's open items go to another user.</summary>
    public const string Reassign = "reassign";

    /// <summary>Every open item (assigned or in the pool) is dealt out again among a new set of assignees.</summary>
    public const string Redistribute = "redistribute";

    /// <summary>A status set (or cleared) on the task's items chosen by a filter or an id list.</summary>
    public const string Status = "status";
}

/// <summary>
/// Input of <see cref="TaskBulkOrchestrator"/>, and its state across continue-as-new. <c>AfterId</c> is the
/// keyset cursor over the task's open items (reassign, redistribute); <c>Token</c>/<c>Offset</c> the cursor over
/// the dataset's items (status). <c>Seen</c> counts items dealt out (it drives who gets the next one).
/// <c>Paged</c> is true for instances that run one <see cref="ApplyTaskBulkPage"/> per page; false only in the input
/// of instances started by an earlier version, which must replay their current execution as they scheduled it.
/// </summary>
public sealed record TaskBulkInput(
    string ProjectId,
    string TaskId,
    string DatasetId,
    string Kind,
    string By,
    string Source,
    string? From = null,
    string? To = null,
    IReadOnlyList<TaskAssignee>? Assignees = null,
    string? Status = null,
    string? FilterJson = null,
    IReadOnlyList<string>? ItemIds = null,
    string? AfterId = null,
    string? Token = null,
    int Offset = 0,
    long Seen = 0,
    TaskBulkCounts? Counts = null,
    bool Paged = false);

/// <summary>Progress and result of a bulk change: items changed, left as they were, refused (holding another status), not in the task.</summary>
public sealed record TaskBulkCounts(long Changed, long Unchanged, long Conflicts, long NotInTask, bool Done = false)
{
    public static TaskBulkCounts Zero { get; } = new(0, 0, 0, 0);

    public TaskBulkCounts Plus(TaskBulkCounts other) => new(Changed + other.Changed, Unchanged + other.Unchanged, Conflicts + other.Conflicts, NotInTask + other.NotInTask);
}

/// <summary>Input of the chunk activity: the ids and their positions in the deal (redistribution).</summary>
public sealed record TaskBulkChunkRequest(TaskBulkInput Bulk, long FirstIndex, IReadOnlyList<string> ItemIds, string InstanceId);

/// <summary>Input of the page activity over a task's open items.</summary>
public sealed record OpenTaskItemsRequest(string TaskId, string? Assignee, string? AfterId, int PageSize);

/// <summary>
/// Input of <see cref="ApplyTaskBulkPage"/>: the bulk with its cursor, and for an id list the ids of this page; a status
/// change by filter may take up to <c>Pages</c> pages, anything else takes one (instances started before <c>Pages</c>
/// existed ask for one).
/// </summary>
public sealed record TaskBulkPageRequest(TaskBulkInput Bulk, IReadOnlyList<string>? ItemIds, string InstanceId, int Pages = 1);

/// <summary>What one page did: items read, their counts, and where the next page starts (<c>NextToken</c> over the dataset, <c>LastId</c> over the task's open items).</summary>
public sealed record TaskBulkPageResult(int Seen, TaskBulkCounts Counts, string? NextToken, string? LastId);

/// <summary>
/// Reassigns, redistributes, or sets statuses over a task's items a page at a time: one activity per page (up to
/// <see cref="PagesPerActivity"/> pages for a status change by filter, see <see cref="SourcePagePipeline"/>) reads it
/// and applies it in parallel chunks, history keeps only the cursor and the counts, and the orchestration continues
/// as new every few activities. Each chunk is one atomic batch guarded by the items' ETags (see
/// <see cref="TaskStore.ApplyChunkAsync"/>), so single status changes made meanwhile win and are never undone.
/// </summary>
/// <remarks>
/// Until an earlier version's instance reaches its next continue-as-new, it replays as it was scheduled: an
/// activity reading the page's ids, then one <see cref="ApplyTaskBulkChunk"/> per chunk (<see cref="RunUnpagedAsync"/>).
/// Reading and writing a page in one activity (with its chunks really in parallel) about halved the CPU per batch
/// status: ids no longer travel through history and queue messages, and the task read and the activity log are per page.
/// </remarks>
public sealed class TaskBulkOrchestrator : TaskOrchestrator<TaskBulkInput, TaskBulkCounts>
{
    /// <summary>Items per page.</summary>
    public const int PageSize = 1000;

    /// <summary>Activities per execution before continuing as new (two small events per activity in history).</summary>
    public const int PagesPerExecution = 50;

    /// <summary>
    /// Pages one activity takes for a status change by filter: each next page is read while the one before is
    /// applied, and two pages are applied at once, so the single SQLite writer always has batches queued.
    /// </summary>
    public const int PagesPerActivity = 4;

    /// <summary>Page size of the earlier version (instances started by it replay with it).</summary>
    private const int UnpagedPageSize = 800;

    /// <summary>Pages per execution of the earlier version.</summary>
    private const int UnpagedPagesPerExecution = 10;

    public override async Task<TaskBulkCounts> RunAsync(TaskOrchestrationContext context, TaskBulkInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var state = input with { Counts = input.Counts ?? TaskBulkCounts.Zero };
        if (state.Seen == 0 && state.AfterId is null && state.Token is null && state.Offset == 0)
        {
            await context.CallActivityAsync<bool>(nameof(BeginTaskBulk), state);
        }

        if (!state.Paged)
        {
            return await RunUnpagedAsync(context, state);
        }

        for (var page = 0; page < PagesPerExecution; page++)
        {
            var ids = state.Kind == TaskBulkKinds.Status ? state.ItemIds?.Skip(state.Offset).Take(Serverless.Core.Filters.FilterLimits.MaxListValues).ToList() : null;
            var done = await context.CallActivityAsync<TaskBulkPageResult>(nameof(ApplyTaskBulkPage), new TaskBulkPageRequest(ChunkBulk(state), ids, context.InstanceId, PagesPerActivity));
            var counts = state.Counts!.Plus(done.Counts);
            state = state with
            {
                Token = done.NextToken,
                AfterId = done.LastId ?? state.AfterId,
                Offset = state.Offset + (ids?.Count ?? 0),
                Seen = state.Seen + done.Seen,
                Counts = counts,
            };
            context.SetCustomStatus(counts);
            var end = state.Kind != TaskBulkKinds.Status ? done.Seen < PageSize
                : state.ItemIds is not null ? state.Offset >= state.ItemIds.Count
                : state.Token is null;
            if (end)
            {
                return await FinishAsync(context, state);
            }
        }

        context.ContinueAsNew(state);
        return state.Counts!;
    }

    private static async Task<TaskBulkCounts> FinishAsync(TaskOrchestrationContext context, TaskBulkInput state)
    {
        await context.CallActivityAsync<bool>(nameof(FinishTaskBulk), state);
        var done = state.Counts! with { Done = true };
        context.SetCustomStatus(done);
        return done;
    }

    /// <summary>The earlier version's loop, for the rest of the current execution of an instance it started; then continues as new, paged.</summary>
    private static async Task<TaskBulkCounts> RunUnpagedAsync(TaskOrchestrationContext context, TaskBulkInput state)
    {
        for (var page = 0; page < UnpagedPagesPerExecution; page++)
        {
            var (ids, next) = await ReadPageAsync(context, state);
            var chunks = ids.Chunk(TaskStore.BulkChunk).Select((chunk, i) => context.CallActivityAsync<TaskBulkCounts>(nameof(ApplyTaskBulkChunk),
                new TaskBulkChunkRequest(ChunkBulk(state), state.Seen + ((long)i * TaskStore.BulkChunk), chunk, context.InstanceId)));
            var counts = (await Task.WhenAll(chunks)).Aggregate(state.Counts!, (sum, c) => sum.Plus(c));
            state = next with { Seen = state.Seen + ids.Count, Counts = counts };
            context.SetCustomStatus(counts);
            if (ids.Count == 0 || (state.Kind == TaskBulkKinds.Status && state.Token is null && (state.ItemIds is null || state.Offset >= state.ItemIds.Count)))
            {
                return await FinishAsync(context, state);
            }
        }

        context.ContinueAsNew(state with { Paged = true });
        return state.Counts!;
    }

    /// <summary>
    /// What a page or chunk needs of the bulk: not the id list (up to 10,000 ids, which every input would otherwise
    /// carry into history and onto the queue), nor the counts.
    /// </summary>
    private static TaskBulkInput ChunkBulk(TaskBulkInput state) => state with { Counts = null, ItemIds = null };

    /// <summary>The earlier version's page of ids and the state that points past it.</summary>
    private static async Task<(IReadOnlyList<string> Ids, TaskBulkInput Next)> ReadPageAsync(TaskOrchestrationContext context, TaskBulkInput state)
    {
        if (state.Kind == TaskBulkKinds.Status)
        {
            var ids = state.ItemIds?.Skip(state.Offset).Take(Serverless.Core.Filters.FilterLimits.MaxListValues).ToList();
            var source = await context.CallActivityAsync<TaskSourcePage>(nameof(ReadTaskSourcePage),
                new TaskSourcePageRequest(state.DatasetId, state.FilterJson, ids, state.Token, UnpagedPageSize));
            return ([.. source.Items.Select(i => i.Id)], state with { Token = source.NextToken, Offset = state.Offset + (ids?.Count ?? 0) });
        }

        var assignee = state.Kind == TaskBulkKinds.Reassign ? state.From : null;
        var open = await context.CallActivityAsync<IReadOnlyList<string>>(nameof(ReadOpenTaskItems), new OpenTaskItemsRequest(state.TaskId, assignee, state.AfterId, UnpagedPageSize));
        return (open, state with { AfterId = open.Count > 0 ? open[^1] : state.AfterId });
    }
}

/// <summary>
/// Reads one page of a task's open items (ids), keyset-paged by id. No longer scheduled (see <see cref="ApplyTaskBulkPage"/>);
/// kept so that an instance started by an earlier version replays.
/// </summary>
public sealed class ReadOpenTaskItems(TaskStore tasks) : TaskActivity<OpenTaskItemsRequest, IReadOnlyList<string>>
{
    public override async Task<IReadOnlyList<string>> RunAsync(TaskActivityContext context, OpenTaskItemsRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var page = await tasks.OpenItemsAfterAsync(input.TaskId, input.Assignee, input.AfterId, input.PageSize, CancellationToken.None);
        return [.. page.Select(i => i.ItemId)];
    }
}

/// <summary>
/// Before the first chunk: the task's assignee list becomes the new one (so "start next" and later additions
/// follow it) and every new assignee gets zeroed counters (the chunks' increments need them). Idempotent.
/// </summary>
public sealed class BeginTaskBulk(TaskStore tasks) : TaskActivity<TaskBulkInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, TaskBulkInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var newcomers = input.Kind switch
        {
            TaskBulkKinds.Reassign => [input.To!],
            TaskBulkKinds.Redistribute => input.Assignees!.Select(a => a.UserId).ToList(),
            _ => [],
        };
        foreach (var user in newcomers)
        {
            await tasks.EnsureAssigneeAsync(input.TaskId, user, CancellationToken.None);
        }

        if (input.Kind is TaskBulkKinds.Reassign or TaskBulkKinds.Redistribute)
        {
            await tasks.SetAssigneesAsync(input.ProjectId, input.TaskId, current => input.Kind == TaskBulkKinds.Redistribute
                ? input.Assignees!
                : TaskBulkRules.Reassigned(current, input.From!, input.To!), CancellationToken.None);
        }

        return true;
    }
}

/// <summary>
/// Applies the bulk change to one page: reads it (the dataset's items for a status, else the task's open items after
/// the cursor), then applies it (see <see cref="TaskBulkApplier"/>). Idempotent: a page re-done after a crash finds its
/// items already changed and keeps them.
/// </summary>
/// <remarks>
/// A page re-done is read again, so it may hold other items than the first attempt: for reassign the items already
/// moved are no longer the old assignee's, and the page reaches further; for redistribution an item given a status
/// meanwhile drops out and the later ones shift one position in the deal. Every item is still decided once per
/// attempt under its ETag, and the counters always match the items.
/// </remarks>
public sealed class ApplyTaskBulkPage(ItemStore items, TaskStore tasks, ActivityLog activity, DurableClient durable, TimeProvider time) : TaskActivity<TaskBulkPageRequest, TaskBulkPageResult>
{
    public override async Task<TaskBulkPageResult> RunAsync(TaskActivityContext context, TaskBulkPageRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var bulk = input.Bulk;
        var applier = new TaskBulkApplier(tasks, activity, durable, time);
        if (bulk.Kind != TaskBulkKinds.Status)
        {
            var assignee = bulk.Kind == TaskBulkKinds.Reassign ? bulk.From : null;
            IReadOnlyList<string> open = [.. (await tasks.OpenItemsAfterAsync(bulk.TaskId, assignee, bulk.AfterId, TaskBulkOrchestrator.PageSize, CancellationToken.None)).Select(i => i.ItemId)];
            var changed = await applier.ApplyAsync(bulk, open, bulk.Seen, input.InstanceId, CancellationToken.None);
            return new TaskBulkPageResult(open.Count, changed, null, open.Count > 0 ? open[^1] : null);
        }

        Task<TaskSourcePage> Read(string? token) =>
            ReadTaskSourcePage.ReadAsync(items, new TaskSourcePageRequest(bulk.DatasetId, bulk.FilterJson, input.ItemIds, token, TaskBulkOrchestrator.PageSize));

        var done = await SourcePagePipeline.RunAsync(Read, bulk.Token, input.ItemIds is null ? input.Pages : 1, (page, offset) =>
        {
            IReadOnlyList<string> ids = [.. page.Items.Select(i => i.Id)];
            return Task.Run(() => applier.ApplyAsync(bulk, ids, bulk.Seen + offset, input.InstanceId, CancellationToken.None));
        });
        return new TaskBulkPageResult(done.Seen, done.Results.Aggregate(TaskBulkCounts.Zero, (sum, c) => sum.Plus(c)), done.NextToken, done.LastId);
    }
}

/// <summary>
/// Applies the bulk change to one chunk. No longer scheduled (see <see cref="ApplyTaskBulkPage"/>); kept so that an
/// instance started by an earlier version replays.
/// </summary>
public sealed class ApplyTaskBulkChunk(TaskStore tasks, ActivityLog activity, DurableClient durable, TimeProvider time) : TaskActivity<TaskBulkChunkRequest, TaskBulkCounts>
{
    public override Task<TaskBulkCounts> RunAsync(TaskActivityContext context, TaskBulkChunkRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new TaskBulkApplier(tasks, activity, durable, time).ApplyAsync(input.Bulk, input.ItemIds, input.FirstIndex, input.InstanceId, CancellationToken.None);
    }
}

/// <summary>
/// Applies a bulk change to a list of a task's items: chunks of <see cref="TaskStore.BulkChunk"/> in parallel (on
/// SQLite they share commits), each followed, for a status, by the statuses' mirror on the items; then feeds QA and
/// writes the activity log. Every step is idempotent, so the whole may run again.
/// </summary>
internal sealed class TaskBulkApplier(TaskStore tasks, ActivityLog activity, DurableClient durable, TimeProvider time)
{
    /// <summary>Applies the change to <paramref name="itemIds"/>, dealt from position <paramref name="firstIndex"/> on.</summary>
    public async Task<TaskBulkCounts> ApplyAsync(TaskBulkInput bulk, IReadOnlyList<string> itemIds, long firstIndex, string instanceId, CancellationToken ct)
    {
        var positions = new Dictionary<string, long>(itemIds.Count, StringComparer.Ordinal);
        for (var i = 0; i < itemIds.Count; i++)
        {
            positions[itemIds[i]] = firstIndex + i;
        }

        var now = Serverless.Core.Filters.StoredTimestamp.Format(time.GetUtcNow());
        ItemDecision Decide(TaskItem item) => TaskBulkRules.Decide(bulk, item, positions[item.ItemId], now).Decision;

        // Each chunk on a pool thread: the SQLite store completes a write synchronously when its lock is free, so
        // without Task.Run the chunks would run one after another on this thread. Side by side, their reads and JSON
        // work use both cores and their writes queue up and share commits.
        var results = await Task.WhenAll(itemIds.Chunk(TaskStore.BulkChunk).Select(chunk => Task.Run(async () =>
        {
            var result = await tasks.ApplyChunkAsync(bulk.TaskId, chunk, Decide, ct);
            if (bulk.Kind == TaskBulkKinds.Status)
            {
                // Mirrors every item as it stands, not only the ones this run changed: a retry after a crash between
                // the two writes finds its items "unchanged" and must still mirror them.
                await tasks.MirrorStatusesAsync(bulk.DatasetId, bulk.TaskId, [.. result.Final.Select(i => (i.ItemId, i.Status))], ct);
            }

            return result;
        }, ct)));

        if (bulk.Kind == TaskBulkKinds.Status)
        {
            await AfterStatusesAsync(bulk, results, instanceId, now, ct);
        }

        // Refusals counted on the items as they ended, not while deciding: a chunk that lost a race decides again, and
        // counting then would count its refusals once per attempt.
        var conflicts = results.Sum(r => r.Final.Count(i => TaskBulkRules.Decide(bulk, i, positions[i.ItemId], now).Conflict));
        var changed = results.Sum(r => r.Changed.Count);
        return new TaskBulkCounts(changed, results.Sum(r => r.Unchanged) - conflicts, conflicts, results.Sum(r => r.Missing));
    }

    private async Task AfterStatusesAsync(TaskBulkInput bulk, BulkChunkResult[] results, string instanceId, string now, CancellationToken ct)
    {
        var changes = results.SelectMany(r => r.Changed).ToList();
        if (changes.Count == 0 || await tasks.GetAsync(bulk.ProjectId, bulk.TaskId, ct) is not { } task)
        {
            return;
        }

        var changed = changes.Select(c => c.After!).ToList();
        if (task.Type == "annotation" && task.QaTaskId is { } qaTaskId && bulk.Status == "COMPLETED" && await tasks.GetAsync(bulk.ProjectId, qaTaskId, ct) is { } qa)
        {
            var reviewers = qa.Assignees.Select(a => a.UserId).ToList();
            await tasks.AddItemsAsync(qaTaskId, [.. changed.Select(i => new TaskItem(i.ItemId, i.DatasetId, i.Name, QaHandoffOrchestrator.ReviewerFor(i.ItemId, reviewers), null, null, null, 0, false))], ct);
        }
        else if (task.Type == "qa")
        {
            foreach (var item in changed)
            {
                await QaApi.AfterStatusChangeAsync(task, item, durable, ct);
            }
        }

        var stage = task.Type == "qa" ? "qa" : "annotation";
        await activity.RecordAsync([.. changes.Select(c => new ActivityEvent(TaskBulkRules.EventId(instanceId, c.Before.ItemId), bulk.ProjectId, bulk.Status is null ? "status.cleared" : "status.set",
            bulk.By, bulk.Source, now, TaskId: bulk.TaskId, Stage: stage, DatasetId: bulk.DatasetId, ItemId: c.Before.ItemId,
            Data: new JsonObject { ["status"] = bulk.Status, ["previous"] = c.Before.Status, ["assignee"] = c.Before.Assignee, ["batch"] = true }))], ct);
    }
}

/// <summary>After the last chunk: the task's state follows its counters (completed when every item has a status).</summary>
public sealed class FinishTaskBulk(TaskStore tasks) : TaskActivity<TaskBulkInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, TaskBulkInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var task = await tasks.GetAsync(input.ProjectId, input.TaskId, CancellationToken.None);
        await tasks.SyncStateAsync(task, await tasks.GetProgressAsync(input.TaskId, CancellationToken.None), CancellationToken.None);
        return true;
    }
}

/// <summary>What each bulk kind does to one item; pure, so retries decide the same way.</summary>
public static class TaskBulkRules
{
    /// <summary>The decision for <paramref name="item"/> at <paramref name="position"/>, and whether it is a refusal (another status held).</summary>
    public static (ItemDecision Decision, bool Conflict) Decide(TaskBulkInput bulk, TaskItem item, long position, string now)
    {
        ArgumentNullException.ThrowIfNull(bulk);
        ArgumentNullException.ThrowIfNull(item);
        switch (bulk.Kind)
        {
            case TaskBulkKinds.Reassign:
                // Only items still open and still theirs: one done meanwhile stays credited to whoever did it.
                return (item.Status is null && item.Assignee == bulk.From ? ItemDecision.Set(item with { Assignee = bulk.To }) : ItemDecision.Keep, false);
            case TaskBulkKinds.Redistribute:
                var assignee = TaskSplitOrchestrator.AssigneeFor(position, bulk.Assignees!);
                return (item.Status is null ? ItemDecision.Set(item with { Assignee = assignee }) : ItemDecision.Keep, false);
            default:
                if (item.Status == bulk.Status)
                {
                    return (ItemDecision.Keep, false);
                }

                if (bulk.Status is null)
                {
                    return (ItemDecision.Set(item with { Status = null, StatusBy = null, StatusAt = null }), false);
                }

                return item.Status is null
                    ? (ItemDecision.Set(item with { Status = bulk.Status, StatusBy = bulk.By, StatusAt = now, Reopened = false }), false)
                    : (ItemDecision.Keep, true);
        }
    }

    /// <summary>
    /// The id of the activity event for <paramref name="itemId"/> in bulk change <paramref name="instanceId"/>: the same
    /// on every retry, so a re-done page never records an event twice. A digest of the instance id rather than the id
    /// itself (about 80 characters): the analytics projector's checkpoint holds the ids of its last 10 s of events, and at
    /// a few thousand batch events a second the long ids took it past the 2 MB document limit.
    /// </summary>
    public static string EventId(string instanceId, string itemId) =>
        $"b{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(instanceId)).AsSpan(0, 8))}.{itemId}";

    /// <summary>The assignee list after <paramref name="from"/>'s share moves to <paramref name="to"/> (merged when they already had one).</summary>
    public static IReadOnlyList<TaskAssignee> Reassigned(IReadOnlyList<TaskAssignee> current, string from, string to)
    {
        ArgumentNullException.ThrowIfNull(current);
        var share = current.Where(a => a.UserId == from).Sum(a => a.Share);
        var result = current.Where(a => a.UserId != from).ToList();
        var existing = result.FindIndex(a => a.UserId == to);
        if (existing >= 0)
        {
            result[existing] = result[existing] with { Share = result[existing].Share + share };
        }
        else
        {
            result.Add(new TaskAssignee(to, share));
        }

        return result;
    }
}
