namespace Serverless.Functions.Dashboard;

/// <summary>
/// The project dashboard in one answer. Every figure is exact and marked <c>status: "available"</c>; the status
/// field stays so that a figure a future feature adds can be laid out before it is computed (<c>notAvailableYet</c>).
/// </summary>
/// <param name="ProjectId">The project.</param>
/// <param name="Datasets">Datasets in the project.</param>
/// <param name="Items">Items in all datasets, in total and by type.</param>
/// <param name="Members">Members in total and by role (every role listed, 0 included).</param>
/// <param name="Annotations">Annotations in the project.</param>
/// <param name="LabelingStatus">Item statuses summed over the project's tasks.</param>
/// <param name="PerDataset">Per dataset (the first <see cref="DashboardStore.MaxDatasetsListed"/> by creation): items and open tasks.</param>
/// <param name="PerDatasetTruncated">True when the project has more datasets than <see cref="PerDataset"/> lists.</param>
public sealed record ProjectDashboard(
    string ProjectId,
    long Datasets,
    ItemCounts Items,
    MemberCounts Members,
    PendingCount Annotations,
    LabelingStatusCounts LabelingStatus,
    IReadOnlyList<DatasetCounts> PerDataset,
    bool PerDatasetTruncated);

/// <summary>Item counts: <paramref name="ByType"/> has one entry per item type (image, video, text, other).</summary>
public sealed record ItemCounts(long Total, IReadOnlyDictionary<string, long> ByType);

/// <summary>Member counts: <paramref name="ByRole"/> has one entry per project role.</summary>
public sealed record MemberCounts(long Total, IReadOnlyDictionary<string, long> ByRole);

/// <summary>One dataset's counters.</summary>
public sealed record DatasetCounts(string DatasetId, string Name, long Items, IReadOnlyDictionary<string, long> ItemsByType, PendingCount OpenTasks);

/// <summary>A counter and whether it is computed (<see cref="DashboardFigures.Available"/>).</summary>
public sealed record PendingCount(long Count, string Status);

/// <summary>Labeling status over task items: annotation tasks' in progress / completed / discarded, QA tasks' reviewed / not reviewed.</summary>
public sealed record LabelingStatusCounts(long InProgress, long Completed, long Discarded, long Reviewed, long NotReviewed, string Status);

/// <summary>Status values of dashboard figures.</summary>
public static class DashboardFigures
{
    /// <summary>The figure is exact.</summary>
    public const string Available = "available";

    /// <summary>The feature behind the figure is not built yet; the value is 0 and means nothing.</summary>
    public const string NotAvailableYet = "notAvailableYet";

    public static PendingCount Pending { get; } = new(0, NotAvailableYet);
}
