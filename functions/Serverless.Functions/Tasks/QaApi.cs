using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Durable;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Activity;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tasks;

/// <summary>What the QA endpoints need from DI.</summary>
public sealed record QaServices(TaskStore Tasks, IssueStore Issues, Serverless.Functions.Projects.ProjectStore Projects, ProjectOrchestrations Orchestrations, DurableClient Durable, ActivityLog Activity, TimeProvider Time);

/// <summary>
/// QA tasks and the issue loop: <c>POST .../tasks/{taskId}/qa</c> creates the review of an annotation task
/// (fed by the <see cref="QaHandoffOrchestrator"/>); reviewers open issues on items of their QA task
/// (<c>POST .../tasks/{qaTaskId}/items/{itemId}/issues</c>), which sends the item back to its annotator through the
/// <see cref="IssueLoopOrchestrator"/>; the annotator marks it <c>for-review</c>, the reviewer <c>resolve</c>s or
/// <c>reopen</c>s it, and approving or discarding the item in QA ends the loop.
/// </summary>
public static class QaApi
{
    /// <summary>Default actions of a QA task.</summary>
    public static readonly IReadOnlyList<TaskAction> QaActions = [new("APPROVED", "Approved"), new("DISCARDED", "Discarded")];

    public static IEndpointRouteBuilder MapQaApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var tasks = app.MapGroup("api/projects/{projectId}/tasks").WithTags("Tasks");
        tasks.MapPost("/{taskId}/qa", CreateQaTaskAsync).WithName("CreateQaTask").RequirePermission(Permission.TasksManage).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapPost("/{taskId}/items/{itemId}/issues", OpenIssueAsync).WithName("OpenIssue").RequirePermission(Permission.TasksWork).ProducesProblem(StatusCodes.Status409Conflict);
        tasks.MapGet("/{taskId}/issues", ListIssuesAsync).WithName("ListIssues").RequirePermission(Permission.TasksRead);
        tasks.MapPost("/{taskId}/issues/{issueId}/for-review", (string projectId, string taskId, string issueId, IssueActionRequest? request, HttpContext context, ClaimsPrincipal principal, [AsParameters] QaServices services, CancellationToken ct) =>
            MoveIssueAsync(projectId, taskId, issueId, request, context, principal, services, ["open"], "for_review", "for_review", ct)).WithName("MarkIssueForReview").RequirePermission(Permission.TasksWork);
        tasks.MapPost("/{taskId}/issues/{issueId}/resolve", (string projectId, string taskId, string issueId, IssueActionRequest? request, HttpContext context, ClaimsPrincipal principal, [AsParameters] QaServices services, CancellationToken ct) =>
            MoveIssueAsync(projectId, taskId, issueId, request, context, principal, services, ["open", "for_review"], "resolved", "resolved", ct)).WithName("ResolveIssue").RequirePermission(Permission.TasksWork);
        tasks.MapPost("/{taskId}/issues/{issueId}/reopen", (string projectId, string taskId, string issueId, IssueActionRequest? request, HttpContext context, ClaimsPrincipal principal, [AsParameters] QaServices services, CancellationToken ct) =>
            MoveIssueAsync(projectId, taskId, issueId, request, context, principal, services, ["for_review", "resolved"], "open", "reopened", ct)).WithName("ReopenIssue").RequirePermission(Permission.TasksWork);
        return app;
    }

    internal static async Task<Results<Accepted<TaskCreated>, ValidationProblem, ProblemHttpResult>> CreateQaTaskAsync(
        string projectId, string taskId, CreateQaTaskRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] QaServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var source = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (source is null)
        {
            return Problems.NotFound($"Project '{projectId}' has no task '{taskId}'.");
        }

        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (request.Reviewers is not { Count: > 0 and <= TasksApi.MaxAssignees } || !request.Reviewers.All(Ids.IsWellFormed) || request.Reviewers.Distinct(StringComparer.Ordinal).Count() != request.Reviewers.Count)
        {
            errors.Add("reviewers", $"'reviewers' lists 1 to {TasksApi.MaxAssignees} distinct user ids.");
        }

        var due = errors.Timestamp("dueDate", request.DueDate);

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (source.Type != "annotation")
        {
            return Problems.Conflict($"Task '{taskId}' is a {source.Type} task; QA reviews annotation tasks.");
        }

        if (await TasksApi.NonMemberAsync(services.Projects, projectId, request.Reviewers!, ct) is { } outsider)
        {
            return Problems.Validation("reviewers", $"User '{outsider}' is not a member of project '{projectId}'; add them first.");
        }

        var caller = Caller.From(principal);
        var now = StoredTimestamp.Format(services.Time.GetUtcNow());
        var qaTaskId = Ids.New("t");
        var instanceId = ProjectOrchestrations.InstanceId(projectId, "qa", qaTaskId);
        var qa = new LabelingTask(qaTaskId, projectId, source.DatasetId, name!, "qa", request.Priority?.ToLowerInvariant() ?? source.Priority, due, QaActions,
            [.. request.Reviewers!.Select(r => new TaskAssignee(r, 0))], [], "open", instanceId, caller.UserId, now, now, SourceTaskId: taskId);
        await services.Tasks.CreateAsync(qa, ct);
        if (!await services.Tasks.AttachQaTaskAsync(projectId, taskId, qaTaskId, ct))
        {
            return Problems.Conflict($"Task '{taskId}' already has a QA task; one review stage per annotation task.");
        }

        await services.Orchestrations.StartAsync(projectId, "qa", nameof(QaHandoffOrchestrator), new QaHandoffInput(projectId, qaTaskId, taskId, request.Reviewers!), qaTaskId, ct);
        await services.Activity.RecordAsync([new ActivityEvent($"{qaTaskId}.created", projectId, "task.created", caller.UserId, "key:" + caller.KeyId, now, TaskId: qaTaskId, Stage: "qa", DatasetId: source.DatasetId)], CancellationToken.None);
        var accepted = OrchestrationAccepted.For(http, projectId, instanceId);
        return TypedResults.Accepted(accepted.StatusQueryGetUri, new TaskCreated(qa, accepted));
    }

    /// <summary>A reviewer (the item's QA assignee) or a manager opens an issue; the item goes back to its annotator.</summary>
    internal static async Task<Results<Created<TaskIssue>, ValidationProblem, ProblemHttpResult>> OpenIssueAsync(
        string projectId, string taskId, string itemId, OpenIssueRequest request, HttpContext context, ClaimsPrincipal principal, [AsParameters] QaServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var qa = await services.Tasks.GetAsync(projectId, taskId, ct);
        if (qa is null || qa.Type != "qa" || qa.SourceTaskId is null)
        {
            return Problems.NotFound($"Project '{projectId}' has no QA task '{taskId}'.");
        }

        var comment = request.Comment?.Trim();
        if (comment is not { Length: > 0 and <= 4000 } || (request.Tag is { } tag && tag.Trim().Length is 0 or > 60))
        {
            return Problems.Validation(comment is not { Length: > 0 and <= 4000 } ? "comment" : "tag", "An issue needs a comment (1 to 4,000 characters); a tag is 1 to 60 characters.");
        }

        var caller = Caller.From(principal);
        if (await services.Tasks.GetItemAsync(taskId, itemId, ct) is not { } qaItem)
        {
            return Problems.NotFound($"QA task '{taskId}' has no item '{itemId}'.");
        }

        if (AccessMiddleware.SeesOnlyOwnWork(context) && qaItem.Item.Assignee != caller.UserId)
        {
            return Problems.Forbidden($"Item '{itemId}' is reviewed by someone else.");
        }

        if (qaItem.Item.Status is { } decided)
        {
            return Problems.Conflict($"Item '{itemId}' is already {decided} in QA; clear that status before opening an issue.");
        }

        var annotated = await services.Tasks.GetItemAsync(qa.SourceTaskId, itemId, ct);
        var issue = await services.Issues.OpenAsync(taskId, qa.SourceTaskId, itemId, request.AnnotationId, comment, request.Tag?.Trim(), caller.UserId, annotated?.Item.StatusBy ?? annotated?.Item.Assignee, ct);
        var loop = await services.Orchestrations.StartAsync(projectId, "issue", nameof(IssueLoopOrchestrator), new IssueLoopInput(projectId, taskId, qa.SourceTaskId, itemId), $"{taskId}-{itemId}", ct);
        await services.Durable.RaiseEventAsync(loop, IssueLoopOrchestrator.IssueEvent, new IssueLoopEvent("opened", issue.Id, caller.UserId), ct);
        await services.Activity.RecordAsync([IssueEvent(projectId, issue, "issue.opened", caller, issue.CreatedAt)], CancellationToken.None);
        return TypedResults.Created($"/api/projects/{projectId}/tasks/{taskId}/issues/{issue.Id}", issue);
    }

    internal static async Task<Results<Ok<Page<TaskIssue>>, ValidationProblem, ProblemHttpResult>> ListIssuesAsync(
        string projectId, string taskId, string? itemId, int? pageSize, string? continuationToken, [AsParameters] QaServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var qa = await services.Tasks.GetAsync(projectId, taskId, ct);
        return qa is null ? Problems.NotFound($"Project '{projectId}' has no task '{taskId}'.") : TypedResults.Ok(await services.Issues.ListAsync(taskId, itemId, size, continuationToken, ct));
    }

    /// <summary>
    /// Moves an issue: <c>for-review</c> by its annotator, <c>resolve</c>/<c>reopen</c> by its reviewer (managers may do all).
    /// An issue in another state answers 409 naming the state it is in.
    /// </summary>
    internal static async Task<Results<Ok<TaskIssue>, ProblemHttpResult>> MoveIssueAsync(
        string projectId, string taskId, string issueId, IssueActionRequest? request, HttpContext context, ClaimsPrincipal principal, QaServices services,
        string[] from, string to, string action, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(services);
        var qa = await services.Tasks.GetAsync(projectId, taskId, ct);
        var issue = qa is null ? null : await services.Issues.GetAsync(taskId, issueId, ct);
        if (issue is null)
        {
            return Problems.NotFound($"Task '{taskId}' has no issue '{issueId}'.");
        }

        var caller = Caller.From(principal);
        var owner = action == "for_review" ? issue.Annotator : issue.Reviewer;
        if (AccessMiddleware.SeesOnlyOwnWork(context) && owner != caller.UserId)
        {
            return Problems.Forbidden(action == "for_review" ? "Only the item's annotator marks an issue for review." : "Only the issue's reviewer resolves or reopens it.");
        }

        var moved = await services.Issues.MoveAsync(taskId, issueId, from, to, action, caller.UserId, request?.Comment?.Trim(), ct);
        if (moved is not { } m)
        {
            return Problems.NotFound($"Task '{taskId}' has no issue '{issueId}'.");
        }

        if (!m.Moved)
        {
            return Problems.Conflict($"Issue '{issueId}' is {m.Issue.State}; '{action}' applies to an issue that is {string.Join(" or ", from)}.");
        }

        await services.Durable.RaiseEventAsync(ProjectOrchestrations.InstanceId(projectId, "issue", $"{taskId}-{issue.ItemId}"), IssueLoopOrchestrator.IssueEvent, new IssueLoopEvent(action, issueId, caller.UserId), ct);
        await services.Activity.RecordAsync([IssueEvent(projectId, m.Issue, "issue." + action, caller, m.Issue.UpdatedAt)], CancellationToken.None);
        return TypedResults.Ok(m.Issue);
    }

    /// <summary>
    /// Called by the status endpoint after a change: a COMPLETED item of an annotation task with a QA task flows
    /// to QA; an APPROVED or DISCARDED item in QA ends its issue loop (if it had one).
    /// </summary>
    internal static async Task AfterStatusChangeAsync(LabelingTask task, TaskItem item, DurableClient durable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(durable);
        try
        {
            if (task.Type == "annotation" && task.QaTaskId is { } qaTaskId && item.Status == "COMPLETED")
            {
                await durable.RaiseEventAsync(ProjectOrchestrations.InstanceId(task.ProjectId, "qa", qaTaskId), QaHandoffOrchestrator.ItemCompleted, new CompletedItem(item.ItemId, item.DatasetId, item.Name), ct);
            }
            else if (task.Type == "qa" && item.Status is "APPROVED" or "DISCARDED")
            {
                await durable.RaiseEventAsync(ProjectOrchestrations.InstanceId(task.ProjectId, "issue", $"{task.Id}-{item.ItemId}"), IssueLoopOrchestrator.IssueEvent, new IssueLoopEvent("decided", null, item.StatusBy ?? string.Empty), ct);
            }
        }
        catch (OrchestrationNotFoundException)
        {
            // No hand-off yet (its sweep will pick the item up) or no issue loop for this item: nothing to tell.
        }
        catch (OrchestrationStateException)
        {
            // The loop already ended.
        }
    }

    private static ActivityEvent IssueEvent(string projectId, TaskIssue issue, string kind, Caller caller, string at) => new(
        $"{issue.Id}.{issue.History.Count}", projectId, kind, caller.UserId, "key:" + caller.KeyId, at,
        TaskId: issue.QaTaskId, Stage: "qa", ItemId: issue.ItemId, AnnotationId: issue.AnnotationId,
        Data: new System.Text.Json.Nodes.JsonObject { ["issueId"] = issue.Id, ["tag"] = issue.Tag, ["annotator"] = issue.Annotator, ["reviewer"] = issue.Reviewer });
}
