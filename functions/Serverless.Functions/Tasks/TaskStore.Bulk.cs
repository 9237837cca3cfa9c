using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tasks;

/// <summary>What a bulk step did to one chunk of a task's items.</summary>
/// <param name="Changed">Items written (or removed), before and after (after is null when removed).</param>
/// <param name="Unchanged">Items in the task that the change left as they were.</param>
/// <param name="Missing">Ids that are not (or no longer) in the task.</param>
/// <param name="Final">Every item of the chunk still in the task, as it stands after the change.</param>
public sealed record BulkChunkResult(IReadOnlyList<(TaskItem Before, TaskItem? After)> Changed, int Unchanged, int Missing, IReadOnlyList<TaskItem> Final);

/// <summary>What a bulk change decides for one item: keep it, write <c>After</c>, or remove it.</summary>
public readonly record struct ItemDecision(bool Write, TaskItem? After)
{
    public static ItemDecision Keep => default;

    public static ItemDecision Remove => new(true, null);

    public static ItemDecision Set(TaskItem after) => new(true, after);
}

/// <summary>
/// Bulk changes of a task's items (reassign, redistribute, batch status, remove): a chunk at a time, each chunk
/// one atomic batch of the item writes (each guarded by the item's ETag) and the progress counters they move.
/// A chunk that lost a race with a single status change is re-read and decided again, so a status set during a
/// redistribution is never overwritten and the counters always match the items.
/// </summary>
public sealed partial class TaskStore
{
    /// <summary>Items per bulk chunk: room is left in the batch for the progress patches (10 operations each).</summary>
    public const int BulkChunk = 80;

    /// <summary>
    /// Applies <paramref name="decide"/> to the task items <paramref name="itemIds"/> (at most <see cref="BulkChunk"/>).
    /// Idempotent when <paramref name="decide"/> is: a retried chunk finds its items already changed and keeps them.
    /// </summary>
    public async Task<BulkChunkResult> ApplyChunkAsync(string taskId, IReadOnlyList<string> itemIds, Func<TaskItem, ItemDecision> decide, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        ArgumentNullException.ThrowIfNull(decide);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(itemIds.Count, BulkChunk);
        var partition = TaskContainers.TaskPartition(taskId);
        for (var attempt = 1; ; attempt++)
        {
            var found = await ReadItemsAsync(partition, itemIds, ct);
            var changed = new List<(TaskItem Before, TaskItem? After)>();
            var operations = new List<BatchOperation>();
            foreach (var (item, etag) in found)
            {
                var decision = decide(item);
                if (!decision.Write || decision.After == item)
                {
                    continue;
                }

                changed.Add((item, decision.After));
                operations.Add(decision.After is null ? BatchOperation.Delete(item.ItemId, etag) : Rewrite(partition, item, decision.After, etag));
            }

            var after = changed.ToDictionary(c => c.Before.ItemId, c => c.After, StringComparer.Ordinal);
            var final = found.Select(f => after.TryGetValue(f.Item.ItemId, out var changedTo) ? changedTo : f.Item).OfType<TaskItem>().ToList();
            if (changed.Count == 0)
            {
                return new BulkChunkResult([], found.Count, itemIds.Count - found.Count, final);
            }

            operations.AddRange(ProgressPatches(changed.Select(c => ((TaskItem?)c.Before, c.After)), StoredTimestamp.Format(time.GetUtcNow())));
            try
            {
                await Tasks.ExecuteBatchAsync(partition, operations, ct);
                return new BulkChunkResult(changed, found.Count - changed.Count, itemIds.Count - found.Count, final);
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException or DocumentNotFoundException && attempt < MaxAttempts)
            {
                // A single change won the race for one of the items: read the chunk again and decide anew.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>One page of the task's open items (no status), by id, optionally only one assignee's; keyset-paged by the last id.</summary>
    public async Task<IReadOnlyList<TaskItem>> OpenItemsAfterAsync(string taskId, string? assignee, string? afterId, int pageSize, CancellationToken ct)
    {
        var filters = new List<Filter> { Filter.Eq("kind", TaskItemKind), Filter.Exists("status", false) };
        if (assignee is not null)
        {
            filters.Add(Filter.Eq("assignee", assignee));
        }

        if (afterId is not null)
        {
            filters.Add(Filter.Gt("id", afterId));
        }

        // No explicit sort: both stores end every order with the id, and an explicit id sort spelled as a body path
        // makes SQLite sort everything after the cursor instead of walking an index in id order.
        var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.TaskPartition(taskId), Filter.And([.. filters]), null, pageSize, null), ct);
        return [.. page.Items.Select(ToItem)];
    }

    /// <summary>
    /// Mirrors task statuses onto the item documents (<c>status.{taskId}</c>; null removes it). First as one batch of
    /// patches, which need no read (on SQLite they never leave the database): items carry their <c>status</c> object
    /// from creation. An item written before that, or a status to remove that is already gone, fails that batch; the
    /// chunk is then read and the items that differ are replaced under their ETags, re-read and retried when one
    /// changed meanwhile.
    /// </summary>
    public async Task MirrorStatusesAsync(string datasetId, string taskId, IReadOnlyList<(string ItemId, string? Status)> changes, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Count == 0)
        {
            return;
        }

        var partition = DatasetContainers.ItemPartition(datasetId);
        var path = $"status.{taskId}";
        try
        {
            await Items.ExecuteBatchAsync(partition, [.. changes.Select(c => BatchOperation.PatchWithoutResult(c.ItemId,
                [c.Status is null ? PatchOperation.Remove(path) : PatchOperation.Set(path, c.Status)]))], ct);
            return;
        }
        catch (DocumentBatchFailedException ex) when (ex.InnerException is InvalidDocumentException or DocumentNotFoundException)
        {
            // Read and replace below.
        }

        for (var attempt = 1; ; attempt++)
        {
            var ids = changes.Select(c => (JsonNode?)c.ItemId).ToArray();
            var docs = await Items.QueryAsync(new DocumentQuery(partition, Filter.In("id", ids), null, changes.Count, null), ct);
            var wanted = changes.ToDictionary(c => c.ItemId, c => c.Status, StringComparer.Ordinal);
            var operations = docs.Items.Where(doc => doc.Body["status"]?[taskId]?.GetValue<string>() != wanted[doc.Id])
                .Select(doc => BatchOperation.ReplaceRaw(doc.Id, DocumentRules.Serialize(partition, doc.Id, WithStatus(doc.Body, taskId, wanted[doc.Id])), doc.ETag)).ToList();
            if (operations.Count == 0)
            {
                return;
            }

            try
            {
                await Items.ExecuteBatchAsync(partition, operations, ct);
                return;
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException or DocumentNotFoundException && attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="userId"/> holds <paramref name="itemId"/> in some task (annotation or QA): what lets
    /// annotators and reviewers write its annotations. One indexed query across the task partitions.
    /// </summary>
    public async Task<bool> IsAssignedAsync(string datasetId, string itemId, string userId, CancellationToken ct)
    {
        var page = await Tasks.QueryAsync(new DocumentQuery(null,
            Filter.And(Filter.Eq("kind", TaskItemKind), Filter.Eq("itemId", itemId), Filter.Eq("assignee", userId), Filter.Eq("datasetId", datasetId)), null, 1, null), ct);
        return page.Items.Count > 0;
    }

    /// <summary>Every task partition of the project (what the project delete cascade empties), read page by page.</summary>
    public async Task<IReadOnlyList<Projects.PartitionRef>> ListTaskPartitionsAsync(string projectId, CancellationToken ct)
    {
        var partitions = new List<Projects.PartitionRef>();
        string? token = null;
        do
        {
            var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.ProjectPartition(projectId), Filter.Eq("kind", TaskKind), [new SortField("id")], 200, token), ct);
            partitions.AddRange(page.Items.Select(d => new Projects.PartitionRef(TaskContainers.Tasks, TaskContainers.TaskPartition(d.Id))));
            token = page.ContinuationToken;
        }
        while (token is not null);
        return partitions;
    }

    /// <summary>
    /// Up to 50 tasks (annotation and QA) over the dataset, as the dataset delete cascade empties them: the task's
    /// partition (items, progress, issues), then its document.
    /// </summary>
    public async Task<IReadOnlyList<DatasetChild>> ListDatasetTasksAsync(Projects.DatasetRef dataset, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var project = TaskContainers.ProjectPartition(dataset.ProjectId);
        var page = await Tasks.QueryAsync(new DocumentQuery(project, Filter.And(Filter.Eq("kind", TaskKind), Filter.Eq("datasetId", dataset.DatasetId)), null, 50, null), ct);
        return [.. page.Items.Select(d => new DatasetChild(
            new Projects.PartitionRef(TaskContainers.Tasks, TaskContainers.TaskPartition(d.Id)), new DocumentRef(TaskContainers.Tasks, project, d.Id)))];
    }

    /// <summary>Replaces the task's assignee list with what <paramref name="change"/> makes of it (ETag-guarded read-modify-write).</summary>
    public async Task SetAssigneesAsync(string projectId, string taskId, Func<IReadOnlyList<TaskAssignee>, IReadOnlyList<TaskAssignee>> change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(change);
        var partition = TaskContainers.ProjectPartition(projectId);
        for (var attempt = 1; ; attempt++)
        {
            var doc = await Tasks.ReadAsync(partition, taskId, ct);
            if (doc?.Body.Deserialize<LabelingTask>(DocumentJson.Options) is not { } task)
            {
                return;
            }

            var assignees = JsonSerializer.SerializeToNode(change(task.Assignees), DocumentJson.Options);
            try
            {
                await Tasks.PatchAsync(partition, taskId, [PatchOperation.Set("assignees", assignees), PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow()))], doc.ETag, ct);
                return;
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    private async Task<List<(TaskItem Item, string ETag)>> ReadItemsAsync(string partition, IReadOnlyList<string> itemIds, CancellationToken ct)
    {
        var ids = itemIds.Select(id => (JsonNode?)id).ToArray();
        var page = await Tasks.QueryAsync(new DocumentQuery(partition, Filter.And(Filter.Eq("kind", TaskItemKind), Filter.In("id", ids)), null, itemIds.Count, null), ct);
        return [.. page.Items.Select(doc => (ToItem(doc), doc.ETag))];
    }

    /// <summary>
    /// The counter moves of a chunk's changes (before null: added; after null: removed), summed per counter, as
    /// patches of at most <see cref="DocumentLimits.MaxPatchOperations"/> operations (a task may have 50 assignees).
    /// </summary>
    private static IEnumerable<BatchOperation> ProgressPatches(IEnumerable<(TaskItem? Before, TaskItem? After)> changes, string now)
    {
        var deltas = new Dictionary<string, long>(StringComparer.Ordinal);
        void Add(string path, long delta) => deltas[path] = deltas.GetValueOrDefault(path) + delta;
        foreach (var (before, after) in changes)
        {
            Add("total", (after is null ? 0 : 1) - (before is null ? 0 : 1));
            Count(before, -1);
            Count(after, 1);
        }

        void Count(TaskItem? item, long sign)
        {
            if (item is null)
            {
                return;
            }

            if (item.Assignee is not null)
            {
                Add($"byAssignee.{item.Assignee}.total", sign);
            }

            if (item.Status is not null)
            {
                Add("done", sign);
                Add("byStatus." + item.Status, sign);
                if (item.Assignee is not null)
                {
                    Add($"byAssignee.{item.Assignee}.done", sign);
                }
            }
        }

        var operations = new List<PatchOperation> { PatchOperation.Set("updatedAt", now) };
        operations.AddRange(deltas.Where(d => d.Value != 0).Select(d => PatchOperation.Increment(d.Key, d.Value)));
        return operations.Chunk(DocumentLimits.MaxPatchOperations).Select(ops => BatchOperation.PatchOf(TaskContainers.ProgressId, ops));
    }
}
