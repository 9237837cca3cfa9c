using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Exports;

/// <summary>
/// Export documents (<c>kind</c> = "export") and label-version name claims (<c>kind</c> = "versionClaim", id derived
/// from the lower-cased name) in the project's partition. An export saved as a version is created in one atomic
/// batch with its claim, so two exports can never take the same name.
/// </summary>
public sealed class ExportStore(IDocumentStore store, TimeProvider time)
{
    private const string ExportKind = "export";
    private const string ClaimKind = "versionClaim";
    private const int MaxAttempts = 30;

    private IDocumentContainer Exports => store.Container(ExportContainers.Exports);

    /// <summary>Id of the claim on a label-version name (case-insensitive).</summary>
    public static string ClaimId(string name) =>
        "v_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name.ToUpperInvariant())))[..40];

    /// <summary>Records a new export (state running); with a version, claims its name in the same batch.</summary>
    /// <exception cref="LabelVersionTakenException">The version name is taken.</exception>
    public async Task CreateAsync(Export export, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(export);
        var partition = ExportContainers.Partition(export.ProjectId);
        var body = Body(export);
        if (export.Version is not { } version)
        {
            await Exports.CreateAsync(partition, export.Id, body, ct);
            return;
        }

        var claim = new JsonObject { ["kind"] = ClaimKind, ["name"] = version, ["exportId"] = export.Id };
        try
        {
            await Exports.ExecuteBatchAsync(partition, [BatchOperation.Create(ClaimId(version), claim), BatchOperation.Create(export.Id, body)], ct);
        }
        catch (DocumentBatchFailedException ex) when (ex.OperationIndex == 0)
        {
            throw new LabelVersionTakenException(version);
        }
    }

    public async Task<Export?> GetAsync(string projectId, string exportId, CancellationToken ct) =>
        await ReadAsync(projectId, exportId, ct) is { } doc ? ToExport(doc) : null;

    /// <summary>The export document with its plan (null until the export has started reading).</summary>
    public async Task<(Export Export, ExportPlan? Plan)?> GetWithPlanAsync(string projectId, string exportId, CancellationToken ct)
    {
        if (await ReadAsync(projectId, exportId, ct) is not { } doc)
        {
            return null;
        }

        var plan = doc.Body["plan"] is JsonObject stored ? stored.Deserialize<ExportPlan>(DocumentJson.Options) : null;
        return (ToExport(doc), plan);
    }

    /// <summary>The project's exports (or only its label versions), newest first.</summary>
    public async Task<Page<Export>> ListAsync(string projectId, bool versionsOnly, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var where = versionsOnly
            ? Filter.And(Filter.Eq("kind", ExportKind), Filter.Eq("versioned", true))
            : Filter.Eq("kind", ExportKind);
        var page = await Exports.QueryAsync(
            new DocumentQuery(ExportContainers.Partition(projectId), where, [new SortField("createdAt", Descending: true), new SortField("id", Descending: true)], pageSize, continuationToken), ct);
        return new Page<Export>([.. page.Items.Select(ToExport)], page.ContinuationToken);
    }

    /// <summary>The export saved as label version <paramref name="name"/> (case-insensitive), or null.</summary>
    public async Task<Export?> GetVersionAsync(string projectId, string name, CancellationToken ct)
    {
        var claim = await Exports.ReadAsync(ExportContainers.Partition(projectId), ClaimId(name), ct);
        return claim?.Body["exportId"]?.GetValue<string>() is { } exportId ? await GetAsync(projectId, exportId, ct) : null;
    }

    /// <summary>Renames; null when absent.</summary>
    /// <exception cref="ExportImmutableException">The export is a label version.</exception>
    public async Task<Export?> RenameAsync(string projectId, string exportId, string name, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (await ReadAsync(projectId, exportId, ct) is not { } doc)
            {
                return null;
            }

            var export = ToExport(doc);
            if (export.Version is { } version)
            {
                throw new ExportImmutableException(exportId, version);
            }

            try
            {
                var updated = await Exports.PatchAsync(ExportContainers.Partition(projectId), exportId,
                    [PatchOperation.Set("name", name), PatchOperation.Set("updatedAt", Now())], doc.ETag, ct);
                return ToExport(updated);
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Deletes the export document; returns it (null when absent). The caller deletes its blobs.</summary>
    /// <exception cref="ExportImmutableException">The export is a label version.</exception>
    public async Task<Export?> DeleteAsync(string projectId, string exportId, CancellationToken ct)
    {
        if (await ReadAsync(projectId, exportId, ct) is not { } doc)
        {
            return null;
        }

        var export = ToExport(doc);
        if (export.Version is { } version)
        {
            throw new ExportImmutableException(exportId, version);
        }

        try
        {
            await Exports.DeleteAsync(ExportContainers.Partition(projectId), exportId, null, ct);
        }
        catch (DocumentNotFoundException)
        {
            // Deleted concurrently: the outcome is the same.
        }

        return export;
    }

    /// <summary>Stores the plan and the total once (a repeat keeps the first plan, so a resumed export reads what the first run read).</summary>
    public async Task<ExportPlan?> SavePlanAsync(string projectId, string exportId, ExportPlan plan, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        for (var attempt = 1; ; attempt++)
        {
            if (await ReadAsync(projectId, exportId, ct) is not { } doc)
            {
                return null;
            }

            if (doc.Body["plan"] is JsonObject existing)
            {
                return existing.Deserialize<ExportPlan>(DocumentJson.Options);
            }

            try
            {
                await Exports.PatchAsync(ExportContainers.Partition(projectId), exportId,
                [
                    PatchOperation.Set("plan", JsonSerializer.SerializeToNode(plan, DocumentJson.Options)),
                    PatchOperation.Set("progress.itemsTotal", plan.ItemsTotal),
                    PatchOperation.Set("updatedAt", Now()),
                ], doc.ETag, ct);
                return plan;
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Records progress (idempotent: sets the count the orchestration computed). False when the export is gone.</summary>
    public Task<bool> SetProgressAsync(string projectId, string exportId, long itemsDone, CancellationToken ct) =>
        TryPatchAsync(projectId, exportId, [PatchOperation.Set("progress.itemsDone", itemsDone), PatchOperation.Set("updatedAt", Now())], ct);

    /// <summary>Marks the export done with its size and counts.</summary>
    public Task<bool> CompleteAsync(string projectId, string exportId, long sizeBytes, ExportCounts counts, long itemsDone, CancellationToken ct) =>
        TryPatchAsync(projectId, exportId,
        [
            PatchOperation.Set("state", ExportFormats.Done),
            PatchOperation.Set("sizeBytes", sizeBytes),
            PatchOperation.Set("counts", JsonSerializer.SerializeToNode(counts, DocumentJson.Options)),
            PatchOperation.Set("progress.itemsDone", itemsDone),
            PatchOperation.Set("updatedAt", Now()),
        ], ct);

    /// <summary>Marks the export failed with the reason.</summary>
    public Task<bool> FailAsync(string projectId, string exportId, string error, CancellationToken ct) =>
        TryPatchAsync(projectId, exportId, [PatchOperation.Set("state", ExportFormats.Failed), PatchOperation.Set("error", error), PatchOperation.Set("updatedAt", Now())], ct);

    private async Task<bool> TryPatchAsync(string projectId, string exportId, IReadOnlyList<PatchOperation> operations, CancellationToken ct)
    {
        try
        {
            await Exports.PatchAsync(ExportContainers.Partition(projectId), exportId, operations, null, ct);
            return true;
        }
        catch (DocumentNotFoundException)
        {
            return false;
        }
    }

    private async Task<StoredDocument?> ReadAsync(string projectId, string exportId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(exportId))
        {
            return null;
        }

        var doc = await Exports.ReadAsync(ExportContainers.Partition(projectId), exportId, ct);
        return doc?.Body["kind"]?.GetValue<string>() == ExportKind ? doc : null;
    }

    private string Now() => StoredTimestamp.Format(time.GetUtcNow());

    private static JsonObject Body(Export export)
    {
        var body = JsonSerializer.SerializeToNode(export, DocumentJson.Options)!.AsObject();
        body["kind"] = ExportKind;
        body["versioned"] = export.Version is not null;
        return body;
    }

    private static Export ToExport(StoredDocument doc) => doc.Body.Deserialize<Export>(DocumentJson.Options)!;
}
