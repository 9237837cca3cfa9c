namespace Serverless.Functions.Dashboard;

/// <summary>
/// The project dashboard in one answer. Figures the platform can compute today are exact; figures that need
/// features not built yet (annotations, tasks, labeling status) are present with value 0 and
/// <c>status: "notAvailableYet"</c>, so clients can lay out the final shape without mistaking them for data.
/// </summary>
/// <param name="ProjectId">The project.</param>
/// <param name="Datasets">Datasets in the project.</param>
/// <param name="Items">Items in all datasets, in total and by type.</param>
/// <param name="Members">Members in total and by role (every role listed, 0 included).</param>
/// <param name="Annotations">Annotations in the project (not available yet).</param>
/// <param name="LabelingStatus">Item statuses over the project's tasks (not available yet).</param>
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

/// <summary>A counter of a feature that does not exist yet: always 0 with <see cref="DashboardFigures.NotAvailableYet"/>.</summary>
public sealed record PendingCount(long Count, string Status);

/// <summary>Labeling status counters (issue 5 fills them); all 0 with <see cref="DashboardFigures.NotAvailableYet"/> until then.</summary>
public sealed record LabelingStatusCounts(long InProgress, long Completed, long Discarded, long Reviewed, long NotReviewed, string Status);

/// <summary>Status values of dashboard figures.</summary>
public static class DashboardFigures
{
    /// <summary>The figure is exact.</summary>
    public const string Available = "available";

    /// <summary>The feature behind the figure is not built yet; the value is 0 and means nothing.</summary>
    public const string NotAvailableYet = "notAvailableYet";

    public static PendingCount Pending { get; } = new(0, NotAvailableYet);

    public static LabelingStatusCounts PendingLabeling { get; } = new(0, 0, 0, 0, 0, NotAvailableYet);
}
