using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Tasks;

/// <summary>
/// A labeling task: items of one dataset split among assignees, each item getting a status from the task's
/// allowed actions. <c>Type</c> is <c>annotation</c> or <c>qa</c> (a review of <c>SourceTaskId</c>'s completed
/// items). <c>State</c> is <c>creating</c> while the split orchestration runs, then <c>open</c>, and
/// <c>completed</c> once every item has a status. <c>InstanceId</c> is the orchestration that fills the task
/// (the split, or the QA hand-off); <c>QaTaskId</c> the QA task reviewing this one.
/// </summary>
public sealed record LabelingTask(
    string Id,
    string ProjectId,
    string DatasetId,
    string Name,
    string Type,
    string Priority,
    string? DueDate,
    IReadOnlyList<TaskAction> Actions,
    IReadOnlyList<TaskAssignee> Assignees,
    JsonObject Metadata,
    string State,
    string? InstanceId,
    string CreatedBy,
    string CreatedAt,
    string UpdatedAt,
    string? SourceTaskId = null,
    string? QaTaskId = null);

/// <summary>A status an assignee may give an item: its stored name (upper case) and what the UI shows.</summary>
public sealed record TaskAction(string Name, string DisplayName);

/// <summary>An assignee and their share of the items, in percent (shares sum to 100).</summary>
public sealed record TaskAssignee(string UserId, int Share);

/// <summary>One item of a task: who it is assigned to and the status it holds (null: not done yet).</summary>
public sealed record TaskItem(
    string ItemId,
    string DatasetId,
    string Name,
    string? Assignee,
    string? Status,
    string? StatusBy,
    string? StatusAt,
    int Skipped,
    bool Reopened,
    string? LastSkippedBy = null);

/// <summary>Counts of a task: items, items with a status, per status and per assignee.</summary>
public sealed record TaskProgress(long Total, long Done, IReadOnlyDictionary<string, long> ByStatus, IReadOnlyDictionary<string, AssigneeProgress> ByAssignee);

/// <summary>One assignee's items and how many of them have a status.</summary>
public sealed record AssigneeProgress(long Total, long Done);

/// <summary>A task with its counts, as <c>GET</c> returns it.</summary>
public sealed record TaskWithProgress(LabelingTask Task, TaskProgress Progress);

/// <summary>Body of <c>POST .../tasks</c>. Items come from the whole dataset, a filter over it, or an explicit list.</summary>
public sealed record CreateTaskRequest(
    string? Name,
    string? DatasetId,
    JsonElement? Filter,
    IReadOnlyList<string>? ItemIds,
    IReadOnlyList<AssigneeRequest?>? Assignees,
    string? Priority,
    string? DueDate,
    IReadOnlyList<TaskActionRequest?>? Actions,
    JsonObject? Metadata);

/// <summary>An assignee in a request; <c>share</c> omitted for every assignee means equal split.</summary>
public sealed record AssigneeRequest(string? UserId, int? Share);

/// <summary>A custom status action in a request.</summary>
public sealed record TaskActionRequest(string? Name, string? DisplayName);

/// <summary>Body of <c>POST .../tasks/{taskId}/qa</c>: a QA task over the annotation task's completed items.</summary>
public sealed record CreateQaTaskRequest(string? Name, IReadOnlyList<string>? Reviewers, string? DueDate, string? Priority);

/// <summary>
/// An issue a reviewer opened on an annotation. <c>State</c>: <c>open</c> (back with the annotator),
/// <c>for_review</c> (the annotator says it is fixed), <c>resolved</c>. <c>History</c> keeps every step.
/// </summary>
public sealed record TaskIssue(
    string Id,
    string QaTaskId,
    string SourceTaskId,
    string ItemId,
    string? AnnotationId,
    string Comment,
    string? Tag,
    string State,
    string Reviewer,
    string? Annotator,
    IReadOnlyList<IssueStep> History,
    string CreatedAt,
    string UpdatedAt);

/// <summary>One step of an issue's life: created, for_review, resolved, reopened.</summary>
public sealed record IssueStep(string Action, string Actor, string At, string? Comment);

/// <summary>Body of <c>POST .../tasks/{qaTaskId}/items/{itemId}/issues</c>.</summary>
public sealed record OpenIssueRequest(string? AnnotationId, string? Comment, string? Tag);

/// <summary>Body of the issue actions (optional comment).</summary>
public sealed record IssueActionRequest(string? Comment);

/// <summary>Body of <c>PUT .../tasks/{taskId}/items/{itemId}/status</c>: the status, or null to clear it.</summary>
public sealed record SetStatusRequest(string? Status);

/// <summary>The task's documents: tasks in the project partition, task items and progress in the task's own partition.</summary>
public static class TaskContainers
{
    public const string Tasks = "tasks";

    /// <summary>Id of the progress document in each task's partition.</summary>
    public const string ProgressId = "progress";

    /// <remarks>
    /// No index on <c>kind</c>: every task item has one, so each item write (a million per split, one per status)
    /// paid for an entry no query needs. Tasks are listed through <c>createdAt</c> (which task items lack) or the
    /// project partition's primary key; task items are read by id or through <c>assignee</c>, <c>status</c>, <c>name</c>.
    /// </remarks>
    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Tasks, ["createdAt", "assignee", "status", "name", "itemId"])];

    public static string ProjectPartition(string projectId) => $"project:{projectId}";

    public static string TaskPartition(string taskId) => $"task:{taskId}";
}

/// <summary>The item already holds another status in this task; it must be cleared first.</summary>
public sealed class StatusConflictException(string itemId, string current)
    : Exception($"Item '{itemId}' already holds status {current} in this task: clear it before setting another.");

/// <summary>The caller may not act on this item (it is assigned to someone else).</summary>
public sealed class NotYourItemException(string itemId)
    : Exception($"Item '{itemId}' is not assigned to you in this task.");
