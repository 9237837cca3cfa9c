using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Recipes;

namespace Serverless.Functions.Projects;

/// <summary>Input of <see cref="DeleteProject"/>.</summary>
public sealed record DeleteProjectInput(string ProjectId);

/// <summary>A document partition the cascade empties.</summary>
public sealed record PartitionRef(string Container, string Partition);

/// <summary>A dataset of a project.</summary>
public sealed record DatasetRef(string ProjectId, string DatasetId);

/// <summary>
/// A project-scoped partition another feature owns, emptied by the delete cascade. Features whose data lives in
/// their own container register one (<c>services.AddSingleton(new ProjectCascadeTarget("annotations", id => ...))</c>).
/// </summary>
public sealed record ProjectCascadeTarget(string Container, Func<string, string> Partition);

/// <summary>
/// A blob container where another feature keeps a project's files under <c>{projectId}/</c> (exports, imports, raw
/// zips; items and recipes register theirs in <c>AddProjectDeletion</c>): the cascade deletes every blob under that prefix. Registered
/// from options (<c>services.AddSingleton(sp =&gt; new ProjectCascadeBlobs(...BlobContainer))</c>).
/// </summary>
public sealed record ProjectCascadeBlobs(string Container);

/// <summary>
/// Partitions a feature keeps per child of a project (e.g. one per task), listed when the cascade starts and emptied
/// before the registered <see cref="ProjectCascadeTarget"/> partitions (which may hold the list itself).
/// </summary>
public sealed record ProjectCascadeChildren(Func<string, CancellationToken, Task<IReadOnlyList<PartitionRef>>> ListAsync);

/// <summary>
/// Deletes a project and everything in it: marks it deleting (hidden at once), then for each dataset empties its
/// item partition (items, path claims, counter) and deletes the dataset, empties every registered project-scoped
/// partition (recipes, exports, imports, ...), deletes the project's files (every blob under <c>{projectId}/</c> in
/// every registered <see cref="ProjectCascadeBlobs"/> container (items, recipes, exports, imports, zips), which also
/// catches files a crash left unreferenced), and last removes members, index entries
/// and the project document. Each step re-reads what is left, so the whole flow is idempotent and a crash or a
/// second start just continues; it continues as new every <see cref="CallsPerExecution"/> calls to keep history small.
/// </summary>
/// <remarks>API keys belong to users, not projects: members keep their keys, which simply stop reaching the project.</remarks>
public sealed class DeleteProject : TaskOrchestrator<DeleteProjectInput, bool>
{
    /// <summary>Activity calls per execution before continue-as-new.</summary>
    public const int CallsPerExecution = 100;

    private static readonly TaskOptions Retry = ActivityRetry.Store;

    public override async Task<bool> RunAsync(TaskOrchestrationContext context, DeleteProjectInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var budget = new CallBudget(context, input, CallsPerExecution);
        context.SetCustomStatus(new { phase = "datasets" });
        if (!await context.CallActivityAsync<bool>(nameof(MarkProjectDeleting), input, Retry))
        {
            return false;
        }

        while (true)
        {
            var datasets = await context.CallActivityAsync<List<string>>(nameof(ListProjectDatasets), input, Retry);
            if (datasets.Count == 0)
            {
                break;
            }

            foreach (var datasetId in datasets)
            {
                var partition = new PartitionRef(DatasetContainers.Items, DatasetContainers.ItemPartition(datasetId));
                if (!await budget.DrainAsync(nameof(PurgePartition), partition, Retry))
                {
                    return true;
                }

                await context.CallActivityAsync(nameof(DeleteDatasetDocument), new DatasetRef(input.ProjectId, datasetId), Retry);
                if (!budget.Spend())
                {
                    return true;
                }
            }
        }

        context.SetCustomStatus(new { phase = "project data" });
        foreach (var partition in await context.CallActivityAsync<List<PartitionRef>>(nameof(ListProjectPartitions), input, Retry))
        {
            if (!await budget.DrainAsync(nameof(PurgePartition), partition, Retry))
            {
                return true;
            }
        }

        context.SetCustomStatus(new { phase = "files" });
        if (!await budget.DrainAsync(nameof(PurgeProjectBlobs), input, Retry))
        {
            return true;
        }

        context.SetCustomStatus(new { phase = "members" });
        await context.CallActivityAsync<bool>(nameof(FinishProjectDelete), input, Retry);
        context.SetCustomStatus(new { phase = "deleted" });
        return true;
    }
}

/// <summary>The I/O of the delete cascade; every operation is idempotent (deleting what is already gone is fine).</summary>
public sealed class ProjectCascade(
    IDocumentStore store,
    IBlobStore blobs,
    ProjectStore projects,
    IEnumerable<ProjectCascadeTarget> targets,
    IEnumerable<ProjectCascadeChildren> children,
    IEnumerable<ProjectCascadeBlobs> blobContainers)
{
    /// <summary>Documents deleted per activity call.</summary>
    public const int DocumentsPerCall = 200;

    /// <summary>Blobs deleted per activity call (one listing page).</summary>
    public const int BlobsPerCall = 500;

    private const int Parallelism = 16;

    public async Task<bool> MarkAsync(string projectId, CancellationToken ct) => await projects.MarkDeletingAsync(projectId, ct) is not null;

    /// <summary>Up to 50 dataset ids still in the project.</summary>
    public async Task<List<string>> ListDatasetsAsync(string projectId, CancellationToken ct)
    {
        var page = await store.Container(DatasetContainers.Datasets).QueryAsync(new DocumentQuery(DatasetContainers.ProjectPartition(projectId), PageSize: 50), ct);
        return [.. page.Items.Select(d => d.Id)];
    }

    public async Task<List<PartitionRef>> ListPartitionsAsync(string projectId, CancellationToken ct)
    {
        var perChild = new List<PartitionRef>();
        foreach (var child in children)
        {
            perChild.AddRange(await child.ListAsync(projectId, ct));
        }

        return [.. perChild, .. ListPartitions(projectId)];
    }

    private List<PartitionRef> ListPartitions(string projectId) =>
    [
        .. targets.Select(t => new PartitionRef(t.Container, t.Partition(projectId))),

        // Whatever is left in the project's dataset partition (the loop above deleted each dataset it saw).
        new PartitionRef(DatasetContainers.Datasets, DatasetContainers.ProjectPartition(projectId)),
    ];

    /// <summary>Deletes up to <see cref="DocumentsPerCall"/> documents of the partition; returns how many it found.</summary>
    public async Task<int> PurgePartitionAsync(PartitionRef partition, CancellationToken ct)
    {
        var container = store.Container(partition.Container);
        var page = await container.QueryAsync(new DocumentQuery(partition.Partition, PageSize: DocumentsPerCall), ct);
        await Parallel.ForEachAsync(page.Items, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (doc, token) =>
            await IdentityStore.DeleteIfExistsAsync(container, partition.Partition, doc.Id, token));
        return page.Items.Count;
    }

    /// <summary>
    /// Deletes up to <see cref="BlobsPerCall"/> blobs whose names start with <paramref name="prefix"/> (<c>{projectId}/</c>,
    /// or <c>{projectId}/{datasetId}/</c> for one dataset) in every registered <see cref="ProjectCascadeBlobs"/> container; returns how many.
    /// </summary>
    public async Task<int> PurgeBlobsAsync(string prefix, CancellationToken ct)
    {
        var deleted = 0;
        foreach (var container in blobContainers.Select(b => b.Container).Distinct(StringComparer.Ordinal))
        {
            BlobPage page;
            try
            {
                page = await blobs.ListAsync(container, prefix, BlobsPerCall - deleted, cancellationToken: ct);
            }
            catch (BlobNotFoundException)
            {
                continue; // the container was never created: nothing to delete
            }

            await Parallel.ForEachAsync(page.Items, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (blob, token) =>
                await blobs.DeleteAsync(container, blob.Name, token));
            deleted += page.Items.Count;
            if (deleted >= BlobsPerCall)
            {
                break;
            }
        }

        return deleted;
    }

    public Task<bool> FinishAsync(string projectId, CancellationToken ct) => projects.DeleteAsync(projectId, ct);
}

/// <summary>Hides the project at once. False when it no longer exists.</summary>
public sealed class MarkProjectDeleting(ProjectCascade cascade) : TaskActivity<DeleteProjectInput, bool>
{
    public override Task<bool> RunAsync(TaskActivityContext context, DeleteProjectInput input) => cascade.MarkAsync(input.ProjectId, CancellationToken.None);
}

/// <summary>Up to 50 datasets left in the project.</summary>
public sealed class ListProjectDatasets(ProjectCascade cascade) : TaskActivity<DeleteProjectInput, List<string>>
{
    public override Task<List<string>> RunAsync(TaskActivityContext context, DeleteProjectInput input) => cascade.ListDatasetsAsync(input.ProjectId, CancellationToken.None);
}

/// <summary>The per-child and registered project-scoped partitions (read from DI and the store, hence an activity).</summary>
public sealed class ListProjectPartitions(ProjectCascade cascade) : TaskActivity<DeleteProjectInput, List<PartitionRef>>
{
    public override Task<List<PartitionRef>> RunAsync(TaskActivityContext context, DeleteProjectInput input) => cascade.ListPartitionsAsync(input.ProjectId, CancellationToken.None);
}

/// <summary>Deletes one page of a partition's documents.</summary>
public sealed class PurgePartition(ProjectCascade cascade) : TaskActivity<PartitionRef, int>
{
    public override Task<int> RunAsync(TaskActivityContext context, PartitionRef input) => cascade.PurgePartitionAsync(input, CancellationToken.None);
}

/// <summary>Deletes a dataset document (idempotent): once its items are gone (project cascade), or first (dataset cascade).</summary>
public sealed class DeleteDatasetDocument(DatasetStore datasets) : TaskActivity<DatasetRef, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, DatasetRef input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await datasets.RemoveAsync(input.ProjectId, input.DatasetId, CancellationToken.None);
        return true;
    }
}

/// <summary>Deletes one page of the project's files.</summary>
public sealed class PurgeProjectBlobs(ProjectCascade cascade) : TaskActivity<DeleteProjectInput, int>
{
    public override Task<int> RunAsync(TaskActivityContext context, DeleteProjectInput input) => cascade.PurgeBlobsAsync(input.ProjectId + "/", CancellationToken.None);
}

/// <summary>Removes members, index entries and the project document.</summary>
public sealed class FinishProjectDelete(ProjectCascade cascade) : TaskActivity<DeleteProjectInput, bool>
{
    public override Task<bool> RunAsync(TaskActivityContext context, DeleteProjectInput input) => cascade.FinishAsync(input.ProjectId, CancellationToken.None);
}

/// <summary>Registers the delete cascade.</summary>
public static class ProjectDeletionRegistration
{
    /// <summary>The key in instance ids, <c>{projectId}.DeleteProject.delete</c>: one per project, so a second start joins the first.</summary>
    public const string Key = "delete";

    public static IHostApplicationBuilder AddProjectDeletion(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton(new ProjectCascadeTarget(RecipeContainers.Recipes, RecipeContainers.Partition));
        builder.Services.AddSingleton(sp => new ProjectCascadeBlobs(sp.GetRequiredService<IOptions<ItemsOptions>>().Value.BlobContainer));
        builder.Services.AddSingleton(sp => new ProjectCascadeBlobs(sp.GetRequiredService<IOptions<RecipeOptions>>().Value.BlobContainer));
        builder.Services.AddSingleton<ProjectCascade>();
        builder.Services.AddDurableTasks(r => r
            .AddOrchestrator<DeleteProject>()
            .AddActivity<MarkProjectDeleting>()
            .AddActivity<ListProjectDatasets>()
            .AddActivity<ListProjectPartitions>()
            .AddActivity<PurgePartition>()
            .AddActivity<DeleteDatasetDocument>()
            .AddActivity<PurgeProjectBlobs>()
            .AddActivity<FinishProjectDelete>()
            .AddOrchestrator<CopyProjectDatasets>()
            .AddActivity<ListDatasetsToCopy>());
        return builder;
    }
}
