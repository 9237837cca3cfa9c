using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Filters;

/// <summary>Saved filters in the document store; see <see cref="SavedFilterContainers"/> for how names and the cap hold under races.</summary>
public sealed class SavedFilterStore(IDocumentStore store, TimeProvider time)
{
    private const int MaxAttempts = 30;

    private IDocumentContainer Container => store.Container(SavedFilterContainers.SavedFilters);

    public async Task<SavedFilter?> GetAsync(string projectId, string filterId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(filterId))
        {
            return null;
        }

        var doc = await Container.ReadAsync(SavedFilterContainers.Partition(projectId), filterId, ct);
        return doc is null || doc.Body["type"]?.GetValue<string>() != SavedFilterContainers.FilterType ? null : doc.Body.Deserialize<SavedFilter>(DocumentJson.Options);
    }

    /// <summary>Every saved filter of the project (at most <see cref="SavedFilter.MaxPerProject"/>), by name.</summary>
    public async Task<IReadOnlyList<SavedFilter>> ListAsync(string projectId, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(SavedFilterContainers.Partition(projectId), Filter.Eq("type", SavedFilterContainers.FilterType), [new SortField("createdAt")], SavedFilter.MaxPerProject * 2),
            ct);
        return [.. page.Items.Select(d => d.Body.Deserialize<SavedFilter>(DocumentJson.Options)!).OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase)];
    }

    /// <exception cref="SavedFilterNameTakenException">The name is taken.</exception>
    /// <exception cref="SavedFilterLimitException">The project is at the cap.</exception>
    public async Task<SavedFilter> CreateAsync(string projectId, string name, JsonElement query, string userId, CancellationToken ct)
    {
        var partition = SavedFilterContainers.Partition(projectId);
        var now = time.GetUtcNow();
        var filter = new SavedFilter(Ids.New("f"), projectId, name, query.Clone(), userId, now, now);
        for (var attempt = 1; ; attempt++)
        {
            var counter = await Container.ReadAsync(partition, SavedFilterContainers.CounterId, ct);
            var count = counter?.Body["count"]?.GetValue<int>() ?? 0;
            if (count >= SavedFilter.MaxPerProject)
            {
                throw new SavedFilterLimitException();
            }

            if (await Container.ReadAsync(partition, NameKey(name), ct) is not null)
            {
                throw new SavedFilterNameTakenException(name);
            }

            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    Counter(counter, count + 1),
                    BatchOperation.Create(filter.Id, Body(filter, SavedFilterContainers.FilterType)),
                    BatchOperation.Create(NameKey(name), NameBody(filter.Id)),
                ], ct);
                return filter;
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                // A concurrent create or delete: recheck the name and the count on fresh data.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Renames and/or replaces the query; null when there is no such filter.</summary>
    /// <exception cref="SavedFilterNameTakenException">The new name is taken.</exception>
    public async Task<SavedFilter?> UpdateAsync(string projectId, string filterId, string? name, JsonElement? query, CancellationToken ct)
    {
        var partition = SavedFilterContainers.Partition(projectId);
        for (var attempt = 1; ; attempt++)
        {
            var doc = Ids.IsWellFormed(filterId) ? await Container.ReadAsync(partition, filterId, ct) : null;
            if (doc is null || doc.Body["type"]?.GetValue<string>() != SavedFilterContainers.FilterType)
            {
                return null;
            }

            var current = doc.Body.Deserialize<SavedFilter>(DocumentJson.Options)!;
            var updated = current with { Name = name ?? current.Name, Query = query?.Clone() ?? current.Query, UpdatedAt = time.GetUtcNow() };
            var (oldKey, newKey) = (NameKey(current.Name), NameKey(updated.Name));
            List<BatchOperation> operations = [BatchOperation.Replace(filterId, Body(updated, SavedFilterContainers.FilterType), doc.ETag)];
            if (oldKey != newKey)
            {
                if (await Container.ReadAsync(partition, newKey, ct) is not null)
                {
                    throw new SavedFilterNameTakenException(updated.Name);
                }

                operations.Add(BatchOperation.Delete(oldKey));
                operations.Add(BatchOperation.Create(newKey, NameBody(filterId)));
            }

            try
            {
                await Container.ExecuteBatchAsync(partition, operations, ct);
                return updated;
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Deletes the filter, its name key and one from the count in one batch; false when absent.</summary>
    public async Task<bool> DeleteAsync(string projectId, string filterId, CancellationToken ct)
    {
        var partition = SavedFilterContainers.Partition(projectId);
        for (var attempt = 1; ; attempt++)
        {
            var doc = Ids.IsWellFormed(filterId) ? await Container.ReadAsync(partition, filterId, ct) : null;
            if (doc is null || doc.Body["type"]?.GetValue<string>() != SavedFilterContainers.FilterType)
            {
                return false;
            }

            var current = doc.Body.Deserialize<SavedFilter>(DocumentJson.Options)!;
            var counter = await Container.ReadAsync(partition, SavedFilterContainers.CounterId, ct);
            var count = counter?.Body["count"]?.GetValue<int>() ?? 1;
            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    Counter(counter, Math.Max(0, count - 1)),
                    BatchOperation.Delete(filterId, doc.ETag),
                    BatchOperation.Delete(NameKey(current.Name)),
                ], ct);
                return true;
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Deletes every saved filter of a project (its deletion cascade); safe to repeat.</summary>
    public async Task DeleteAllAsync(string projectId, CancellationToken ct)
    {
        var partition = SavedFilterContainers.Partition(projectId);
        while (true)
        {
            var page = await Container.QueryAsync(new DocumentQuery(partition, PageSize: 100), ct);
            if (page.Items.Count == 0)
            {
                return;
            }

            foreach (var doc in page.Items)
            {
                await IdentityStore.DeleteIfExistsAsync(Container, partition, doc.Id, ct);
            }
        }
    }

    /// <summary>The id of a name's key document: a hash, so any name (any characters) makes a valid id.</summary>
    private static string NameKey(string name) =>
        "n_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name.ToUpperInvariant())))[..40];

    private static BatchOperation Counter(StoredDocument? counter, int count)
    {
        var body = new JsonObject { ["type"] = SavedFilterContainers.CounterType, ["count"] = count };
        return counter is null
            ? BatchOperation.Create(SavedFilterContainers.CounterId, body)
            : BatchOperation.Replace(SavedFilterContainers.CounterId, body, counter.ETag);
    }

    private static JsonObject NameBody(string filterId) => new() { ["type"] = SavedFilterContainers.NameType, ["filterId"] = filterId };

    private static JsonObject Body(SavedFilter filter, string type)
    {
        var body = JsonSerializer.SerializeToNode(filter, DocumentJson.Options)!.AsObject();
        body["type"] = type;
        return body;
    }
}
