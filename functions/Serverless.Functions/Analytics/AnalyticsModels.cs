using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Analytics;

/// <summary>
/// The counters of the analytics cube. Each event of the log adds to some of them in one or more cells
/// (<see cref="CubeKey"/>); the attribution rules are in <see cref="AnalyticsProjection"/> and functions/README.md.
/// </summary>
public enum Metric
{
    /// <summary>Items set COMPLETED in an annotation task (minus cleared ones), credited to who set it.</summary>
    Submitted,
    Skipped,

    /// <summary>QA approvals, credited to the item's annotator on the annotation task.</summary>
    Approved,

    /// <summary>Issues opened, credited to the item's annotator on the annotation task.</summary>
    Rejected,
    Discarded,
    LabelsCreated,
    LabelsEdited,
    LabelsDeleted,

    /// <summary>Labels on items approved in QA, per class, credited to the annotator.</summary>
    LabelsApproved,

    /// <summary>Issues opened on an annotation, per class of that annotation, credited to the annotator.</summary>
    LabelsRejected,

    /// <summary>QA approvals, credited to the reviewer on the QA task.</summary>
    ReviewApproved,

    /// <summary>Issues opened, credited to the reviewer who opened them on the QA task.</summary>
    ReviewRejected,
    ReviewLabelsApproved,
    ReviewLabelsRejected,
    TimeMs,

    /// <summary>Distinct items a user reported time on, per task and stage.</summary>
    TimeItems,

    /// <summary>Issues opened (credited to the annotator, on the QA task, with tag and label).</summary>
    IssuesCreated,
    IssuesResolved,
    IssuesReopened,

    /// <summary>+1 opened, -1 resolved, +1 reopened after resolved: summed to any date, the issues open then.</summary>
    IssuesOpenDelta,

    /// <summary>Issues raised, credited to the reviewer.</summary>
    IssuesRaised,
}

/// <summary>One cell of the cube: a UTC day and the filterable dimensions (empty string = none).</summary>
public readonly record struct CubeKey(string Day, string TaskId, string DatasetId, string Stage, string User, string Label, string Source, string Tag);

/// <summary>Analytics settings (section <c>Analytics</c>).</summary>
public sealed record AnalyticsOptions
{
    public const string Section = "Analytics";

    /// <summary>A heartbeat more than this many seconds after the previous one adds no time (the user was idle).</summary>
    public int IdleGapSeconds { get; init; } = 120;
}

/// <summary>The analytics container: the cube rows and the projector's checkpoint, one partition per project.</summary>
public static class AnalyticsContainers
{
    public const string Analytics = "analytics";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Analytics, ["kind", "g", "v"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>Filters every analytics route takes; null = no filter. Days are UTC <c>yyyy-MM-dd</c>, <see cref="ToDay"/> exclusive.</summary>
public sealed record AnalyticsFilter(string? FromDay, string? ToDay, string? TaskId, string? DatasetId, string? Stage, string? Actor, string? Label, string? Source)
{
    public bool Matches(in CubeKey key, bool ignoreDates = false) =>
        (ignoreDates || ((FromDay is null || string.CompareOrdinal(key.Day, FromDay) >= 0) && (ToDay is null || string.CompareOrdinal(key.Day, ToDay) < 0)))
        && (TaskId is null || key.TaskId == TaskId)
        && (DatasetId is null || key.DatasetId == DatasetId)
        && (Stage is null || key.Stage == Stage)
        && (Actor is null || key.User == Actor)
        && (Label is null || key.Label == Label)
        && (Source is null || key.Source == Source);
}

/// <summary><c>GET .../analytics/summary</c>.</summary>
public sealed record AnalyticsSummary(long Submitted, long Skipped, long Approved, long Rejected, long Discarded, long LabelsCreated, long LabelsEdited, long LabelsDeleted, long IssuesOpen, long TimeSpentMs);

/// <summary>A list of rows (<c>tasks</c>, <c>throughput</c>, <c>labels</c>, <c>time</c>).</summary>
public sealed record AnalyticsRows<T>(IReadOnlyList<T> Rows);

/// <summary>One task's figures (approvals and rejections are credited to the annotation task).</summary>
public sealed record TaskFigures(string TaskId, long Submitted, long Skipped, long Approved, long Rejected, long Discarded, long TimeSpentMs, long LabelsCreated, long LabelsEdited, long LabelsDeleted);

/// <summary>One UTC day's throughput.</summary>
public sealed record DayFigures(string Day, long Submitted, long Approved, long Rejected, long LabelsCreated);

/// <summary>Per label class; <see cref="RejectionRate"/> = rejected ÷ (approved + rejected), null before any review.</summary>
public sealed record LabelFigures(string Label, long Created, long Approved, long Rejected, double? RejectionRate);

/// <summary>One row of the annotators table (figures outside the QA stage; see functions/README.md).</summary>
public sealed record AnnotatorFigures(
    string UserId, long Submitted, long Skipped, long Approved, long Rejected, double? TaskRejectionRate,
    long LabelsCreated, long LabelsEdited, long LabelsDeleted, long LabelsApproved, long LabelsRejected, double? LabelRejectionRate,
    long TimeSpentMs, long? AvgTimePerItemMs, long IssuesAgainst);

/// <summary>One row of the reviewers table (QA-stage figures).</summary>
public sealed record ReviewerFigures(
    string UserId, long Approved, long Rejected, long LabelsApproved, long LabelsRejected, long LabelsCreated, long LabelsEdited, long LabelsDeleted,
    long ReviewTimeMs, long? AvgTimePerItemMs, long? AvgTimePerLabelMs, long IssuesRaised);

/// <summary><c>GET .../analytics/collaborators</c>: the two tables.</summary>
public sealed record CollaboratorTables(IReadOnlyList<AnnotatorFigures> Annotators, IReadOnlyList<ReviewerFigures> Reviewers);

/// <summary>Issues opened, resolved and reopened on one UTC day.</summary>
public sealed record IssueDayFigures(string Day, long Created, long Resolved, long Reopened);

/// <summary>Issues with one tag: open now, opened in the range.</summary>
public sealed record IssueTagFigures(string Tag, long Open, long Total);

/// <summary>Issues on annotations of one label class: open now, opened in the range.</summary>
public sealed record IssueLabelFigures(string Label, long Open, long Total);

/// <summary><c>GET .../analytics/issues</c>.</summary>
public sealed record IssueTables(long OpenNow, IReadOnlyList<IssueDayFigures> Rows, IReadOnlyList<IssueTagFigures> ByTag, IReadOnlyList<IssueLabelFigures> ByLabel);

/// <summary>Active time of one user on one task and stage, and the items it was spent on.</summary>
public sealed record TimeFigures(string UserId, string TaskId, string Stage, long TimeSpentMs, long Items);

/// <summary>Body of <c>POST .../time</c>.</summary>
public sealed record TimeReport(string? TaskId, string? ItemId, string? Event, string? ClientEventId);

/// <summary>Answer of <c>POST .../time</c>: the time this report added, and whether it was a replay of an earlier one.</summary>
public sealed record TimeRecorded(string EventId, long CountedMs, bool Duplicate);

/// <summary>Result of a rebuild: events read, cube rows written, the new generation, seconds in all and reading and aggregating the log.</summary>
public sealed record RebuildResult(long Events, long Rows, long Generation, double Seconds, double ReadSeconds);
