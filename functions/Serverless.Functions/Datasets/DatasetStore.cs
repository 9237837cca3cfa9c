using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Datasets;

/// <summary>
/// Datasets in the document store. The item count is not stored here: it is the counter document of
/// the dataset's item partition, which every item write changes in the same atomic batch (see
/// <c>ItemStore</c>), so the count is exact without scanning.
/// </summary>
public sealed class DatasetStore(IDocumentStore store, TimeProvider time)
{
    private IDocumentContainer Datasets => store.Container(DatasetContainers.Datasets);

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    public async Task<Dataset> CreateAsync(string projectId, string name, string creatorId, CancellationToken ct)
    {
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var id = Ids.New("d");
        var body = new JsonObject
        {
            ["projectId"] = projectId,
            ["name"] = name,
            ["createdBy"] = creatorId,
            ["createdAt"] = now,
            ["updatedAt"] = now,
        };
        await Datasets.CreateAsync(DatasetContainers.ProjectPartition(projectId), id, body, ct);
        return new Dataset(id, projectId, name, 0, creatorId, now, now);
    }

    /// <summary>
    /// Creates the target of a clone or merge under a caller-chosen id in state <see cref="DatasetStates.Copying"/>.
    /// Idempotent: an existing dataset with that id is kept (an activity retried after it already ran).
    /// <paramref name="recipeId"/>: the recipe the target uses (the one its sources share), or null.
    /// </summary>
    public async Task CreateCopyTargetAsync(string projectId, string datasetId, string name, string creatorId, IReadOnlyList<string> sources, string? recipeId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var body = new JsonObject
        {
            ["projectId"] = projectId,
            ["name"] = name,
            ["createdBy"] = creatorId,
            ["createdAt"] = now,
            ["updatedAt"] = now,
            ["state"] = DatasetStates.Copying,
            ["copiedFrom"] = new JsonArray([.. sources.Select(s => JsonValue.Create(s))]),
        };
        if (recipeId is not null)
        {
            body["recipeId"] = recipeId;
        }

        try
        {
            await Datasets.CreateAsync(DatasetContainers.ProjectPartition(projectId), datasetId, body, ct);
        }
        catch (DocumentConflictException)
        {
            // Created by an earlier delivery of the same step.
        }
    }

    /// <summary>Marks a copy target <see cref="DatasetStates.Ready"/>; false when it no longer exists.</summary>
    public async Task<bool> CompleteCopyAsync(string projectId, string datasetId, CancellationToken ct)
    {
        try
        {
            await Datasets.PatchAsync(DatasetContainers.ProjectPartition(projectId), datasetId,
                [PatchOperation.Set("state", DatasetStates.Ready), PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow()))], cancellationToken: ct);
            return true;
        }
        catch (DocumentNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The dataset of that project, or null (also for a well-formed id of another project).</summary>
    public async Task<Dataset?> GetAsync(string projectId, string datasetId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(datasetId))
        {
            return null;
        }

        var doc = await Datasets.ReadAsync(DatasetContainers.ProjectPartition(projectId), datasetId, ct);
        return doc is null ? null : ToDataset(doc, await CountAsync(datasetId, ct));
    }

    /// <summary>Whether the dataset exists in the project and the recipe it uses (one point read; no counter read).</summary>
    public async Task<(bool Exists, string? RecipeId)> GetRecipeIdAsync(string projectId, string datasetId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(datasetId) ? await Datasets.ReadAsync(DatasetContainers.ProjectPartition(projectId), datasetId, ct) : null;
        return (doc is not null, doc?.Body["recipeId"]?.GetValue<string>());
    }

    /// <summary>Whether the dataset exists in the project (one point read; no counter read).</summary>
    public async Task<bool> ExistsAsync(string projectId, string datasetId, CancellationToken ct) =>
        Ids.IsWellFormed(datasetId) && await Datasets.ReadAsync(DatasetContainers.ProjectPartition(projectId), datasetId, ct) is not null;

    public async Task<Page<Dataset>> ListAsync(string projectId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Datasets.QueryAsync(new DocumentQuery(DatasetContainers.ProjectPartition(projectId), null, [new SortField("createdAt")], pageSize, continuationToken), ct);
        var counts = await Task.WhenAll(page.Items.Select(d => CountAsync(d.Id, ct)));
        return new Page<Dataset>([.. page.Items.Zip(counts, ToDataset)], page.ContinuationToken);
    }

    public async Task<Dataset?> RenameAsync(string projectId, string datasetId, string name, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(datasetId))
        {
            return null;
        }

        try
        {
            var doc = await Datasets.PatchAsync(DatasetContainers.ProjectPartition(projectId), datasetId,
                [PatchOperation.Set("name", name), PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow()))], cancellationToken: ct);
            return ToDataset(doc, await CountAsync(datasetId, ct));
        }
        catch (DocumentNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether the dataset may be deleted: false when it does not exist. Refuses a dataset with items unless
    /// <paramref name="force"/> (the <see cref="DeleteDataset"/> cascade then removes them).
    /// </summary>
    /// <exception cref="DatasetNotEmptyException">Items remain and <paramref name="force"/> is false.</exception>
    public async Task<bool> CheckDeletableAsync(string projectId, string datasetId, bool force, CancellationToken ct)
    {
        if (!await ExistsAsync(projectId, datasetId, ct))
        {
            return false;
        }

        var count = await CountAsync(datasetId, ct);
        return count == 0 || force ? true : throw new DatasetNotEmptyException(datasetId, count);
    }

    /// <summary>Removes the dataset document, so every route answers 404 for it; its contents are the cascade's (idempotent).</summary>
    public Task RemoveAsync(string projectId, string datasetId, CancellationToken ct) =>
        IdentityStore.DeleteIfExistsAsync(Datasets, DatasetContainers.ProjectPartition(projectId), datasetId, ct);

    /// <summary>The dataset's item count: its counter document (missing = 0).</summary>
    public async Task<long> CountAsync(string datasetId, CancellationToken ct)
    {
        var stats = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), DatasetContainers.StatsId, ct);
        return stats?.Body["itemCount"]?.GetValue<long>() ?? 0;
    }

    /// <summary>Points the dataset at <paramref name="recipeId"/> (null: none). Returns the dataset and the recipe it used before, or null when it does not exist.</summary>
    public async Task<(Dataset Dataset, string? Previous)?> SetRecipeAsync(string projectId, string datasetId, string? recipeId, CancellationToken ct)
    {
        var current = Ids.IsWellFormed(datasetId) ? await Datasets.ReadAsync(DatasetContainers.ProjectPartition(projectId), datasetId, ct) : null;
        if (current is null)
        {
            return null;
        }

        try
        {
            var doc = await Datasets.PatchAsync(DatasetContainers.ProjectPartition(projectId), datasetId,
                [PatchOperation.Set("recipeId", recipeId), PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow()))], cancellationToken: ct);
            return (ToDataset(doc, await CountAsync(datasetId, ct)), current.Body["recipeId"]?.GetValue<string>());
        }
        catch (DocumentNotFoundException)
        {
            return null;
        }
    }

    private static Dataset ToDataset(StoredDocument doc, long count) => new(
        doc.Id,
        doc.Body["projectId"]!.GetValue<string>(),
        doc.Body["name"]!.GetValue<string>(),
        count,
        doc.Body["createdBy"]!.GetValue<string>(),
        doc.Body["createdAt"]!.GetValue<string>(),
        doc.Body["updatedAt"]!.GetValue<string>(),
        doc.Body["state"]?.GetValue<string>() ?? DatasetStates.Ready,
        doc.Body["recipeId"]?.GetValue<string>());
}
