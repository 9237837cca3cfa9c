using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tasks;

/// <summary>
/// Tasks in the document store. The task document sits in the project's partition; its items (one document
/// per item, id = item id) and its progress counters sit in the task's own partition, so a status change and
/// the counters it moves commit in one atomic batch, and no partition outgrows one task.
/// </summary>
/// <remarks>
/// The item's status is also mirrored on the item document (<c>status.{taskId}</c>), which the filter
/// language and the annotation rule read. The task item is the truth; the mirror is written right after
/// and rewritten by every later status change of that item.
/// </remarks>
public sealed partial class TaskStore(IDocumentStore store, TimeProvider time)
{
    private const int MaxAttempts = 30;
    private const string TaskKind = "task";
    private const string TaskItemKind = "taskItem";

    private IDocumentContainer Tasks => store.Container(TaskContainers.Tasks);

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    /// <summary>Records a new task (state <c>creating</c>) and its empty progress.</summary>
    public async Task CreateAsync(LabelingTask task, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(task);
        var byAssignee = new JsonObject();
        foreach (var assignee in task.Assignees)
        {
            byAssignee[assignee.UserId] = new JsonObject { ["total"] = 0, ["done"] = 0 };
        }

        // Progress first: a crash before the task document leaves an unreachable counter, never a task without one.
        await Tasks.UpsertAsync(TaskContainers.TaskPartition(task.Id), TaskContainers.ProgressId,
            new JsonObject { ["kind"] = "progress", ["total"] = 0, ["done"] = 0, ["byStatus"] = new JsonObject(), ["byAssignee"] = byAssignee }, cancellationToken: ct);
        var body = JsonSerializer.SerializeToNode(task, DocumentJson.Options)!.AsObject();
        body["kind"] = TaskKind;
        await Tasks.CreateAsync(TaskContainers.ProjectPartition(task.ProjectId), task.Id, body, ct);
    }

    public async Task<LabelingTask?> GetAsync(string projectId, string taskId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(taskId) ? await Tasks.ReadAsync(TaskContainers.ProjectPartition(projectId), taskId, ct) : null;
        return doc?.Body["kind"]?.GetValue<string>() == TaskKind ? doc.Body.Deserialize<LabelingTask>(DocumentJson.Options) : null;
    }

    public async Task<Page<LabelingTask>> ListAsync(string projectId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.ProjectPartition(projectId), Filter.Eq("kind", TaskKind), [new SortField("createdAt"), new SortField("id")], pageSize, continuationToken), ct);
        return new Page<LabelingTask>([.. page.Items.Select(d => d.Body.Deserialize<LabelingTask>(DocumentJson.Options)!)], page.ContinuationToken);
    }

    /// <summary>Records <paramref name="qaTaskId"/> as the task's QA task; false when it already has another.</summary>
    public async Task<bool> AttachQaTaskAsync(string projectId, string taskId, string qaTaskId, CancellationToken ct)
    {
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var doc = await Tasks.ReadAsync(TaskContainers.ProjectPartition(projectId), taskId, ct);
            var current = doc?.Body["qaTaskId"]?.GetValue<string>();
            if (doc is null || (current is not null && current != qaTaskId))
            {
                return false;
            }

            try
            {
                await Tasks.PatchAsync(TaskContainers.ProjectPartition(projectId), taskId, [PatchOperation.Set("qaTaskId", qaTaskId)], doc.ETag, ct);
                return true;
            }
            catch (DocumentPreconditionFailedException)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }

        return false;
    }

    /// <summary>One page of the task's items holding <paramref name="status"/>, by id.</summary>
    public async Task<Page<TaskItem>> ItemsWithStatusAsync(string taskId, string status, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.TaskPartition(taskId),
            Filter.And(Filter.Eq("kind", TaskItemKind), Filter.Eq("status", status)), [new SortField("id")], pageSize, continuationToken), ct);
        return new Page<TaskItem>([.. page.Items.Select(ToItem)], page.ContinuationToken);
    }

    /// <summary>
    /// After a status change: <c>completed</c> when every item has a status, back to <c>open</c> when one was
    /// cleared. <paramref name="task"/> is the task as the caller read it: its state is compared, not re-read.
    /// </summary>
    public async Task SyncStateAsync(LabelingTask? task, TaskProgress progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var complete = progress.Total > 0 && progress.Done == progress.Total;
        if (task is not null && task.State != "creating" && complete != (task.State == "completed"))
        {
            await SetStateAsync(task.ProjectId, task.Id, complete ? "completed" : "open", ct);
        }
    }

    /// <summary>Moves the task to <paramref name="state"/> (idempotent).</summary>
    public async Task SetStateAsync(string projectId, string taskId, string state, CancellationToken ct) =>
        await Tasks.PatchAsync(TaskContainers.ProjectPartition(projectId), taskId,
            [PatchOperation.Set("state", state), PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow()))], cancellationToken: ct);

    public async Task<TaskProgress> GetProgressAsync(string taskId, CancellationToken ct)
    {
        var doc = await Tasks.ReadAsync(TaskContainers.TaskPartition(taskId), TaskContainers.ProgressId, ct);
        return ToProgress(doc?.Body);
    }

    /// <summary>
    /// Adds items to the task (idempotent: items already in it are left as they are, so a retried batch
    /// neither duplicates nor resets a status). Returns how many were new.
    /// </summary>
    public async Task<int> AddItemsAsync(string taskId, IReadOnlyList<TaskItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var partition = TaskContainers.TaskPartition(taskId);

        // Chunks in parallel on pool threads (the SQLite store completes a write synchronously when its lock is free):
        // their serialization uses both cores, and SQLite commits the batches that queue up together in one transaction.
        var added = await Task.WhenAll(items.Chunk(BulkChunk).Select(chunk => Task.Run(() => AddChunkAsync(partition, chunk, ct), ct)));
        return added.Sum();
    }

    private async Task<int> AddChunkAsync(string partition, TaskItem[] chunk, CancellationToken ct)
    {
        var pending = chunk;
        for (var attempt = 1; pending.Length > 0; attempt++)
        {
            var operations = pending.Select(i => BatchOperation.CreateRaw(i.ItemId, RawBody(partition, i))).ToList();
            operations.AddRange(ProgressPatches(pending.Select(i => ((TaskItem?)null, (TaskItem?)i)), StoredTimestamp.Format(time.GetUtcNow())));
            try
            {
                await Tasks.ExecuteBatchAsync(partition, operations, ct);
                return pending.Length;
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentConflictException && attempt < MaxAttempts)
            {
                // A retry of a batch that committed before: keep only the items not in the task yet.
                var present = await ReadItemsAsync(partition, [.. pending.Select(i => i.ItemId)], ct);
                var ids = present.Select(p => p.Item.ItemId).ToHashSet(StringComparer.Ordinal);
                pending = [.. pending.Where(i => !ids.Contains(i.ItemId))];
            }
        }

        return 0;
    }

    public async Task<(TaskItem Item, string ETag)?> GetItemAsync(string taskId, string itemId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(itemId) ? await Tasks.ReadAsync(TaskContainers.TaskPartition(taskId), itemId, ct) : null;
        return doc?.Body["kind"]?.GetValue<string>() == TaskItemKind ? (ToItem(doc), doc.ETag) : null;
    }

    /// <summary>
    /// The task's items, optionally only those of some assignees (e.g. one user, or the users of one labeling company)
    /// and/or only those without a status, by name.
    /// </summary>
    public async Task<Page<TaskItem>> ListItemsAsync(string taskId, IReadOnlyList<string>? assignees, bool openOnly, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var filters = new List<Filter> { Filter.Eq("kind", TaskItemKind) };
        if (assignees is not null)
        {
            filters.Add(assignees.Count == 1 ? Filter.Eq("assignee", assignees[0]) : Filter.In("assignee", [.. assignees.Select(a => (JsonNode?)a)]));
        }

        if (openOnly)
        {
            filters.Add(Filter.Exists("status", false));
        }

        var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.TaskPartition(taskId), Filter.And([.. filters]), [new SortField("name"), new SortField("id")], pageSize, continuationToken), ct);
        return new Page<TaskItem>([.. page.Items.Select(ToItem)], page.ContinuationToken);
    }

    /// <summary>
    /// Sets (or, with null, clears) the item's status and moves the counters, in one batch guarded by the
    /// item's ETag. Setting the status it already holds is a no-op (double submits are harmless); setting a
    /// different one is a conflict. With <paramref name="onlyAssignee"/>, the item must be assigned to that user.
    /// Returns the item, whether it changed, and the progress after the change; null when the item is not in the task.
    /// <paramref name="afterChange"/> (e.g. the activity-log write) runs once the change committed, side by side with
    /// the mirror write: two independent writes that SQLite then commits together, instead of one after the other.
    /// </summary>
    /// <exception cref="StatusConflictException">The item holds another status.</exception>
    /// <exception cref="NotYourItemException">The item is not assigned to <paramref name="onlyAssignee"/>.</exception>
    public async Task<(TaskItem Item, bool Changed, string? Previous, TaskProgress Progress)?> SetStatusAsync(
        string taskId, string itemId, string? status, string userId, string? onlyAssignee, CancellationToken ct, bool reopen = false,
        Func<TaskItem, string?, Task>? afterChange = null)
    {
        var partition = TaskContainers.TaskPartition(taskId);
        for (var attempt = 1; ; attempt++)
        {
            if (await GetItemAsync(taskId, itemId, ct) is not { } found)
            {
                return null;
            }

            var (item, etag) = found;
            if (onlyAssignee is not null && !string.Equals(item.Assignee, onlyAssignee, StringComparison.Ordinal))
            {
                throw new NotYourItemException(itemId);
            }

            if (string.Equals(item.Status, status, StringComparison.Ordinal) && (!reopen || item.Reopened))
            {
                return (item, false, item.Status, await GetProgressAsync(taskId, ct));
            }

            if (item.Status is not null && status is not null)
            {
                throw new StatusConflictException(itemId, item.Status);
            }

            var now = StoredTimestamp.Format(time.GetUtcNow());
            var updated = status is null
                ? item with { Status = null, StatusBy = null, StatusAt = null, Reopened = reopen || item.Reopened }
                : item with { Status = status, StatusBy = userId, StatusAt = now, Reopened = false };
            var delta = status is null ? -1 : 1;
            var counters = new List<PatchOperation> { PatchOperation.Set("updatedAt", now) };
            if (item.Status != status)
            {
                counters.Add(PatchOperation.Increment("done", delta));
                counters.Add(PatchOperation.Increment("byStatus." + (status ?? item.Status), delta));
                if (item.Assignee is not null)
                {
                    counters.Add(PatchOperation.Increment($"byAssignee.{item.Assignee}.done", delta));
                }
            }

            try
            {
                var results = await Tasks.ExecuteBatchAsync(partition, [Rewrite(partition, item, updated, etag), BatchOperation.PatchOf(TaskContainers.ProgressId, counters)], ct);
                var mirrored = MirrorStatusAsync(item.DatasetId, itemId, taskId, status, ct);
                await Task.WhenAll(mirrored, afterChange?.Invoke(updated, item.Status) ?? Task.CompletedTask);
                return (updated, true, item.Status, ToProgress(results[1]!.Body));
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException && attempt < MaxAttempts)
            {
                // Someone changed the item meanwhile: decide again on the fresh version.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>
    /// Skip: the item goes back to the task's pool (no assignee) and its skip count grows. Only the assignee may
    /// skip, and only an item without a status. False when it is not the caller's open item.
    /// </summary>
    public async Task<TaskItem?> SkipAsync(string taskId, string itemId, string userId, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (await GetItemAsync(taskId, itemId, ct) is not { } found || found.Item.Status is not null
                || !string.Equals(found.Item.Assignee, userId, StringComparison.Ordinal))
            {
                return null;
            }

            var updated = found.Item with { Assignee = null, Skipped = found.Item.Skipped + 1, LastSkippedBy = userId };
            var partition = TaskContainers.TaskPartition(taskId);
            try
            {
                await Tasks.ExecuteBatchAsync(partition,
                [
                    Rewrite(partition, found.Item, updated, found.ETag),
                    BatchOperation.PatchOf(TaskContainers.ProgressId, [PatchOperation.Increment($"byAssignee.{userId}.total", -1), PatchOperation.Increment("skipped", 1)]),
                ], ct);
                return updated;
            }
            catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException && attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>
    /// "Start next": the caller's first open item by name; when they have none, claims the first open item of
    /// the pool (skipped or unassigned) for them, guarded by its ETag so two callers never claim the same one.
    /// Items the caller skipped are not handed back to them.
    /// </summary>
    public async Task<TaskItem?> NextAsync(string taskId, string userId, CancellationToken ct)
    {
        var own = await ListItemsAsync(taskId, [userId], openOnly: true, 1, null, ct);
        if (own.Items.Count > 0)
        {
            return own.Items[0];
        }

        var partition = TaskContainers.TaskPartition(taskId);
        await EnsureAssigneeAsync(taskId, userId, ct);
        string? token = null;
        do
        {
            var pool = await Tasks.QueryAsync(new DocumentQuery(partition,
                Filter.And(Filter.Eq("kind", TaskItemKind), Filter.Exists("assignee", false), Filter.Exists("status", false)),
                [new SortField("name"), new SortField("id")], 20, token), ct);
            foreach (var doc in pool.Items)
            {
                var candidate = ToItem(doc);
                if (string.Equals(candidate.LastSkippedBy, userId, StringComparison.Ordinal))
                {
                    continue;
                }

                var claimed = candidate with { Assignee = userId };
                try
                {
                    await Tasks.ExecuteBatchAsync(partition,
                    [
                        Rewrite(partition, candidate, claimed, doc.ETag),
                        BatchOperation.PatchOf(TaskContainers.ProgressId, [PatchOperation.Increment($"byAssignee.{userId}.total", 1)]),
                    ], ct);
                    return claimed;
                }
                catch (DocumentBatchFailedException ex) when (ex.InnerException is DocumentPreconditionFailedException)
                {
                    // Another caller claimed it first: try the next one.
                }
            }

            token = pool.ContinuationToken;
        }
        while (token is not null);

        return null;
    }

    /// <summary>Creates the user's zeroed counters in the task's progress unless they exist (guarded, so a count is never reset).</summary>
    public async Task EnsureAssigneeAsync(string taskId, string userId, CancellationToken ct)
    {
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var progress = await Tasks.ReadAsync(TaskContainers.TaskPartition(taskId), TaskContainers.ProgressId, ct);
            if (progress is null || progress.Body["byAssignee"]?[userId] is JsonObject)
            {
                return;
            }

            try
            {
                await Tasks.PatchAsync(TaskContainers.TaskPartition(taskId), TaskContainers.ProgressId,
                    [PatchOperation.Set($"byAssignee.{userId}", new JsonObject { ["total"] = 0, ["done"] = 0 })], progress.ETag, ct);
                return;
            }
            catch (DocumentPreconditionFailedException)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    /// <summary>Writes <c>status.{taskId}</c> on the item document (removed when cleared); see <see cref="MirrorStatusesAsync"/>.</summary>
    private Task MirrorStatusAsync(string datasetId, string itemId, string taskId, string? status, CancellationToken ct) =>
        MirrorStatusesAsync(datasetId, taskId, [(itemId, status)], ct);

    /// <summary><paramref name="item"/> (a body just read, changed in place) with <c>status.{taskId}</c> set, or removed when <paramref name="status"/> is null.</summary>
    private static JsonObject WithStatus(JsonObject item, string taskId, string? status)
    {
        if (item["status"] is not JsonObject statuses)
        {
            statuses = [];
            item["status"] = statuses;
        }

        if (status is null)
        {
            statuses.Remove(taskId);
        }
        else
        {
            statuses[taskId] = status;
        }

        return item;
    }

    /// <summary>
    /// The write that turns <paramref name="before"/> (read at <paramref name="etag"/>) into <paramref name="after"/>:
    /// a patch of the fields that differ, under the ETag, so on SQLite it is one statement that rewrites only the index
    /// entries of the fields it sets (a status change was three: an update expecting unchanged keys, a read of which
    /// keys differ, an update of those); the whole body when no field or more than a patch may hold differ.
    /// </summary>
    private static BatchOperation Rewrite(string partition, TaskItem before, TaskItem after, string etag)
    {
        var (old, next) = (Body(before), Body(after));
        var changes = new List<PatchOperation>();
        foreach (var (name, value) in next)
        {
            if (!old.TryGetPropertyValue(name, out var was) || !JsonNode.DeepEquals(was, value))
            {
                changes.Add(PatchOperation.Set(name, value?.DeepClone()));
            }
        }

        changes.AddRange(old.Where(field => !next.ContainsKey(field.Key)).Select(field => PatchOperation.Remove(field.Key)));
        return changes.Count is > 0 and <= DocumentLimits.MaxPatchOperations
            ? BatchOperation.PatchWithoutResult(after.ItemId, changes, etag)
            : BatchOperation.ReplaceRaw(after.ItemId, RawBody(partition, after), etag);
    }

    /// <summary>
    /// <see cref="Body"/> serialized with its id and partition key, for <see cref="BatchOperation.CreateRaw"/> and
    /// <see cref="BatchOperation.ReplaceRaw"/>: a split writes a million, and a write from a tree makes the store copy
    /// each tree before serializing it.
    /// </summary>
    private static byte[] RawBody(string partition, TaskItem item) => DocumentRules.Serialize(partition, item.ItemId, Body(item));

    private static JsonObject Body(TaskItem item)
    {
        var body = new JsonObject
        {
            ["kind"] = TaskItemKind,
            ["itemId"] = item.ItemId,
            ["datasetId"] = item.DatasetId,
            ["name"] = item.Name,
            ["skipped"] = item.Skipped,
            ["reopened"] = item.Reopened,
        };

        // Absent rather than null: the queue selects open and unassigned items with "field absent".
        if (item.Assignee is not null)
        {
            body["assignee"] = item.Assignee;
        }

        if (item.LastSkippedBy is not null)
        {
            body["lastSkippedBy"] = item.LastSkippedBy;
        }

        if (item.Status is not null)
        {
            body["status"] = item.Status;
            body["statusBy"] = item.StatusBy;
            body["statusAt"] = item.StatusAt;
        }

        return body;
    }

    private static TaskItem ToItem(StoredDocument doc) => new(
        doc.Body["itemId"]!.GetValue<string>(),
        doc.Body["datasetId"]!.GetValue<string>(),
        doc.Body["name"]!.GetValue<string>(),
        doc.Body["assignee"]?.GetValue<string>(),
        doc.Body["status"]?.GetValue<string>(),
        doc.Body["statusBy"]?.GetValue<string>(),
        doc.Body["statusAt"]?.GetValue<string>(),
        doc.Body["skipped"]?.GetValue<int>() ?? 0,
        doc.Body["reopened"]?.GetValue<bool>() ?? false,
        doc.Body["lastSkippedBy"]?.GetValue<string>());

    /// <summary>A progress document as counts (also read by the dashboard).</summary>
    internal static TaskProgress ToProgress(JsonObject? body)
    {
        // Parsed from text: a freshly patched node may hold a long or a double.
        static long Long(JsonNode? node) => node is null ? 0 : (long)double.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
        var byStatus = (body?["byStatus"] as JsonObject ?? []).ToDictionary(p => p.Key, p => Long(p.Value), StringComparer.Ordinal);
        var byAssignee = (body?["byAssignee"] as JsonObject ?? []).ToDictionary(
            p => p.Key, p => new AssigneeProgress(Long(p.Value?["total"]), Long(p.Value?["done"])), StringComparer.Ordinal);
        return new TaskProgress(Long(body?["total"]), Long(body?["done"]), byStatus, byAssignee);
    }
}
