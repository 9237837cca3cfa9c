using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Items;

namespace Serverless.Functions.Tasks;

/// <summary>Input of <see cref="TaskSplitOrchestrator"/>; also its state across continue-as-new.</summary>
/// <remarks>
/// <c>FilterJson</c> is the filter-language expression over the dataset's items (null: all of them);
/// <c>ItemIds</c> an explicit list instead. <c>Token</c>/<c>Offset</c> say where the next page starts and
/// <c>Seen</c> how many items were dealt out so far (it drives who gets the next item).
/// </remarks>
public sealed record TaskSplitInput(
    string ProjectId,
    string TaskId,
    string DatasetId,
    string? FilterJson,
    IReadOnlyList<string>? ItemIds,
    IReadOnlyList<TaskAssignee> Assignees,
    string? Token = null,
    int Offset = 0,
    long Seen = 0,
    long Added = 0);

/// <summary>Progress of a split, as the orchestration's custom status.</summary>
public sealed record TaskSplitStatus(long ItemsSeen, long ItemsAdded, bool Done);

/// <summary>Input of the page-reading activity.</summary>
public sealed record TaskSourcePageRequest(string DatasetId, string? FilterJson, IReadOnlyList<string>? ItemIds, string? Token, int PageSize);

/// <summary>One page of source items (id and name) and where the next starts (null: the end).</summary>
public sealed record TaskSourcePage(IReadOnlyList<TaskSourceItem> Items, string? NextToken);

/// <summary>An item to put in a task.</summary>
public sealed record TaskSourceItem(string Id, string Name);

/// <summary>Input of the assigning activity: items dealt out from position <c>FirstIndex</c> on.</summary>
public sealed record AssignTaskItemsRequest(string TaskId, string DatasetId, long FirstIndex, IReadOnlyList<TaskSourceItem> Items, IReadOnlyList<TaskAssignee> Assignees);

/// <summary>
/// Input of the page activity: read up to <c>Pages</c> pages of the source after <c>Token</c> (an id list is one page)
/// and deal them out from position <c>FirstIndex</c> on (instances started before <c>Pages</c> existed ask for one).
/// </summary>
public sealed record SplitTaskPageRequest(string TaskId, string DatasetId, string? FilterJson, IReadOnlyList<string>? ItemIds, string? Token, int PageSize, long FirstIndex, IReadOnlyList<TaskAssignee> Assignees, int Pages = 1);

/// <summary>What one page of a split did: items read, items new to the task, where the next page starts (null: the end).</summary>
public sealed record SplitTaskPageResult(int Seen, int Added, string? NextToken);

/// <summary>Input of the activity that opens the task once every item is in.</summary>
public sealed record FinishTaskSplitRequest(string ProjectId, string TaskId);

/// <summary>
/// Creates a task's items in bounded batches: one activity per few pages of the source (a filter over the dataset, or
/// an explicit id list) reads it, deals it out among the assignees and writes it as parallel batches; the
/// orchestration keeps only the cursor and the counts. Every few pages it continues as new, so its history stays
/// small for a million items. Every step is idempotent (task items are keyed by item id), so a crash or a
/// redelivered message re-does a page without duplicating anything.
/// </summary>
/// <remarks>
/// The page is read inside the writing activity rather than as an activity of its own: a page of 1,000 ids and
/// names recorded in history, then copied into the inputs of its write activities, cost more (JSON, history
/// writes, one activity per 80 items) than the item writes themselves. The price: a page re-done after a crash is
/// read again, so if the dataset gained items inside that page's id range meanwhile, the items not written before
/// the crash may be dealt to other assignees than on the first attempt (items written before keep theirs, and the
/// counters always match the items).
/// </remarks>
public sealed class TaskSplitOrchestrator : TaskOrchestrator<TaskSplitInput, TaskSplitStatus>
{
    /// <summary>Items read per page.</summary>
    public const int PageSize = 1000;

    /// <summary>Activities per execution before continuing as new (two small events per activity in history).</summary>
    public const int PagesPerExecution = 50;

    /// <summary>
    /// Pages one activity deals out: each next page is read while the one before is written, so the reads (on
    /// SQLite, reader connections) run beside the single writer instead of between its batches.
    /// </summary>
    public const int PagesPerActivity = 4;

    public override async Task<TaskSplitStatus> RunAsync(TaskOrchestrationContext context, TaskSplitInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var state = input;
        for (var page = 0; page < PagesPerExecution; page++)
        {
            var ids = state.ItemIds?.Skip(state.Offset).Take(FilterLimits.MaxListValues).ToList();
            var written = await context.CallActivityAsync<SplitTaskPageResult>(nameof(SplitTaskPage),
                new SplitTaskPageRequest(state.TaskId, state.DatasetId, state.FilterJson, ids, state.Token, PageSize, state.Seen, state.Assignees, PagesPerActivity));
            var more = state.ItemIds is not null ? state.Offset + (ids?.Count ?? 0) < state.ItemIds.Count : written.NextToken is not null;
            state = state with
            {
                Token = written.NextToken,
                Offset = state.Offset + (ids?.Count ?? 0),
                Seen = state.Seen + written.Seen,
                Added = state.Added + written.Added,
            };
            context.SetCustomStatus(new TaskSplitStatus(state.Seen, state.Added, Done: false));
            if (!more)
            {
                await context.CallActivityAsync<bool>(nameof(FinishTaskSplit), new FinishTaskSplitRequest(state.ProjectId, state.TaskId));
                var done = new TaskSplitStatus(state.Seen, state.Added, Done: true);
                context.SetCustomStatus(done);
                return done;
            }
        }

        context.ContinueAsNew(state);
        return new TaskSplitStatus(state.Seen, state.Added, Done: false);
    }

    /// <summary>
    /// Who gets the item at position <paramref name="index"/>: equal shares go round-robin; unequal shares follow
    /// a fixed cycle of 100 slots laid out by smooth weighted round-robin, so every 100 items match the
    /// percentages exactly and the same position always goes to the same person (retries agree).
    /// </summary>
    public static string AssigneeFor(long index, IReadOnlyList<TaskAssignee> assignees) => Dealer(assignees)(index);

    /// <summary><see cref="AssigneeFor"/> for many positions: the cycle is laid out once, not once per item.</summary>
    public static Func<long, string> Dealer(IReadOnlyList<TaskAssignee> assignees)
    {
        ArgumentNullException.ThrowIfNull(assignees);
        if (assignees.All(a => a.Share == assignees[0].Share))
        {
            var users = assignees.Select(a => a.UserId).ToArray();
            return index => users[(int)(index % users.Length)];
        }

        var cycle = Cycle(assignees);
        return index => cycle[(int)(index % 100)];
    }

    private static string[] Cycle(IReadOnlyList<TaskAssignee> assignees)
    {
        var slots = new string[100];
        var credit = new int[assignees.Count];
        for (var slot = 0; slot < 100; slot++)
        {
            var best = 0;
            for (var i = 0; i < assignees.Count; i++)
            {
                credit[i] += assignees[i].Share;
                if (credit[i] > credit[best])
                {
                    best = i;
                }
            }

            credit[best] -= 100;
            slots[slot] = assignees[best].UserId;
        }

        return slots;
    }
}

/// <summary>Reads one page of a task's source items, in a stable order (by id) so that positions do not move between retries.</summary>
public sealed class ReadTaskSourcePage(ItemStore items) : TaskActivity<TaskSourcePageRequest, TaskSourcePage>
{
    public override Task<TaskSourcePage> RunAsync(TaskActivityContext context, TaskSourcePageRequest input) => ReadAsync(items, input);

    /// <summary>The page itself (also read by <see cref="SplitTaskPage"/>).</summary>
    public static async Task<TaskSourcePage> ReadAsync(ItemStore items, TaskSourcePageRequest input)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(input);
        var request = new JsonObject { ["pageSize"] = input.PageSize };
        JsonNode? filter = input.FilterJson is null ? null : JsonNode.Parse(input.FilterJson);
        if (input.ItemIds is not null)
        {
            var ids = new JsonObject { ["id"] = new JsonObject { ["$in"] = new JsonArray([.. input.ItemIds.Select(id => JsonValue.Create(id))]) } };
            filter = filter is null ? ids : new JsonObject { ["$and"] = new JsonArray(filter, ids) };
        }

        if (filter is not null)
        {
            request["filter"] = filter;
        }

        if (input.Token is not null && input.ItemIds is null)
        {
            request["continuation"] = input.Token;
        }

        var query = FilterCompiler.Compile(request.ToJsonString(), FieldCatalogs.Items);
        var page = await items.QueryNamesAsync(input.DatasetId, query, CancellationToken.None);
        return new TaskSourcePage([.. page.Items.Select(i => new TaskSourceItem(i.Id, i.Name))], page.ContinuationToken);
    }
}

/// <summary>
/// Writes one chunk of task items, dealt out by position (idempotent: present items are kept as they are).
/// No longer scheduled (see <see cref="SplitTaskPage"/>); kept so that a split started by an earlier version replays.
/// </summary>
public sealed class AssignTaskItems(TaskStore tasks) : TaskActivity<AssignTaskItemsRequest, int>
{
    public override Task<int> RunAsync(TaskActivityContext context, AssignTaskItemsRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var dealer = TaskSplitOrchestrator.Dealer(input.Assignees);
        var items = input.Items.Select((item, i) => new TaskItem(item.Id, input.DatasetId, item.Name, dealer(input.FirstIndex + i), null, null, null, 0, false)).ToList();
        return tasks.AddItemsAsync(input.TaskId, items, CancellationToken.None);
    }
}

/// <summary>Reads up to <c>Pages</c> pages of the split's source and writes them as task items dealt out by position (idempotent).</summary>
public sealed class SplitTaskPage(ItemStore items, TaskStore tasks) : TaskActivity<SplitTaskPageRequest, SplitTaskPageResult>
{
    public override async Task<SplitTaskPageResult> RunAsync(TaskActivityContext context, SplitTaskPageRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Task<TaskSourcePage> Read(string? token) =>
            ReadTaskSourcePage.ReadAsync(items, new TaskSourcePageRequest(input.DatasetId, input.FilterJson, input.ItemIds, token, input.PageSize));

        var dealer = TaskSplitOrchestrator.Dealer(input.Assignees);
        var done = await SourcePagePipeline.RunAsync(Read, input.Token, input.ItemIds is null ? input.Pages : 1, (page, offset) =>
        {
            var first = input.FirstIndex + offset;
            var dealt = page.Items.Select((item, i) => new TaskItem(item.Id, input.DatasetId, item.Name, dealer(first + i), null, null, null, 0, false)).ToList();
            return tasks.AddItemsAsync(input.TaskId, dealt, CancellationToken.None);
        });
        return new SplitTaskPageResult(done.Seen, done.Results.Sum(), done.NextToken);
    }
}

/// <summary>Opens the task once the split (or an addition of items) is done: open, or completed when every item has a status (idempotent).</summary>
public sealed class FinishTaskSplit(TaskStore tasks) : TaskActivity<FinishTaskSplitRequest, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, FinishTaskSplitRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // Items added to a completed task reopen it; an addition that brought nothing new leaves it completed.
        var progress = await tasks.GetProgressAsync(input.TaskId, CancellationToken.None);
        var complete = progress.Total > 0 && progress.Done == progress.Total;
        await tasks.SetStateAsync(input.ProjectId, input.TaskId, complete ? "completed" : "open", CancellationToken.None);
        return true;
    }
}
