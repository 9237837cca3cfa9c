using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Annotations;

/// <summary>An annotation that passed validation against the recipe and the item.</summary>
public sealed record ValidAnnotation(string Label, string Shape, JsonNode? Geometry, JsonObject Attributes, long? Frame, FrameRange? Frames);

/// <summary>
/// Annotations in the dataset's partition of the items container, next to their item.
/// </summary>
/// <remarks>
/// Each change is one atomic batch: the annotation documents, a patch of the item (its
/// <c>annotationCount</c> and <c>annotated</c> flag, which the filter language queries) guarded by the ETag of
/// the item version that was checked, and an increment of the dataset's annotation counter. The guard makes the
/// "status must be cleared first" rule race-free: a status set after the check changes the item's ETag, and
/// the batch is retried against the new version. Counters use patch increments, so writers never conflict on them.
/// </remarks>
public sealed class AnnotationStore(IDocumentStore store, TimeProvider time)
{
    /// <summary>Most annotations created in one request (one atomic batch with the item and counter patches).</summary>
    public const int MaxPerRequest = 50;

    /// <summary>Id of the dataset's annotation counter in the dataset's item partition.</summary>
    public const string CounterId = "annotation-stats";

    private const string AnnotationKind = "annotation";
    private const int MaxAttempts = 30;

    private readonly ConcurrentDictionary<string, bool> _countersKnown = new(StringComparer.Ordinal);

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    /// <summary>The item's document (null when it does not exist).</summary>
    public async Task<StoredDocument?> ReadItemAsync(string datasetId, string itemId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(itemId))
        {
            return null;
        }

        var doc = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), itemId, ct);
        return doc?.Body["kind"]?.GetValue<string>() == "item" ? doc : null;
    }

    public async Task<VersionedAnnotation?> GetAsync(string datasetId, string itemId, string annotationId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(annotationId) ? await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), annotationId, ct) : null;
        return doc is not null && IsAnnotationOf(doc, itemId) ? new VersionedAnnotation(ToAnnotation(doc), doc.ETag) : null;
    }

    /// <summary>One page of the item's annotations, oldest first.</summary>
    public async Task<Page<Annotation>> ListAsync(string datasetId, string itemId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Items.QueryAsync(
            new DocumentQuery(
                DatasetContainers.ItemPartition(datasetId),
                Filter.And(Filter.Eq("kind", AnnotationKind), Filter.Eq("itemId", itemId)),
                [new SortField("createdAt"), new SortField("id")],
                pageSize,
                continuationToken),
            ct);
        return new Page<Annotation>([.. page.Items.Select(ToAnnotation)], page.ContinuationToken);
    }

    /// <summary>
    /// The annotations of up to <see cref="FilterLimits.MaxListValues"/> items of the dataset, by item, each item's oldest
    /// first (as <see cref="ListAsync"/> gives them): one query for all of them instead of one per item.
    /// </summary>
    public async Task<Dictionary<string, List<Annotation>>> ListOfItemsAsync(string datasetId, IReadOnlyList<string> itemIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        var byItem = new Dictionary<string, List<Annotation>>(StringComparer.Ordinal);
        if (itemIds.Count == 0)
        {
            return byItem;
        }

        var where = Filter.And(Filter.Eq("kind", AnnotationKind), Filter.In("itemId", [.. itemIds.Select(id => (JsonNode?)id)]));
        string? token = null;
        do
        {
            var page = await Items.QueryAsync(new DocumentQuery(DatasetContainers.ItemPartition(datasetId), where, null, DocumentLimits.MaxPageSize, token), ct);
            foreach (var annotation in page.Items.Select(ToAnnotation))
            {
                if (!byItem.TryGetValue(annotation.ItemId, out var list))
                {
                    byItem[annotation.ItemId] = list = [];
                }

                list.Add(annotation);
            }

            token = page.ContinuationToken;
        }
        while (token is not null);

        foreach (var list in byItem.Values)
        {
            list.Sort((a, b) => string.CompareOrdinal(a.CreatedAt, b.CreatedAt) is var at and not 0 ? at : string.CompareOrdinal(a.Id, b.Id));
        }

        return byItem;
    }

    /// <summary>The dataset's annotation count (its counter; missing = 0).</summary>
    public async Task<long> CountAsync(string datasetId, CancellationToken ct)
    {
        var counter = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), CounterId, ct);
        return counter?.Body["annotationCount"]?.GetValue<long>() ?? 0;
    }

    /// <summary>
    /// Deletes every annotation of a deleted item, a page at a time, each page in one batch with the dataset
    /// counter's decrement (idempotent: a repeat finds nothing).
    /// </summary>
    public async Task DeleteAllOfItemAsync(string datasetId, string itemId, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        for (var attempt = 1; ; attempt++)
        {
            var page = await Items.QueryAsync(
                new DocumentQuery(partition, Filter.And(Filter.Eq("kind", AnnotationKind), Filter.Eq("itemId", itemId)), null, DocumentLimits.MaxBatchOperations - 1), ct);
            if (page.Items.Count == 0)
            {
                return;
            }

            var batch = page.Items.Select(d => BatchOperation.Delete(d.Id)).ToList();
            batch.Add(BatchOperation.PatchOf(CounterId, [PatchOperation.Increment("annotationCount", -page.Items.Count)]));
            try
            {
                await Items.ExecuteBatchAsync(partition, batch, ct);
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                // One of them was deleted concurrently: read the page again.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Creates the annotations on the item, all or none. Null when the item does not exist.</summary>
    /// <exception cref="ItemStatusLockedException">The item holds a status and <paramref name="requireStatusClear"/> is set.</exception>
    public async Task<IReadOnlyList<VersionedAnnotation>?> CreateAsync(
        string projectId, string datasetId, string itemId, IReadOnlyList<ValidAnnotation> annotations, AnnotationActor actor, bool requireStatusClear, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(annotations);
        ArgumentNullException.ThrowIfNull(actor);
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var created = annotations.Select(a => ToAnnotation(Ids.New("a"), projectId, datasetId, itemId, a, actor.UserId, now, actor.UserId, now)).ToList();
        var results = await WriteAsync(datasetId, itemId, requireStatusClear, created.Count, item =>
            [.. created.Select(a => BatchOperation.Create(a.Id, Body(a)))], ct);
        return results is null ? null : [.. created.Select((a, i) => new VersionedAnnotation(a, results[i]!.ETag))];
    }

    /// <summary>
    /// Creates annotations with caller-chosen ids (an import's deterministic ids), skipping those that already
    /// exist, so a repeated run creates nothing twice; same atomic batch and counters as <see cref="CreateAsync"/>.
    /// <paramref name="marks"/> are extra fields stored on each document (not part of <see cref="Annotation"/>).
    /// Returns how many were created; null when the item does not exist.
    /// </summary>
    /// <exception cref="ItemStatusLockedException">The item holds a status and <paramref name="requireStatusClear"/> is set.</exception>
    public async Task<int?> CreateIfAbsentAsync(
        string projectId, string datasetId, string itemId, IReadOnlyList<(string Id, ValidAnnotation Annotation)> annotations, AnnotationActor actor, bool requireStatusClear, JsonObject marks, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(annotations);
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(marks);
        var existing = await Items.QueryAsync(
            new DocumentQuery(
                DatasetContainers.ItemPartition(datasetId),
                Filter.And(Filter.Eq("kind", AnnotationKind), Filter.In("id", [.. annotations.Select(a => (JsonNode?)a.Id)])),
                null,
                Math.Max(1, annotations.Count)),
            ct);
        var present = existing.Items.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var created = annotations.Where(a => !present.Contains(a.Id))
            .Select(a => ToAnnotation(a.Id, projectId, datasetId, itemId, a.Annotation, actor.UserId, now, actor.UserId, now)).ToList();
        if (created.Count == 0)
        {
            return await ReadItemAsync(datasetId, itemId, ct) is null ? null : 0;
        }

        var results = await WriteAsync(datasetId, itemId, requireStatusClear, created.Count, _ =>
            [.. created.Select(a =>
            {
                var body = Body(a);
                foreach (var (name, value) in marks)
                {
                    body[name] = value?.DeepClone();
                }

                return BatchOperation.Create(a.Id, body);
            })], ct);
        return results is null ? null : created.Count;
    }

    /// <summary>Replaces an annotation (keeping its creator). Null when it (or its item) does not exist.</summary>
    /// <exception cref="AnnotationChangedException"><paramref name="ifMatch"/> is not the annotation's current version.</exception>
    /// <exception cref="ItemStatusLockedException">The item holds a status and <paramref name="requireStatusClear"/> is set.</exception>
    public async Task<VersionedAnnotation?> ReplaceAsync(
        string datasetId, string itemId, string annotationId, ValidAnnotation change, string? ifMatch, AnnotationActor actor, bool requireStatusClear, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        Annotation? updated = null;
        var results = await WriteAsync(datasetId, itemId, requireStatusClear, 0, _ => [], ct, async () =>
        {
            var current = await GetAsync(datasetId, itemId, annotationId, ct);
            if (current is null)
            {
                return null;
            }

            if (ifMatch is not null && !ETags.Same(ifMatch, current.ETag))
            {
                throw new AnnotationChangedException(annotationId);
            }

            var a = current.Annotation;
            updated = ToAnnotation(a.Id, a.ProjectId, a.DatasetId, a.ItemId, change, a.CreatedBy, a.CreatedAt, actor.UserId, StoredTimestamp.Format(time.GetUtcNow()));
            return [BatchOperation.Replace(a.Id, Body(updated), current.ETag)];
        });
        return results is null || updated is null ? null : new VersionedAnnotation(updated, results[0]!.ETag);
    }

    /// <summary>Deletes an annotation; false when it (or its item) does not exist.</summary>
    /// <exception cref="AnnotationChangedException"><paramref name="ifMatch"/> is not the annotation's current version.</exception>
    /// <exception cref="ItemStatusLockedException">The item holds a status and <paramref name="requireStatusClear"/> is set.</exception>
    public async Task<Annotation?> DeleteAsync(string datasetId, string itemId, string annotationId, string? ifMatch, bool requireStatusClear, CancellationToken ct)
    {
        Annotation? deleted = null;
        var results = await WriteAsync(datasetId, itemId, requireStatusClear, -1, _ => [], ct, async () =>
        {
            var current = await GetAsync(datasetId, itemId, annotationId, ct);
            if (current is null)
            {
                return null;
            }

            if (ifMatch is not null && !ETags.Same(ifMatch, current.ETag))
            {
                throw new AnnotationChangedException(annotationId);
            }

            deleted = current.Annotation;
            return [BatchOperation.Delete(annotationId, current.ETag)];
        });
        return results is null ? null : deleted;
    }

    /// <summary>
    /// Runs one change as an atomic batch: the annotation operations, the item patch (guarded by the ETag of
    /// the item that was checked) and the counter. Retries when the item or the annotation changed meanwhile.
    /// Returns null when the item (or, via <paramref name="prepare"/>, the annotation) does not exist.
    /// </summary>
    private async Task<IReadOnlyList<StoredDocument?>?> WriteAsync(
        string datasetId,
        string itemId,
        bool requireStatusClear,
        int countChange,
        Func<StoredDocument, List<BatchOperation>> operations,
        CancellationToken ct,
        Func<Task<List<BatchOperation>?>>? prepare = null)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        for (var attempt = 1; ; attempt++)
        {
            var item = await ReadItemAsync(datasetId, itemId, ct);
            if (item is null)
            {
                return null;
            }

            if (requireStatusClear && HeldStatus(item) is { } held)
            {
                throw new ItemStatusLockedException(itemId, held.TaskId, held.Status);
            }

            var batch = prepare is null ? operations(item) : await prepare();
            if (batch is null)
            {
                return null;
            }

            var own = batch.Count;
            var count = (item.Body["annotationCount"]?.GetValue<long>() ?? 0) + countChange;
            var itemPatch = new List<PatchOperation> { PatchOperation.Set("annotationsUpdatedAt", StoredTimestamp.Format(time.GetUtcNow())) };
            if (countChange != 0)
            {
                itemPatch.Add(PatchOperation.Increment("annotationCount", countChange));
                itemPatch.Add(PatchOperation.Set("annotated", count > 0));
            }

            batch.Add(BatchOperation.PatchOf(itemId, itemPatch, item.ETag));
            if (countChange != 0)
            {
                batch.Add(await CounterOperationAsync(datasetId, countChange, ct));
            }

            try
            {
                return await Items.ExecuteBatchAsync(partition, batch, ct);
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentNotFoundException && ex.OperationIndex < own)
            {
                return null;
            }
            catch (DocumentBatchFailedException ex) when (attempt < MaxAttempts)
            {
                // The item, the annotation or a new counter changed under us: forget what we knew and retry on fresh data.
                if (ex.OperationIndex >= own)
                {
                    _countersKnown.TryRemove(datasetId, out _);
                }

                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    private async Task<BatchOperation> CounterOperationAsync(string datasetId, int change, CancellationToken ct)
    {
        if (!_countersKnown.ContainsKey(datasetId))
        {
            if (await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), CounterId, ct) is null)
            {
                return BatchOperation.Create(CounterId, new JsonObject { ["kind"] = "stats", ["annotationCount"] = Math.Max(0, change) });
            }

            _countersKnown[datasetId] = true;
        }

        return BatchOperation.PatchOf(CounterId, [PatchOperation.Increment("annotationCount", change)]);
    }

    /// <summary>A status the item holds in some task (<c>status.{taskId}</c>, the filter language's field), or null.</summary>
    private static (string TaskId, string Status)? HeldStatus(StoredDocument item)
    {
        if (item.Body["status"] is not JsonObject statuses)
        {
            return null;
        }

        foreach (var (taskId, status) in statuses)
        {
            if (status is JsonValue value && value.GetValueKind() == JsonValueKind.String)
            {
                return (taskId, value.GetValue<string>());
            }
        }

        return null;
    }

    private static bool IsAnnotationOf(StoredDocument doc, string itemId) =>
        doc.Body["kind"]?.GetValue<string>() == AnnotationKind && doc.Body["itemId"]?.GetValue<string>() == itemId;

    private static Annotation ToAnnotation(string id, string projectId, string datasetId, string itemId, ValidAnnotation a, string createdBy, string createdAt, string updatedBy, string updatedAt) =>
        new(id, projectId, datasetId, itemId, a.Label, a.Shape, a.Geometry?.DeepClone(), (JsonObject)a.Attributes.DeepClone(), a.Frame, a.Frames, createdBy, createdAt, updatedBy, updatedAt);

    private static JsonObject Body(Annotation a)
    {
        var body = JsonSerializer.SerializeToNode(a, DocumentJson.Options)!.AsObject();
        body["kind"] = AnnotationKind;
        return body;
    }

    private static Annotation ToAnnotation(StoredDocument doc) => doc.Body.Deserialize<Annotation>(DocumentJson.Options)!;
}
