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
    TaskBulkCounts? Counts = null);

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
/// Reassigns, redistributes, or sets statuses over a task's items in bounded, idempotent chunks (fan-out per
/// page, continue-as-new every few pages). Each chunk is one atomic batch guarded by the items' ETags (see
/// <see cref="TaskStore.ApplyChunkAsync"/>), so single status changes made meanwhile win and are never undone.
/// </summary>
public sealed class TaskBulkOrchestrator : TaskOrchestrator<TaskBulkInput, TaskBulkCounts>
{
    public const int PageSize = 800;

    public const int PagesPerExecution = 10;

    public override async Task<TaskBulkCounts> RunAsync(TaskOrchestrationContext context, TaskBulkInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var state = input with { Counts = input.Counts ?? TaskBulkCounts.Zero };
        if (state.Seen == 0 && state.AfterId is null && state.Token is null && state.Offset == 0)
        {
            await context.CallActivityAsync<bool>(nameof(BeginTaskBulk), state);
        }

        for (var page = 0; page < PagesPerExecution; page++)
        {
            var (ids, next) = await ReadPageAsync(context, state);
            var chunks = ids.Chunk(TaskStore.BulkChunk).Select((chunk, i) => context.CallActivityAsync<TaskBulkCounts>(nameof(ApplyTaskBulkChunk),
                new TaskBulkChunkRequest(ChunkBulk(state), state.Seen + ((long)i * TaskStore.BulkChunk), chunk, context.InstanceId)));
            var counts = (await Task.WhenAll(chunks)).Aggregate(state.Counts!, (sum, c) => sum.Plus(c));
            state = next with { Seen = state.Seen + ids.Count, Counts = counts };
            context.SetCustomStatus(counts);
            if (ids.Count == 0 || (state.Kind == TaskBulkKinds.Status && state.Token is null && (state.ItemIds is null || state.Offset >= state.ItemIds.Count)))
            {
                await context.CallActivityAsync<bool>(nameof(FinishTaskBulk), state);
                var done = counts with { Done = true };
                context.SetCustomStatus(done);
                return done;
            }
        }

        context.ContinueAsNew(state);
        return state.Counts!;
    }

    /// <summary>
    /// What a chunk needs of the bulk: not the id list (up to 10,000 ids, which every chunk's input would otherwise
    /// carry into history and onto the queue), nor the counts.
    /// </summary>
    private static TaskBulkInput ChunkBulk(TaskBulkInput state) => state with { Counts = null, ItemIds = null };

    /// <summary>The next page of ids and the state that points past it.</summary>
    private static async Task<(IReadOnlyList<string> Ids, TaskBulkInput Next)> ReadPageAsync(TaskOrchestrationContext context, TaskBulkInput state)
    {
        if (state.Kind == TaskBulkKinds.Status)
        {
            var ids = state.ItemIds?.Skip(state.Offset).Take(Serverless.Core.Filters.FilterLimits.MaxListValues).ToList();
            var source = await context.CallActivityAsync<TaskSourcePage>(nameof(ReadTaskSourcePage),
                new TaskSourcePageRequest(state.DatasetId, state.FilterJson, ids, state.Token, PageSize));
            return ([.. source.Items.Select(i => i.Id)], state with { Token = source.NextToken, Offset = state.Offset + (ids?.Count ?? 0) });
        }

        var assignee = state.Kind == TaskBulkKinds.Reassign ? state.From : null;
        var open = await context.CallActivityAsync<IReadOnlyList<string>>(nameof(ReadOpenTaskItems), new OpenTaskItemsRequest(state.TaskId, assignee, state.AfterId, PageSize));
        return (open, state with { AfterId = open.Count > 0 ? open[^1] : state.AfterId });
    }
}

/// <summary>Reads one page of a task's open items (ids), keyset-paged by id.</summary>
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

/// <summary>Applies the bulk change to one chunk, then mirrors statuses, feeds QA and the activity log (all idempotent).</summary>
public sealed class ApplyTaskBulkChunk(TaskStore tasks, ActivityLog activity, DurableClient durable, TimeProvider time) : TaskActivity<TaskBulkChunkRequest, TaskBulkCounts>
{
    public override async Task<TaskBulkCounts> RunAsync(TaskActivityContext context, TaskBulkChunkRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var bulk = input.Bulk;
        var positions = input.ItemIds.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => input.FirstIndex + p.i, StringComparer.Ordinal);
        var conflicts = 0;
        var now = Serverless.Core.Filters.StoredTimestamp.Format(time.GetUtcNow());
        var result = await tasks.ApplyChunkAsync(bulk.TaskId, input.ItemIds, item =>
        {
            var decision = TaskBulkRules.Decide(bulk, item, positions[item.ItemId], now);
            conflicts += decision.Conflict ? 1 : 0;
            return decision.Decision;
        }, CancellationToken.None);

        if (bulk.Kind == TaskBulkKinds.Status)
        {
            await AfterStatusesAsync(input, result, now, CancellationToken.None);
        }

        return new TaskBulkCounts(result.Changed.Count, result.Unchanged - conflicts, conflicts, result.Missing);
    }

    private async Task AfterStatusesAsync(TaskBulkChunkRequest input, BulkChunkResult result, string now, CancellationToken ct)
    {
        var bulk = input.Bulk;

        // Mirrors every item of the chunk as it stands, not only the ones this run changed: a retry after a crash
        // between the two writes finds its items "unchanged" and must still mirror them. The mirror and the task read
        // run side by side (different documents; on SQLite the mirror shares a commit with the other chunks' writes).
        var mirrored = tasks.MirrorStatusesAsync(bulk.DatasetId, bulk.TaskId, [.. result.Final.Select(i => (i.ItemId, i.Status))], ct);
        var read = result.Changed.Count == 0 ? Task.FromResult<LabelingTask?>(null) : tasks.GetAsync(bulk.ProjectId, bulk.TaskId, ct);
        await Task.WhenAll(mirrored, read);
        if (await read is not { } task)
        {
            return;
        }

        var changed = result.Changed.Select(c => c.After!).ToList();
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
        await activity.RecordAsync([.. result.Changed.Select(c => new ActivityEvent($"{input.InstanceId}.{c.Before.ItemId}", bulk.ProjectId, bulk.Status is null ? "status.cleared" : "status.set",
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
