using Serverless.Core.Storage.Documents;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Durable;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Datasets;

/// <summary>A document of another feature, deleted by a cascade once its own partition is empty.</summary>
public sealed record DocumentRef(string Container, string Partition, string Id);

/// <summary>Something another feature keeps for a dataset (e.g. a task over it): a partition of its own, then its document.</summary>
public sealed record DatasetChild(PartitionRef Contents, DocumentRef Document);

/// <summary>
/// Lists up to a page of what a feature keeps for a dataset (<see cref="DatasetChild"/>); the dataset delete cascade
/// empties and deletes them. A child deleted disappears from the list, so the cascade asks until it is empty.
/// </summary>
public sealed record DatasetCascadeChildren(Func<DatasetRef, CancellationToken, Task<IReadOnlyList<DatasetChild>>> ListAsync);

/// <summary>
/// Deletes a dataset's contents once <c>DELETE .../datasets/{id}</c> removed its document (the route answers 404 from
/// then on): every registered child (tasks over the dataset: items, progress, issues, then the task document), the
/// item partition (items, path claims, annotations, counters) and the dataset's files (every blob under
/// <c>{projectId}/{datasetId}/</c> in each <see cref="ProjectCascadeBlobs"/> container: item files, the raw zip, and
/// files a crash left unreferenced). Every step re-reads what is left, so a crash or a second start just continues.
/// </summary>
/// <remarks>
/// The API starts this before removing the dataset document, and the first step removes it again: a crash between the
/// two leaves a running cascade, never a dataset half-deleted and still listed.
/// </remarks>
public sealed class DeleteDataset : TaskOrchestrator<DatasetRef, bool>
{
    /// <summary>Activity calls per execution before continue-as-new.</summary>
    public const int CallsPerExecution = 100;

    private static readonly TaskOptions Retry = ActivityRetry.Store;

    public override async Task<bool> RunAsync(TaskOrchestrationContext context, DatasetRef input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var budget = new CallBudget(context, input, CallsPerExecution);
        await context.CallActivityAsync<bool>(nameof(DeleteDatasetDocument), input, Retry);
        context.SetCustomStatus(new { phase = "tasks" });
        while (await context.CallActivityAsync<List<DatasetChild>>(nameof(ListDatasetChildren), input, Retry) is { Count: > 0 } children)
        {
            foreach (var child in children)
            {
                if (!await budget.DrainAsync(nameof(PurgePartition), child.Contents, Retry))
                {
                    return true;
                }

                await context.CallActivityAsync<bool>(nameof(DeleteDocument), child.Document, Retry);
                if (!budget.Spend())
                {
                    return true;
                }
            }
        }

        context.SetCustomStatus(new { phase = "items" });
        var items = new PartitionRef(DatasetContainers.Items, DatasetContainers.ItemPartition(input.DatasetId));
        if (!await budget.DrainAsync(nameof(PurgePartition), items, Retry))
        {
            return true;
        }

        context.SetCustomStatus(new { phase = "files" });
        if (!await budget.DrainAsync(nameof(PurgeDatasetBlobs), input, Retry))
        {
            return true;
        }

        context.SetCustomStatus(new { phase = "deleted" });
        return true;
    }
}

/// <summary>A page of what the registered features keep for the dataset.</summary>
public sealed class ListDatasetChildren(IEnumerable<DatasetCascadeChildren> features) : TaskActivity<DatasetRef, List<DatasetChild>>
{
    public override async Task<List<DatasetChild>> RunAsync(TaskActivityContext context, DatasetRef input)
    {
        var children = new List<DatasetChild>();
        foreach (var feature in features)
        {
            children.AddRange(await feature.ListAsync(input, CancellationToken.None));
        }

        return children;
    }
}

/// <summary>Deletes one document (idempotent).</summary>
public sealed class DeleteDocument(IDocumentStore store) : TaskActivity<DocumentRef, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, DocumentRef input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await IdentityStore.DeleteIfExistsAsync(store.Container(input.Container), input.Partition, input.Id, CancellationToken.None);
        return true;
    }
}

/// <summary>Deletes one page of the dataset's files.</summary>
public sealed class PurgeDatasetBlobs(ProjectCascade cascade) : TaskActivity<DatasetRef, int>
{
    public override Task<int> RunAsync(TaskActivityContext context, DatasetRef input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return cascade.PurgeBlobsAsync($"{input.ProjectId}/{input.DatasetId}/", CancellationToken.None);
    }
}
