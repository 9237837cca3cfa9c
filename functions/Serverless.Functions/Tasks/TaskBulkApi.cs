using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tasks;

/// <summary>Body of <c>POST .../tasks/{taskId}/reassign</c>: <c>from</c>'s open items go to <c>to</c>.</summary>
public sealed record ReassignRequest(string? From, string? To);

/// <summary>Body of <c>POST .../tasks/{taskId}/redistribute</c>: the open items are dealt out again among these.</summary>
public sealed record RedistributeRequest(IReadOnlyList<AssigneeRequest?>? Assignees);

/// <summary>Body of <c>POST .../tasks/{taskId}/statuses</c> (status null clears) and of <c>POST .../tasks/{taskId}/items</c> (no status).</summary>
public sealed record TaskItemsSelection(string? Status, JsonElement? Filter, IReadOnlyList<string>? ItemIds);

/// <summary>Body of <c>POST .../tasks/{taskId}/items/remove</c>.</summary>
public sealed record RemoveTaskItemsRequest(IReadOnlyList<string>? ItemIds);

/// <summary>What a removal did: items removed, kept because they hold a status or were reopened, and ids not in the task.</summary>
public sealed record RemoveTaskItemsResult(int Removed, IReadOnlyList<string> Kept, int NotInTask);

/// <summary>
/// Managing a running task's items (<c>api/projects/{projectId}/tasks/{taskId}/...</c>): reassign one assignee's
/// work, redistribute the open items, add items, remove items nobody worked on, and set or clear a status in
/// bulk. The large ones run as a <see cref="TaskBulkOrchestrator"/> (or the split, for additions) and answer 202.
/// </summary>
public static class TaskBulkApi
{
    public static IEndpointRouteBuilder MapTaskBulkApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var tasks = app.MapGroup("api/projects/{projectId}/tasks/{taskId}").WithTags("Tasks");
        tasks.MapPost("/reassign", ReassignAsync).WithName("ReassignTaskItems").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/redistribute", RedistributeAsync).WithName("RedistributeTaskItems").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/statuses", SetStatusesAsync).WithName("SetTaskItemStatuses").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/items", AddItemsAsync).WithName("AddTaskItems").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/items/remove", RemoveItemsAsync).WithName("RemoveTaskItems").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    internal static async Task<IResult> ReassignAsync(string projectId, string taskId, ReassignRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        if (request.From is null || !Ids.IsWellFormed(request.From))
        {
            errors.Add("from", "'from' is the user whose open items move.");
        }

        if (request.To is null || !Ids.IsWellFormed(request.To) || request.To == request.From)
        {
            errors.Add("to", "'to' is another user, a member of the project.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return await StartAsync(projectId, taskId, http, services, [request.To!], task => task.Assignees.Any(a => a.UserId == request.From)
            ? null
            : Problems.Validation("from", $"User '{request.From}' is not an assignee of task '{taskId}'."),
            task => BulkInput(task, TaskBulkKinds.Reassign, principal) with { From = request.From, To = request.To }, ct);
    }

    internal static async Task<IResult> RedistributeAsync(string projectId, string taskId, RedistributeRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var assignees = TasksApi.Assignees(request.Assignees, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return await StartAsync(projectId, taskId, http, services, assignees.Select(a => a.UserId), _ => null,
            task => BulkInput(task, TaskBulkKinds.Redistribute, principal) with { Assignees = assignees }, ct);
    }

    internal static async Task<IResult> SetStatusesAsync(string projectId, string taskId, TaskItemsSelection request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var filterJson = Selection(request, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var status = request.Status?.Trim().ToUpperInvariant();
        return await StartAsync(projectId, taskId, http, services, [],
            task => status is null || task.Actions.Any(a => a.Name == status)
                ? null
                : Problems.Validation("status", $"Task '{taskId}' allows {string.Join(", ", task.Actions.Select(a => a.Name))}; '{request.Status}' is not one of them."),
            task => BulkInput(task, TaskBulkKinds.Status, principal) with { Status = status, FilterJson = filterJson, ItemIds = request.ItemIds }, ct);
    }

    /// <summary>Adds dataset items (by filter or ids) to the task, dealt out among its current assignees after the items it has.</summary>
    internal static async Task<IResult> AddItemsAsync(string projectId, string taskId, TaskItemsSelection request, HttpRequest http, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var filterJson = Selection(request, errors);
        if (request.Status is not null)
        {
            errors.Add("status", "Items are added without a status; set statuses with POST .../statuses.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (Refusal(projectId, taskId, task) is { } refused)
        {
            return refused;
        }

        var progress = await services.Tasks.GetProgressAsync(taskId, ct);
        var instanceId = await services.Orchestrations.StartAsync(projectId, "split", nameof(TaskSplitOrchestrator),
            new TaskSplitInput(projectId, taskId, task!.DatasetId, filterJson, request.ItemIds, task.Assignees, Seen: progress.Total), $"{taskId}-add-{Guid.NewGuid():N}", ct);
        return OrchestrationAccepted.Result(http, projectId, instanceId);
    }

    /// <summary>Removes items nobody worked on (no status, never reopened), in atomic chunks; the others are kept and listed.</summary>
    internal static async Task<IResult> RemoveItemsAsync(string projectId, string taskId, RemoveTaskItemsRequest request, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ItemIds is not { Count: > 0 and <= TasksApi.MaxItemIds } ids || !ids.All(Ids.IsWellFormed))
        {
            return Problems.Validation("itemIds", $"'itemIds' lists 1 to {TasksApi.MaxItemIds} item ids.");
        }

        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (Refusal(projectId, taskId, task) is { } refused)
        {
            return refused;
        }

        int removed = 0, missing = 0;
        var kept = new List<string>();
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(TaskStore.BulkChunk))
        {
            var result = await services.Tasks.ApplyChunkAsync(taskId, chunk, item => item.Status is null && !item.Reopened ? ItemDecision.Remove : ItemDecision.Keep, ct);
            removed += result.Changed.Count;
            missing += result.Missing;
            kept.AddRange(result.Final.Select(i => i.ItemId));
        }

        await services.Tasks.SyncStateAsync(task, await services.Tasks.GetProgressAsync(taskId, ct), ct);
        return TypedResults.Ok(new RemoveTaskItemsResult(removed, kept, missing));
    }

    private static async Task<IResult> StartAsync(
        string projectId, string taskId, HttpRequest http, TaskServices services, IEnumerable<string> newUsers,
        Func<LabelingTask, IResult?> check, Func<LabelingTask, TaskBulkInput> input, CancellationToken ct)
    {
        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if ((Refusal(projectId, taskId, task) ?? check(task!)) is { } refused)
        {
            return refused;
        }

        if (await TasksApi.NonMemberAsync(services.Projects, projectId, newUsers, ct) is { } outsider)
        {
            return Problems.Validation("assignees", $"User '{outsider}' is not a member of project '{projectId}'; add them first.");
        }

        var bulk = input(task!);
        var instanceId = await services.Orchestrations.StartAsync(projectId, "taskbulk", nameof(TaskBulkOrchestrator), bulk, $"{taskId}-{bulk.Kind}-{Guid.NewGuid():N}", ct);
        return OrchestrationAccepted.Result(http, projectId, instanceId);
    }

    private static TaskBulkInput BulkInput(LabelingTask task, string kind, ClaimsPrincipal principal)
    {
        var caller = Caller.From(principal);
        return new TaskBulkInput(task.ProjectId, task.Id, task.DatasetId, kind, caller.UserId, "key:" + caller.KeyId, Paged: true);
    }

    /// <summary>404 for a task not in the project; 409 while its split still runs (its items are not all there yet).</summary>
    private static ProblemHttpResult? Refusal(string projectId, string taskId, LabelingTask? task) => task switch
    {
        null => Problems.NotFound($"Project '{projectId}' has no task '{taskId}'."),
        { State: "creating" } => Problems.Conflict($"Task '{taskId}' is still being created; try again when its split has finished."),
        _ => null,
    };

    /// <summary>Validates a filter-or-ids selection; returns the filter as JSON text (null: none).</summary>
    private static string? Selection(TaskItemsSelection request, FieldErrors errors)
    {
        string? filterJson = null;
        if (request.Filter is { ValueKind: not JsonValueKind.Null } filter)
        {
            try
            {
                _ = FilterCompiler.CompileFilter(filter, FieldCatalogs.Items);
                filterJson = filter.GetRawText();
            }
            catch (FilterException ex)
            {
                errors.Add(ex.Path.Length == 0 ? "/filter" : ex.Path, ex.Message);
            }
        }

        if (request.ItemIds is not null && (request.ItemIds.Count is 0 or > TasksApi.MaxItemIds || !request.ItemIds.All(Ids.IsWellFormed)))
        {
            errors.Add("itemIds", $"'itemIds' lists 1 to {TasksApi.MaxItemIds} item ids.");
        }

        if (filterJson is null && request.ItemIds is null)
        {
            errors.Add("filter", "Choose the items with 'filter' (the item query language) or 'itemIds'.");
        }

        return filterJson;
    }
}
