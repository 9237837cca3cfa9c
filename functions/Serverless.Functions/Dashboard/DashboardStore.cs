using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Dashboard;

/// <summary>
/// Computes the dashboard without scanning documents: a dataset's item total and items by type are its counter
/// document (<c>itemCount</c>, <c>byType.{type}</c>), changed by patch increments in the same atomic batch as every
/// item write and delete (<c>ItemStore</c>); datasets and members are counts over their project partition (small).
/// See the bench suite <c>dashboard</c> for the latency over 1M items.
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
        var stats = await items.ReadAsync(partition, DatasetContainers.StatsId, ct);
        Dictionary<string, long> byType;
        if (stats?.Body["byType"] is JsonObject kept)
        {
            // Maintained by every item write in the same batch (ItemStore): exact, no counting.
            byType = FieldCatalogs.ItemTypes.ToDictionary(t => t, t => kept[t] is { } n ? (long)n.GetValue<double>() : 0L, StringComparer.Ordinal);
        }
        else
        {
            // A counter from before per-type counts (upgraded by the dataset's next item write): count once.
            var counts = await Task.WhenAll(FieldCatalogs.ItemTypes.Select(t => items.CountAsync(partition, Filter.And(Filter.Eq("kind", "item"), Filter.Eq("type", t)), ct)));
            byType = FieldCatalogs.ItemTypes.Zip(counts).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
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
