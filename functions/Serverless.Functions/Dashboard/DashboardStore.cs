using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Dashboard;

/// <summary>
/// Computes the dashboard without scanning documents: the item total of a dataset is its counter document (kept
/// exact by every item write, in the same atomic batch), items by type are index-range counts over the items
/// container's <c>type</c> index within the dataset's partition, datasets and members are counts over their
/// project partition (small). See the bench suite <c>dashboard</c> for the latency over 1M items.
/// </summary>
public sealed class DashboardStore(IDocumentStore store)
{
    /// <summary>Datasets listed one by one in <see cref="ProjectDashboard.PerDataset"/>.</summary>
    public const int MaxDatasetsListed = 200;

    private const int Parallelism = 8;

    public async Task<ProjectDashboard> GetAsync(string projectId, CancellationToken ct)
    {
        var membersTask = CountMembersAsync(projectId, ct);
        var datasets = store.Container(DatasetContainers.Datasets);
        var partition = DatasetContainers.ProjectPartition(projectId);
        var perDataset = new List<DatasetCounts>();
        var byType = FieldCatalogs.ItemTypes.ToDictionary(t => t, _ => 0L, StringComparer.Ordinal);
        long datasetCount = 0, total = 0;
        string? token = null;
        do
        {
            var page = await datasets.QueryAsync(new DocumentQuery(partition, null, [new SortField("createdAt")], DocumentLimits.MaxPageSize, token), ct);
            token = page.ContinuationToken;
            var counts = new DatasetCounts[page.Items.Count];
            await Parallel.ForAsync(0, page.Items.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (k, t) =>
                counts[k] = await CountDatasetAsync(page.Items[k], t));
            foreach (var dataset in counts)
            {
                datasetCount++;
                total += dataset.Items;
                foreach (var (type, n) in dataset.ItemsByType)
                {
                    byType[type] += n;
                }

                if (perDataset.Count < MaxDatasetsListed)
                {
                    perDataset.Add(dataset);
                }
            }
        }
        while (token is not null);

        return new ProjectDashboard(
            projectId,
            datasetCount,
            new ItemCounts(total, byType),
            await membersTask,
            DashboardFigures.Pending,
            DashboardFigures.PendingLabeling,
            perDataset,
            datasetCount > perDataset.Count);
    }

    private async Task<DatasetCounts> CountDatasetAsync(StoredDocument dataset, CancellationToken ct)
    {
        var items = store.Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(dataset.Id);
        var statsTask = items.ReadAsync(partition, DatasetContainers.StatsId, ct);
        var typeTasks = FieldCatalogs.ItemTypes.Select(t => items.CountAsync(partition, Filter.Eq("type", t), ct)).ToList();
        var stats = await statsTask;
        var byType = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < typeTasks.Count; i++)
        {
            byType[FieldCatalogs.ItemTypes[i]] = await typeTasks[i];
        }

        return new DatasetCounts(
            dataset.Id,
            dataset.Body["name"]?.GetValue<string>() ?? "",
            stats?.Body["itemCount"]?.GetValue<long>() ?? 0,
            byType,
            DashboardFigures.Pending);
    }

    private async Task<MemberCounts> CountMembersAsync(string projectId, CancellationToken ct)
    {
        var groups = await store.Container(ProjectContainers.Projects)
            .CountByAsync(ProjectContainers.Partition(projectId), Filter.Eq("type", ProjectContainers.MemberType), "role", ct);
        var byRole = Enum.GetNames<ProjectRole>().ToDictionary(r => r, _ => 0L, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            if (group.Value?.GetValue<string>() is { } role && byRole.ContainsKey(role))
            {
                byRole[role] += group.Count;
            }
        }

        return new MemberCounts(byRole.Values.Sum(), byRole);
    }
}
