using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Activity;

/// <summary>
/// One recorded action: who did what, when, where (task, stage, dataset, item, annotation) and through which
/// API key. Analytics are projected from these events; they are never edited.
/// </summary>
/// <remarks><list type="bullet">
/// <item><c>Kind</c>: What happened: one of <see cref="ActivityKinds"/>.</item>
/// <item><c>Actor</c>: The user who acted.</item>
/// <item><c>Source</c>: The API key the action came through (<c>key:{id}</c>), so a script's work can be told from a person's.</item>
/// <item><c>At</c>: When, as a stored timestamp (sortable text).</item>
/// <item><c>Stage</c>: The workflow stage: <c>annotation</c> or <c>qa</c> (null outside a task).</item>
/// <item><c>Data</c>: Small kind-specific details (e.g. the status set).</item>
/// </list></remarks>
public sealed record ActivityEvent(
    string Id,
    string ProjectId,
    string Kind,
    string Actor,
    string Source,
    string At,
    string? TaskId = null,
    string? Stage = null,
    string? DatasetId = null,
    string? ItemId = null,
    string? AnnotationId = null,
    string? Label = null,
    JsonObject? Data = null);

/// <summary>The kinds of <see cref="ActivityEvent"/>; dotted so a prefix selects a family (<c>annotation.</c>).</summary>
public static class ActivityKinds
{
    public const string AnnotationCreated = "annotation.created";
    public const string AnnotationEdited = "annotation.edited";
    public const string AnnotationDeleted = "annotation.deleted";
    public const string TaskCreated = "task.created";
    public const string StatusSet = "status.set";
    public const string StatusCleared = "status.cleared";
    public const string ItemSkipped = "item.skipped";
    public const string IssueOpened = "issue.opened";
    public const string IssueForReview = "issue.for_review";
    public const string IssueResolved = "issue.resolved";
    public const string IssueReopened = "issue.reopened";

    /// <summary>Active time reported by a client (<c>time.start</c>, <c>time.heartbeat</c>, <c>time.stop</c>); <c>Data.ms</c> is the time counted.</summary>
    public const string TimePrefix = "time.";
}

/// <summary>
/// Lets a feature take part in recording: <see cref="EnrichAsync"/> may add context to events before they are
/// written (it must never fail the action: on error it returns the events unchanged), and <see cref="Recorded"/>
/// is told a project's log grew (to wake a projector; it must return at once).
/// </summary>
public interface IActivityHook
{
    Task<IReadOnlyList<ActivityEvent>> EnrichAsync(IReadOnlyList<ActivityEvent> events, CancellationToken ct);

    void Recorded(string projectId);
}

/// <summary>What to select from the log; every field optional.</summary>
public sealed record ActivityQuery(string? From, string? To, string? Actor, string? TaskId, string? Kind, string? ItemId);

/// <summary>The log's container: one partition per project, indexed on what queries filter and sort by.</summary>
public static class ActivityContainers
{
    public const string Activity = "activity";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Activity, ["at", "kind", "actor", "taskId", "itemId"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}
