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
/// item write and delete (<c>ItemStore</c>); annotations are each dataset's <c>annotation-stats</c> counter (moved in
/// the batch of every annotation write); datasets and members are counts over their project partition (small);
/// open tasks and labeling status come from the tasks (one document each, in the project partition) and their
/// progress documents (patched in the batch of every status change). See the bench suite <c>dashboard</c>.
/// </summary>
public sealed class DashboardStore(IDocumentStore store)
{
    /// <summary>Datasets listed one by one in <see cref="ProjectDashboard.PerDataset"/>.</summary>
    public const int MaxDatasetsListed = 200;

    private const int Parallelism = 8;

    public async Task<ProjectDashboard> GetAsync(string projectId, CancellationToken ct)
    {
        var membersTask = CountMembersAsync(projectId, ct);
        var tasksTask = TaskFiguresAsync(projectId, ct);
        var datasets = store.Container(DatasetContainers.Datasets);
        var partition = DatasetContainers.ProjectPartition(projectId);
        var perDataset = new List<DatasetCounts>();
        var byType = FieldCatalogs.ItemTypes.ToDictionary(t => t, _ => 0L, StringComparer.Ordinal);
        long datasetCount = 0, total = 0, annotations = 0;
        string? token = null;
        do
        {
            var page = await datasets.QueryAsync(new DocumentQuery(partition, null, [new SortField("createdAt")], DocumentLimits.MaxPageSize, token), ct);
            token = page.ContinuationToken;
            var counts = new (DatasetCounts Counts, long Annotations)[page.Items.Count];
            await Parallel.ForAsync(0, page.Items.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (k, t) =>
                counts[k] = await CountDatasetAsync(page.Items[k], t));
            var tasks = await tasksTask;
            foreach (var (dataset, annotationCount) in counts)
            {
                datasetCount++;
                total += dataset.Items;
                annotations += annotationCount;
                foreach (var (type, n) in dataset.ItemsByType)
                {
                    byType[type] += n;
                }

                if (perDataset.Count < MaxDatasetsListed)
                {
                    perDataset.Add(dataset with { OpenTasks = new PendingCount(tasks.OpenPerDataset.GetValueOrDefault(dataset.DatasetId), DashboardFigures.Available) });
                }
            }
        }
        while (token is not null);

        return new ProjectDashboard(
            projectId,
            datasetCount,
            new ItemCounts(total, byType),
            await membersTask,
            new PendingCount(annotations, DashboardFigures.Available),
            (await tasksTask).Labeling,
            perDataset,
            datasetCount > perDataset.Count);
    }

    private async Task<(DatasetCounts Counts, long Annotations)> CountDatasetAsync(StoredDocument dataset, CancellationToken ct)
    {
        var items = store.Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(dataset.Id);
        var annotationsTask = items.ReadAsync(partition, Annotations.AnnotationStore.CounterId, ct);
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
            var perType = await Task.WhenAll(FieldCatalogs.ItemTypes.Select(t => items.CountAsync(partition, Filter.And(Filter.Eq("kind", "item"), Filter.Eq("type", t)), ct)));
            byType = FieldCatalogs.ItemTypes.Zip(perType).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
        }

        var counts = new DatasetCounts(
            dataset.Id,
            dataset.Body["name"]?.GetValue<string>() ?? "",
            stats?.Body["itemCount"]?.GetValue<long>() ?? 0,
            byType,
            DashboardFigures.Pending);
        return (counts, Long((await annotationsTask)?.Body["annotationCount"]));
    }

    /// <summary>
    /// Open tasks (not completed) per dataset, and the labeling status summed over the tasks' progress counters:
    /// annotation tasks give in progress (items without a status), completed (any status but DISCARDED) and
    /// discarded; QA tasks give reviewed (items with a status) and not reviewed (without). An item in two tasks
    /// counts in both. Tasks are few per project; each progress document is one point read, in parallel.
    /// </summary>
    private async Task<(Dictionary<string, long> OpenPerDataset, LabelingStatusCounts Labeling)> TaskFiguresAsync(string projectId, CancellationToken ct)
    {
        var container = store.Container(Tasks.TaskContainers.Tasks);
        var tasks = new List<StoredDocument>();
        string? token = null;
        do
        {
            var page = await container.QueryAsync(new DocumentQuery(Tasks.TaskContainers.ProjectPartition(projectId), Filter.Eq("kind", "task"), [new SortField("id")], DocumentLimits.MaxPageSize, token), ct);
            tasks.AddRange(page.Items);
            token = page.ContinuationToken;
        }
        while (token is not null);

        var progress = new Tasks.TaskProgress[tasks.Count];
        await Parallel.ForAsync(0, tasks.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (k, t) =>
            progress[k] = Tasks.TaskStore.ToProgress((await container.ReadAsync(Tasks.TaskContainers.TaskPartition(tasks[k].Id), Tasks.TaskContainers.ProgressId, t))?.Body));
        var open = new Dictionary<string, long>(StringComparer.Ordinal);
        long inProgress = 0, completed = 0, discarded = 0, reviewed = 0, notReviewed = 0;
        for (var k = 0; k < tasks.Count; k++)
        {
            var task = tasks[k].Body;
            if (task["state"]?.GetValue<string>() != "completed" && task["datasetId"]?.GetValue<string>() is { } datasetId)
            {
                open[datasetId] = open.GetValueOrDefault(datasetId) + 1;
            }

            var (total, done) = (progress[k].Total, progress[k].Done);
            if (task["type"]?.GetValue<string>() == "qa")
            {
                reviewed += done;
                notReviewed += total - done;
            }
            else
            {
                var discardedHere = progress[k].ByStatus.GetValueOrDefault("DISCARDED");
                inProgress += total - done;
                discarded += discardedHere;
                completed += done - discardedHere;
            }
        }

        return (open, new LabelingStatusCounts(inProgress, completed, discarded, reviewed, notReviewed, DashboardFigures.Available));
    }

    /// <summary>A counter as stored (patched increments may read back as long or double).</summary>
    private static long Long(JsonNode? node) => node is null ? 0 : (long)node.GetValue<double>();

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
