using System.Text.Json;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Imports;

/// <summary>Import documents in the project's partition of the <c>imports</c> container.</summary>
public sealed class ImportStore(IDocumentStore store)
{
    private IDocumentContainer Imports => store.Container(ImportContainers.Imports);

    public async Task CreateAsync(Import import, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(import);
        await Imports.CreateAsync(ImportContainers.Partition(import.ProjectId), import.Id, JsonSerializer.SerializeToNode(import, DocumentJson.Options)!.AsObject(), ct);
    }

    public async Task<Import?> GetAsync(string projectId, string importId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(importId) ? await Imports.ReadAsync(ImportContainers.Partition(projectId), importId, ct) : null;
        return doc?.Body.Deserialize<Import>(DocumentJson.Options);
    }

    /// <summary>Writes the import's outcome (last writer wins: only its own orchestration writes it).</summary>
    public async Task SaveAsync(Import import, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(import);
        await Imports.UpsertAsync(ImportContainers.Partition(import.ProjectId), import.Id, JsonSerializer.SerializeToNode(import, DocumentJson.Options)!.AsObject(), null, ct);
    }
}
