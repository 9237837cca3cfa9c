using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Activity;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Tasks;

/// <summary>What the task endpoints need from DI.</summary>
public sealed record TaskServices(TaskStore Tasks, DatasetStore Datasets, ProjectStore Projects, ProjectOrchestrations Orchestrations, Serverless.Durable.DurableClient Durable, ActivityLog Activity, TimeProvider Time);

/// <summary>A task just created: the task (state <c>creating</c>) and the split orchestration's URLs.</summary>
public sealed record TaskCreated(LabelingTask Task, OrchestrationAccepted Split);

/// <summary>
/// Labeling tasks (<c>api/projects/{projectId}/tasks</c>): create over a dataset, a filter or an id list (split
/// among assignees by the <see cref="TaskSplitOrchestrator"/>), read with progress, list items, the assignee's
/// queue ("next", skip) and item status. Annotators and reviewers act only on items assigned to them.
/// </summary>
public static partial class TasksApi
{
    public const int MaxAssignees = 50;
    public const int MaxItemIds = 10_000;
    public const int MaxActions = 20;

    /// <summary>Store pages read at most to fill one page of tasks a labeling company may see (bounds one request's work).</summary>
    private const int MaxFilteredReads = 20;

    /// <summary>Default actions of an annotation task.</summary>
    public static readonly IReadOnlyList<TaskAction> DefaultActions = [new("COMPLETED", "Completed"), new("DISCARDED", "Discarded")];

    private static readonly string[] Priorities = ["low", "medium", "high"];

    public static IEndpointRouteBuilder MapTasksApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var tasks = app.MapGroup("api/projects/{projectId}/tasks").WithTags("Tasks");
        tasks.MapPost("/", CreateAsync).WithName("CreateTask").RequirePermission(Permission.TasksManage);
        tasks.MapGet("/", ListAsync).WithName("ListTasks").RequirePermission(Permission.TasksRead);
        tasks.MapGet("/{taskId}", GetAsync).WithName("GetTask").RequirePermission(Permission.TasksRead);
        tasks.MapGet("/{taskId}/items", ListItemsAsync).WithName("ListTaskItems").RequirePermission(Permission.TasksRead);
        tasks.MapPut("/{taskId}/items/{itemId}/status", SetStatusAsync).WithName("SetTaskItemStatus").RequirePermission(Permission.TasksWork)
            .ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/{taskId}/next", NextAsync).WithName("StartNextTaskItem").RequirePermission(Permission.TasksWork);
        tasks.MapPost("/{taskId}/items/{itemId}/skip", SkipAsync).WithName("SkipTaskItem").RequirePermission(Permission.TasksWork);
        return app;
    }

    internal static async Task<Results<Accepted<TaskCreated>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        string projectId, CreateTaskRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
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

        if (request.ItemIds is not null && (request.ItemIds.Count is 0 or > MaxItemIds || !request.ItemIds.All(Ids.IsWellFormed)))
        {
            errors.Add("itemIds", $"'itemIds' lists 1 to {MaxItemIds} item ids.");
        }

        var priority = request.Priority?.Trim().ToLowerInvariant() ?? "medium";
        if (!Priorities.Contains(priority))
        {
            errors.Add("priority", "'priority' is low, medium or high.");
        }

        var due = errors.Timestamp("dueDate", request.DueDate);

        var actions = Actions(request.Actions, errors);
        var assignees = Assignees(request.Assignees, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (request.DatasetId is null || !await services.Datasets.ExistsAsync(projectId, request.DatasetId, ct))
        {
            return Problems.Validation("datasetId", $"Project '{projectId}' has no dataset '{request.DatasetId}'.");
        }

        if (await NonMemberAsync(services.Projects, projectId, assignees.Select(a => a.UserId), ct) is { } outsider)
        {
            return Problems.Validation("assignees", $"User '{outsider}' is not a member of project '{projectId}'; add them first.");
        }

        var caller = Caller.From(principal);
        var now = StoredTimestamp.Format(services.Time.GetUtcNow());
        var taskId = Ids.New("t");
        var instanceId = ProjectOrchestrations.InstanceId(projectId, "split", taskId);
        var task = new LabelingTask(taskId, projectId, request.DatasetId, name!, "annotation", priority, due, actions, assignees,
            request.Metadata ?? [], "creating", instanceId, caller.UserId, now, now);
        await services.Tasks.CreateAsync(task, ct);
        await services.Orchestrations.StartAsync(projectId, "split", nameof(TaskSplitOrchestrator),
            new TaskSplitInput(projectId, taskId, request.DatasetId, filterJson, request.ItemIds, assignees), taskId, ct);
        await services.Activity.RecordAsync([new ActivityEvent($"{taskId}.created", projectId, "task.created", caller.UserId, "key:" + caller.KeyId, now, TaskId: taskId, Stage: "annotation", DatasetId: request.DatasetId)], CancellationToken.None);
        var accepted = OrchestrationAccepted.For(http, projectId, instanceId);
        return TypedResults.Accepted(accepted.StatusQueryGetUri, new TaskCreated(task, accepted));
    }

    /// <summary>
    /// <c>GET .../tasks</c>. With the project's <c>showTasksByOrganization</c> on, a labeling company's user sees only
    /// tasks with an assignee of their company (<see cref="WorkVisibility"/>); the page is filtered after it is read,
    /// so it may hold fewer than <c>pageSize</c> tasks while the continuation token goes on.
    /// </summary>
    internal static async Task<Results<Ok<Page<LabelingTask>>, ValidationProblem>> ListAsync(
        string projectId, int? pageSize, string? continuationToken, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (await ScopeAsync(projectId, principal, services, ct) is not { } scope)
        {
            return TypedResults.Ok(await services.Tasks.ListAsync(projectId, size, continuationToken, ct));
        }

        // Which tasks a company sees depends on their assignee lists, so they are filtered after reading; reading on, a
        // page of what is still missing at a time, keeps pages full (a short page only at the end or after the bounded reads).
        var tasks = new List<LabelingTask>(size);
        var token = continuationToken;
        for (var reads = 0; reads < MaxFilteredReads && tasks.Count < size; reads++)
        {
            var page = await services.Tasks.ListAsync(projectId, size - tasks.Count, token, ct);
            var visible = await WorkVisibility.VisibleWorkersAsync(scope.Scope, services.Projects, scope.Project, page.Items.SelectMany(t => t.Assignees.Select(a => a.UserId)), ct);
            tasks.AddRange(page.Items.Where(t => t.Assignees.Any(a => visible.Contains(a.UserId))));
            token = page.ContinuationToken;
            if (token is null)
            {
                break;
            }
        }

        return TypedResults.Ok(new Page<LabelingTask>(tasks, token));
    }

    /// <summary>
    /// <c>GET .../tasks/{taskId}</c>: a task the caller's organization may not see (see <see cref="ListAsync"/>) is a 404;
    /// in one it may see, the per-assignee progress holds only its own company's assignees (the task's totals stay whole).
    /// </summary>
    internal static async Task<Results<Ok<TaskWithProgress>, ProblemHttpResult>> GetAsync(
        string projectId, string taskId, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (task is null)
        {
            return TaskNotFound(projectId, taskId);
        }

        var visible = await VisibleAssigneesAsync(projectId, task, principal, services, ct);
        if (visible is { Count: 0 })
        {
            return TaskNotFound(projectId, taskId);
        }

        var progress = await services.Tasks.GetProgressAsync(taskId, ct);
        if (visible is not null)
        {
            progress = progress with { ByAssignee = progress.ByAssignee.Where(p => visible.Contains(p.Key)).ToDictionary(StringComparer.Ordinal) };
        }

        return TypedResults.Ok(new TaskWithProgress(task, progress));
    }

    /// <summary>The caller's organization restriction in this project; null when they see every organization's work.</summary>
    private static async Task<(WorkScope Scope, Project Project)?> ScopeAsync(string projectId, ClaimsPrincipal principal, TaskServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return null;
        }

        var scope = WorkVisibility.For(project.Project, Caller.From(principal));
        return scope.AllOrganizations ? null : (scope, project.Project);
    }

    /// <summary>The task's assignees the caller's organization may see; null when the caller sees every organization's work.</summary>
    private static async Task<IReadOnlySet<string>?> VisibleAssigneesAsync(string projectId, LabelingTask task, ClaimsPrincipal principal, TaskServices services, CancellationToken ct) =>
        await ScopeAsync(projectId, principal, services, ct) is { } scope
            ? await WorkVisibility.VisibleWorkersAsync(scope.Scope, services.Projects, scope.Project, task.Assignees.Select(a => a.UserId), ct)
            : null;

    /// <summary><c>GET .../items?assignee=&amp;open=true</c>: by name; annotators and reviewers see only their own.</summary>
    internal static async Task<Results<Ok<Page<TaskItem>>, ValidationProblem, ProblemHttpResult>> ListItemsAsync(
        string projectId, string taskId, string? assignee, bool? open, int? pageSize, string? continuationToken,
        HttpContext context, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (task is null)
        {
            return TaskNotFound(projectId, taskId);
        }

        var self = Caller.From(principal).UserId;
        if (AccessMiddleware.SeesOnlyOwnWork(context))
        {
            if (assignee is not null && assignee != self)
            {
                return Problems.Forbidden("Annotators and reviewers see only the items assigned to them.");
            }

            assignee = self;
        }

        // The organization rule on top of the role rule: only items assigned to users of the caller's company.
        var visible = await VisibleAssigneesAsync(projectId, task, principal, services, ct);
        if (visible is { Count: 0 })
        {
            return TaskNotFound(projectId, taskId);
        }

        if (visible is not null && assignee is not null && !visible.Contains(assignee))
        {
            return Problems.Forbidden("With 'showTasksByOrganization' on, a labeling company's users see only the work of their own company.");
        }

        // The company's assignees go into the query (not a filter after reading), so pages are full and tokens exact.
        IReadOnlyList<string>? assignees = assignee is not null ? [assignee] : visible?.Order(StringComparer.Ordinal).ToList();
        return TypedResults.Ok(await services.Tasks.ListItemsAsync(taskId, assignees, open ?? false, size, continuationToken, ct));
    }

    /// <summary><c>PUT .../items/{itemId}/status</c> <c>{"status": "COMPLETED"}</c>, or <c>null</c> to clear.</summary>
    internal static async Task<Results<Ok<TaskItem>, ValidationProblem, ProblemHttpResult>> SetStatusAsync(
        string projectId, string taskId, string itemId, SetStatusRequest request, HttpContext context, ClaimsPrincipal principal,
        [AsParameters] TaskServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (task is null)
        {
            return TaskNotFound(projectId, taskId);
        }

        var status = request.Status?.Trim().ToUpperInvariant();
        if (status is not null && !task.Actions.Any(a => a.Name == status))
        {
            return Problems.Validation("status", $"Task '{taskId}' allows {string.Join(", ", task.Actions.Select(a => a.Name))}; '{request.Status}' is not one of them.");
        }

        var caller = Caller.From(principal);
        try
        {
            // The event is written once the status committed, alongside the status mirror on the item.
            Task RecordAsync(TaskItem item, string? previous) => services.Activity.RecordAsync(
                [new ActivityEvent(Ids.New("e"), projectId, status is null ? "status.cleared" : "status.set", caller.UserId, "key:" + caller.KeyId,
                    item.StatusAt ?? StoredTimestamp.Format(services.Time.GetUtcNow()), TaskId: taskId, Stage: task.Type == "qa" ? "qa" : "annotation",
                    DatasetId: task.DatasetId, ItemId: itemId, Data: new JsonObject { ["status"] = status, ["previous"] = previous, ["assignee"] = item.Assignee })],
                CancellationToken.None);
            var result = await services.Tasks.SetStatusAsync(taskId, itemId, status, caller.UserId, AccessMiddleware.SeesOnlyOwnWork(context) ? caller.UserId : null, ct,
                afterChange: RecordAsync);
            if (result is not { } r)
            {
                return Problems.NotFound($"Task '{taskId}' has no item '{itemId}'.");
            }

            if (r.Changed)
            {
                await QaApi.AfterStatusChangeAsync(task, r.Item, services.Durable, CancellationToken.None);
                await services.Tasks.SyncStateAsync(task, r.Progress, ct);
            }

            return TypedResults.Ok(r.Item);
        }
        catch (StatusConflictException ex)
        {
            return Problems.Conflict(ex.Message);
        }
        catch (NotYourItemException ex)
        {
            return Problems.Forbidden(ex.Message);
        }
    }

    /// <summary><c>POST .../next</c>: the caller's next open item (claiming one from the pool when they have none); 204 when nothing is left.</summary>
    internal static async Task<Results<Ok<TaskItem>, NoContent, ProblemHttpResult>> NextAsync(
        string projectId, string taskId, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        if (await services.Tasks.GetAsync(projectId, taskId, ct) is null)
        {
            return TaskNotFound(projectId, taskId);
        }

        var next = await services.Tasks.NextAsync(taskId, Caller.From(principal).UserId, ct);
        return next is null ? TypedResults.NoContent() : TypedResults.Ok(next);
    }

    /// <summary><c>POST .../items/{itemId}/skip</c>: the caller's open item goes back to the pool, counted as skipped.</summary>
    internal static async Task<Results<Ok<TaskItem>, ProblemHttpResult>> SkipAsync(
        string projectId, string taskId, string itemId, ClaimsPrincipal principal, [AsParameters] TaskServices services, CancellationToken ct)
    {
        var task = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (task is null)
        {
            return TaskNotFound(projectId, taskId);
        }

        var caller = Caller.From(principal);
        var skipped = await services.Tasks.SkipAsync(taskId, itemId, caller.UserId, ct);
        if (skipped is null)
        {
            return Problems.NotFound($"Item '{itemId}' is not an open item of yours in task '{taskId}'.");
        }

        await services.Activity.RecordAsync([new ActivityEvent(Ids.New("e"), projectId, "item.skipped", caller.UserId, "key:" + caller.KeyId, StoredTimestamp.Format(services.Time.GetUtcNow()),
            TaskId: taskId, Stage: task.Type == "qa" ? "qa" : "annotation", DatasetId: task.DatasetId, ItemId: itemId)], CancellationToken.None);
        return TypedResults.Ok(skipped);
    }

    private static List<TaskAction> Actions(IReadOnlyList<TaskActionRequest?>? requested, FieldErrors errors)
    {
        var actions = new List<TaskAction>(DefaultActions);
        foreach (var (action, i) in (requested ?? []).Select((a, i) => (a, i)))
        {
            var name = action?.Name?.Trim().ToUpperInvariant();
            var display = action?.DisplayName?.Trim();
            if (name is null || !ActionName().IsMatch(name))
            {
                errors.Add($"actions/{i}/name", "An action name is 1 to 40 letters, digits or '_', starting with a letter (stored upper case).");
            }
            else if (display is not { Length: > 0 and <= 60 })
            {
                errors.Add($"actions/{i}/displayName", "'displayName' is 1 to 60 characters.");
            }
            else if (actions.Any(a => a.Name == name))
            {
                errors.Add($"actions/{i}/name", $"Action {name} is listed twice (COMPLETED and DISCARDED are always there).");
            }
            else
            {
                actions.Add(new TaskAction(name, display));
            }
        }

        if (actions.Count > MaxActions)
        {
            errors.Add("actions", $"A task has at most {MaxActions} actions.");
        }

        return actions;
    }

    internal static List<TaskAssignee> Assignees(IReadOnlyList<AssigneeRequest?>? requested, FieldErrors errors)
    {
        if (requested is not { Count: > 0 and <= MaxAssignees } || requested.Any(a => a?.UserId is null || !Ids.IsWellFormed(a.UserId)))
        {
            errors.Add("assignees", $"'assignees' lists 1 to {MaxAssignees} users as {{\"userId\": ..., \"share\": percent}}.");
            return [];
        }

        if (requested.Select(a => a!.UserId).Distinct(StringComparer.Ordinal).Count() != requested.Count)
        {
            errors.Add("assignees", "A user is listed twice in 'assignees'.");
            return [];
        }

        if (requested.All(a => a!.Share is null))
        {
            // Share 0 for everyone means an equal, round-robin split.
            return [.. requested.Select(a => new TaskAssignee(a!.UserId!, 0))];
        }

        if (requested.Any(a => a!.Share is null or < 1 or > 100) || requested.Sum(a => a!.Share!.Value) != 100)
        {
            errors.Add("assignees", "Give every assignee a 'share' from 1 to 100, summing to 100 — or give none for an equal split.");
            return [];
        }

        return [.. requested.Select(a => new TaskAssignee(a!.UserId!, a.Share!.Value))];
    }

    /// <summary>The first of <paramref name="userIds"/> who is not a member of the project, or null.</summary>
    internal static async Task<string?> NonMemberAsync(ProjectStore projects, string projectId, IEnumerable<string> userIds, CancellationToken ct)
    {
        foreach (var userId in userIds)
        {
            if (await projects.GetMemberAsync(projectId, userId, ct) is null)
            {
                return userId;
            }
        }

        return null;
    }

    private static ProblemHttpResult TaskNotFound(string projectId, string taskId) =>
        Problems.NotFound($"Project '{projectId}' has no task '{taskId}'.");

    [GeneratedRegex("^[A-Z][A-Z0-9_]{0,39}$")]
    private static partial Regex ActionName();
}

/// <summary>Registers tasks: the store, the split orchestration and its activities.</summary>
public static class TasksRegistration
{
    public static IHostApplicationBuilder AddTasks(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. TaskContainers.All]);
        builder.Services.AddSingleton<TaskStore>();
        builder.Services.AddSingleton<IssueStore>();

        // Each task's own partition (items, progress, issues), then the task documents.
        builder.Services.AddSingleton(sp => new ProjectCascadeChildren(sp.GetRequiredService<TaskStore>().ListTaskPartitionsAsync));
        builder.Services.AddSingleton(new ProjectCascadeTarget(TaskContainers.Tasks, TaskContainers.ProjectPartition));
        builder.Services.AddSingleton(sp => new DatasetCascadeChildren(sp.GetRequiredService<TaskStore>().ListDatasetTasksAsync));
        builder.Services.AddDurableTasks(r => r
            .AddOrchestrator<TaskSplitOrchestrator>()
            .AddActivity<ReadTaskSourcePage>()
            .AddActivity<AssignTaskItems>()
            .AddActivity<SplitTaskPage>()
            .AddActivity<FinishTaskSplit>()
            .AddOrchestrator<TaskBulkOrchestrator>()
            .AddActivity<ReadOpenTaskItems>()
            .AddActivity<BeginTaskBulk>()
            .AddActivity<ApplyTaskBulkChunk>()
            .AddActivity<ApplyTaskBulkPage>()
            .AddActivity<FinishTaskBulk>()
            .AddOrchestrator<QaHandoffOrchestrator>()
            .AddActivity<SweepCompletedToQa>()
            .AddActivity<AddToQa>()
            .AddOrchestrator<IssueLoopOrchestrator>()
            .AddActivity<ReopenForAnnotator>());
        return builder;
    }
}
