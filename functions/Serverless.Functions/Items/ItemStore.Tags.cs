using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Items;

/// <summary>Tags on items: add and remove in bulk, by id list or by one page of a filter.</summary>
/// <remarks>
/// A call changes at most <see cref="MaxTagBatch"/> items. By filter, it works through one page of the
/// filter's results and returns the page's continuation token; the client repeats the call with it
/// until no token comes back. Paging is keyset-based, so items already changed are never visited
/// again and none is skipped even when the change takes an item out of the filter. This keeps each
/// call short and retry-safe (adding a present tag or removing an absent one is a no-op) without an
/// orchestration; large re-tagging jobs are a loop of calls.
/// </remarks>
public sealed partial class ItemStore
{
    /// <summary>Most items one tag call changes (ids per call, or the page size by filter).</summary>
    public const int MaxTagBatch = 1000;

    /// <summary>Most tag names added or removed in one call.</summary>
    public const int MaxTagNamesPerCall = 20;

    /// <summary>Most tags on one item.</summary>
    public const int MaxTagsPerItem = 100;

    /// <summary>Longest tag name.</summary>
    public const int MaxTagLength = 64;

    /// <summary>
    /// Checks a tag name: 1 to <see cref="MaxTagLength"/> characters, letters, digits, and
    /// <c>- _ . : /</c> and spaces inside (not first or last). Returns an error message or null.
    /// </summary>
    public static string? ValidateTag(string? tag)
    {
        if (string.IsNullOrEmpty(tag) || tag.Length > MaxTagLength)
        {
            return $"A tag has 1 to {MaxTagLength} characters; got '{Printable(tag)}'.";
        }

        for (var i = 0; i < tag.Length; i++)
        {
            var c = tag[i];
            var inner = i > 0 && i < tag.Length - 1;
            if (!(char.IsLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/' || (c == ' ' && inner)))
            {
                return $"Tag '{Printable(tag)}' has a character tags cannot hold at position {i}: use letters, digits, '-', '_', '.', ':', '/' and inner spaces.";
            }
        }

        return null;
    }

    /// <summary>Adds and removes tags on the listed items of the dataset; unknown ids are reported, not errors.</summary>
    public async Task<TagItemsResponse> TagByIdsAsync(string datasetId, IReadOnlyList<string> ids, IReadOnlyList<string> add, IReadOnlyList<string> remove, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var wanted = ids.Distinct(StringComparer.Ordinal).ToList();
        var docs = new List<StoredDocument>(wanted.Count);
        var valid = wanted.Where(Ids.IsWellFormed).ToList();
        for (var start = 0; start < valid.Count; start += DocumentLimits.MaxPageSize)
        {
            var slice = valid.Skip(start).Take(DocumentLimits.MaxPageSize).Select(id => (JsonNode?)JsonValue.Create(id)).ToArray();
            var page = await Items.QueryAsync(new DocumentQuery(partition, Filter.And(ItemsOnly, Filter.In("id", slice)), null, DocumentLimits.MaxPageSize), ct);
            docs.AddRange(page.Items);
        }

        var found = docs.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var updated = await ApplyTagsAsync(partition, docs, add, remove, ct);
        return new TagItemsResponse(docs.Count, updated, [.. wanted.Where(id => !found.Contains(id))], null);
    }

    /// <summary>Adds and removes tags on one page (at most <see cref="MaxTagBatch"/>) of the filter's items.</summary>
    public async Task<TagItemsResponse> TagByQueryAsync(string datasetId, FilterQuery query, IReadOnlyList<string> add, IReadOnlyList<string> remove, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var bounded = query with { PageSize = Math.Min(query.PageSize, MaxTagBatch) };
        var page = await Items.QueryAsync(bounded.ToDocumentQuery(partition, ItemsOnly), ct);
        var updated = await ApplyTagsAsync(partition, page.Items, add, remove, ct);
        return new TagItemsResponse(page.Items.Count, updated, [], page.ContinuationToken);
    }

    /// <summary>
    /// Replaces changed items in atomic batches guarded by their ETags; an item changed concurrently
    /// fails its batch, and the batch's items are then redone one by one on fresh reads.
    /// </summary>
    private async Task<int> ApplyTagsAsync(string partition, IReadOnlyList<StoredDocument> docs, IReadOnlyList<string> add, IReadOnlyList<string> remove, CancellationToken ct)
    {
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var changes = new List<(StoredDocument Doc, JsonObject Body)>();
        foreach (var doc in docs)
        {
            if (Retag(doc.Body, add, remove, now) is { } body)
            {
                changes.Add((doc, body));
            }
        }

        var updated = 0;
        foreach (var chunk in changes.Chunk(DocumentLimits.MaxBatchOperations))
        {
            try
            {
                await Items.ExecuteBatchAsync(partition, [.. chunk.Select(c => BatchOperation.Replace(c.Doc.Id, c.Body, c.Doc.ETag))], ct);
                updated += chunk.Length;
                continue;
            }
            catch (DocumentBatchFailedException)
            {
                // Someone changed one of them meanwhile: redo each on a fresh read.
            }

            foreach (var (doc, _) in chunk)
            {
                if (await RetagOneAsync(partition, doc.Id, add, remove, ct))
                {
                    updated++;
                }
            }
        }

        return updated;
    }

    private async Task<bool> RetagOneAsync(string partition, string itemId, IReadOnlyList<string> add, IReadOnlyList<string> remove, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var doc = await Items.ReadAsync(partition, itemId, ct);
            if (doc is null || Retag(doc.Body, add, remove, StoredTimestamp.Format(time.GetUtcNow())) is not { } body)
            {
                return false; // deleted meanwhile, or the concurrent change already did ours
            }

            try
            {
                await Items.ReplaceAsync(partition, itemId, body, doc.ETag, ct);
                return true;
            }
            catch (Exception ex) when (ex is DocumentPreconditionFailedException or DocumentNotFoundException && attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>The body with the tags changed, or null when nothing changes.</summary>
    /// <exception cref="TooManyTagsException">The item would hold more than <see cref="MaxTagsPerItem"/> tags.</exception>
    private static JsonObject? Retag(JsonObject body, IReadOnlyList<string> add, IReadOnlyList<string> remove, string now)
    {
        var current = body["tags"] is JsonArray array ? array.Select(t => t!.GetValue<string>()).ToList() : [];
        var next = current.Where(t => !remove.Contains(t, StringComparer.Ordinal)).ToList();
        foreach (var tag in add)
        {
            if (!next.Contains(tag, StringComparer.Ordinal))
            {
                next.Add(tag);
            }
        }

        if (next.SequenceEqual(current, StringComparer.Ordinal))
        {
            return null;
        }

        if (next.Count > MaxTagsPerItem)
        {
            throw new TooManyTagsException(body["id"]!.GetValue<string>());
        }

        var copy = body.DeepClone().AsObject();
        copy["tags"] = new JsonArray([.. next.Select(t => (JsonNode?)JsonValue.Create(t))]);
        copy["updatedAt"] = now;
        return copy;
    }

    private static string Printable(string? text) =>
        text is null ? string.Empty : new string([.. text.Take(MaxTagLength + 8).Select(c => char.IsControl(c) ? '?' : c)]);
}

/// <summary>An item would get more than <see cref="ItemStore.MaxTagsPerItem"/> tags.</summary>
public sealed class TooManyTagsException(string itemId)
    : Exception($"Item '{itemId}' would hold more than {ItemStore.MaxTagsPerItem} tags; remove some first.")
{
    public string ItemId { get; } = itemId;
}
