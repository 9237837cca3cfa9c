using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Core.Media;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Items;

/// <summary>
/// Items: a document per item in <c>dataset:{id}</c>, a path-claim document per item (id derived from
/// the path, so a second item with the same path conflicts inside the store), and the dataset's counter
/// document, all written in one atomic batch. The file is a blob under a server-chosen name
/// (<c>{projectId}/{datasetId}/{itemId}</c>), never the user's path.
/// </summary>
/// <remarks>
/// Order of writes: the blob first, then the batch. If the batch fails the blob is deleted, so a reader
/// never finds an item without its file; a crash between the two leaves only an unreferenced blob.
/// </remarks>
public sealed partial class ItemStore(IDocumentStore store, IBlobStore blobs, PathClaims claims, IOptions<ItemsOptions> options, TimeProvider time, IEnumerable<IItemIngestionHook> hooks) : IDisposable
{
    /// <summary>Items per atomic batch: two operations each plus the counter, within the store's 100.</summary>
    public const int ItemsPerBatch = (DocumentLimits.MaxBatchOperations - 1) / 2;

    /// <summary>Most entries in one bulk request.</summary>
    public const int MaxBulkEntries = 5000;

    /// <summary>
    /// Largest content of one bulk JSON entry, serialized. Bulk entries are stored inside their item
    /// document (a blob per entry would cap bulk creation at the blob service's request rate) and
    /// written to a blob the first time a download link asks for one.
    /// </summary>
    public const int MaxInlineContentBytes = 64 * 1024;

    /// <summary>Largest user metadata object of one item, serialized (keeps documents far below the store's 2 MB).</summary>
    public const int MaxUserMetadataBytes = 64 * 1024;

    private const int MaxAttempts = 30;

    /// <summary>
    /// Batches of one write in flight at once: as many as SQLite's group commit puts in one transaction, so most of a
    /// 5,000-entry request commits together and each index page it touches is written once (bulk with 8: 3,410 items/s,
    /// with 64: 5,306, single runs at load 5-8). The documents are serialized before any batch is submitted, so more in
    /// flight costs little memory; on Cosmos DB they are concurrent requests to one partition, whose throttling the SDK retries.
    /// </summary>
    private const int WriteParallelism = 64;
    private const string ItemKind = "item";
    private static readonly Filter ItemsOnly = Filter.Eq("kind", ItemKind);

    private readonly SemaphoreSlim _containerGate = new(1, 1);
    private volatile bool _containerReady;
    private volatile bool _uploadContainerReady;

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    private ItemsOptions Options => options.Value;

    /// <summary>The blob name of an item: chosen by the server, never derived from the user's path.</summary>
    public static string BlobName(string projectId, string datasetId, string itemId) => $"{projectId}/{datasetId}/{itemId}";

    public async Task<(Item Item, string BlobName)?> GetAsync(string datasetId, string itemId, CancellationToken ct) =>
        await GetStoredAsync(datasetId, itemId, ct) is { } stored ? (stored.Item, stored.BlobName) : null;

    /// <summary>The item with where its bytes are: its blob name, and its content when still held inline.</summary>
    public async Task<StoredItem?> GetStoredAsync(string datasetId, string itemId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(itemId))
        {
            return null;
        }

        var doc = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), itemId, ct);
        if (doc is null || doc.Body["kind"]?.GetValue<string>() != ItemKind)
        {
            return null;
        }

        var inline = doc.Body["inline"]?.GetValue<string>() is { } base64 ? Convert.FromBase64String(base64) : null;
        return new StoredItem(ToItem(doc), doc.Body["blob"]!.GetValue<string>(), inline);
    }

    /// <summary>
    /// Opens the item's bytes: its inline content, or its blob. The caller disposes the stream.
    /// </summary>
    public async Task<Stream> OpenContentAsync(StoredItem stored, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (stored.InlineContent is { } inline)
        {
            return new MemoryStream(inline, writable: false);
        }

        var download = await blobs.DownloadAsync(Options.BlobContainer, stored.BlobName, null, ct);
        return download.Content;
    }

    /// <summary>One page of the dataset's items matching a compiled filter request.</summary>
    public async Task<Page<Item>> QueryAsync(string datasetId, FilterQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var page = await Items.QueryAsync(query.ToDocumentQuery(DatasetContainers.ItemPartition(datasetId), ItemsOnly), ct);
        return new Page<Item>([.. page.Items.Select(ToItem)], page.ContinuationToken);
    }

    /// <summary>
    /// One page of the dataset's items matching a compiled filter, as ids and names only (what a task split deals out):
    /// picked from the stored bytes where the store offers them, without building each item (a split reads a million).
    /// </summary>
    public async Task<Page<(string Id, string Name)>> QueryNamesAsync(string datasetId, FilterQuery query, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var documentQuery = query.ToDocumentQuery(DatasetContainers.ItemPartition(datasetId), ItemsOnly);
        if (Items is IRawDocumentQuery raw)
        {
            var page = await raw.QueryRawAsync(documentQuery, ct);
            return new Page<(string, string)>([.. page.Items.Select(d => (d.Id, NameOf(d)))], page.ContinuationToken);
        }

        var parsed = await Items.QueryAsync(documentQuery, ct);
        return new Page<(string, string)>([.. parsed.Items.Select(d => (d.Id, d.Body["name"]!.GetValue<string>()))], parsed.ContinuationToken);
    }

    /// <summary>
    /// Streams <paramref name="content"/> into a new blob (refusing more than the configured bytes),
    /// sniffs its type, reads image dimensions, and records the item.
    /// </summary>
    /// <exception cref="ItemPathTakenException">The path is taken (checked before and, atomically, after the upload).</exception>
    /// <exception cref="UploadTooLargeException">The body is over the limit; nothing was committed.</exception>
    public async Task<Item> UploadAsync(string projectId, string datasetId, string folder, string name, Stream content, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        var path = folder == ItemPath.Root ? ItemPath.Root + name : folder + "/" + name;
        if (await claims.FindAsync(datasetId, path, ct) is not null)
        {
            throw new ItemPathTakenException(path);
        }

        await EnsureBlobContainerAsync(ct);
        var itemId = Ids.NewTimeOrdered("i", time.GetUtcNow());
        var blobName = BlobName(projectId, datasetId, itemId);
        await using var limited = new LimitedReadStream(content, Options.MaxUploadBytes);
        var (sniffed, replay) = await ContentSniffer.SniffAsync(limited, ct);
        BlobProperties stored;
        await using (replay)
        {
            stored = await blobs.UploadAsync(Options.BlobContainer, blobName, replay, new BlobUploadOptions(sniffed.MimeType, IfNoneMatchAny: true), ct);
        }

        Item item;
        try
        {
            var system = new JsonObject { ["mimetype"] = sniffed.MimeType };
            if (sniffed.Type == ItemType.Image && await ReadImageSizeAsync(blobName, stored.Length, ct) is { } size)
            {
                system["width"] = size.Width;
                system["height"] = size.Height;
            }

            item = NewItemRecord(projectId, datasetId, itemId, folder, name, sniffed.TypeName, stored.Length, Prepared(system, sniffed.TypeName), null, userId);
            var error = (await WriteAsync(datasetId, [new NewItem(item, blobName)], ct))[0];
            if (error is not null)
            {
                throw error;
            }
        }
        catch
        {
            await blobs.DeleteAsync(Options.BlobContainer, blobName, CancellationToken.None);
            throw;
        }

        await IngestedAsync(item, ct);
        return item;
    }

    /// <summary>Lets the ingestion hooks add system metadata (e.g. a video's conversion state) before the item is written.</summary>
    private JsonObject Prepared(JsonObject system, string type)
    {
        foreach (var hook in hooks)
        {
            hook.Preparing(type, system);
        }

        return system;
    }

    /// <summary>Tells the ingestion hooks an item was written (e.g. to start a video's conversion).</summary>
    private async Task IngestedAsync(Item item, CancellationToken ct)
    {
        foreach (var hook in hooks)
        {
            await hook.IngestedAsync(item, ct);
        }
    }

    /// <summary>
    /// Creates JSON text items, reporting per entry. Each entry's content is held inline in its item document (its blob
    /// is written on the first download link); an entry either has its item, path claim and count, or none of them.
    /// </summary>
    public async Task<BulkItemsResponse> BulkCreateJsonAsync(string projectId, string datasetId, IReadOnlyList<BulkItemEntry?> entries, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var results = new BulkItemResult?[entries.Count];
        var pending = new List<(int Index, NewItem Item)>(entries.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            if (entry?.Path is null || entry.Content is null)
            {
                results[i] = Failed(i, StatusCodes.Status400BadRequest, null, "Each entry needs 'path' and 'content' (any JSON value except null).");
                continue;
            }

            string folder, name;
            try
            {
                (folder, name) = ItemPath.SplitFullPath(entry.Path);
            }
            catch (ItemPathException ex)
            {
                results[i] = Failed(i, StatusCodes.Status400BadRequest, null, ex.Message);
                continue;
            }

            var path = folder == ItemPath.Root ? ItemPath.Root + name : folder + "/" + name;
            if (!seen.Add(path))
            {
                results[i] = Failed(i, StatusCodes.Status409Conflict, path, $"Path '{path}' appears more than once in this request.");
                continue;
            }

            if (entry.Metadata is not null && JsonSerializer.SerializeToUtf8Bytes(entry.Metadata).Length > MaxUserMetadataBytes)
            {
                results[i] = Failed(i, StatusCodes.Status400BadRequest, path, $"'metadata' is larger than {MaxUserMetadataBytes} bytes.");
                continue;
            }

            var bytes = JsonSerializer.SerializeToUtf8Bytes(entry.Content);
            if (bytes.Length > MaxInlineContentBytes)
            {
                results[i] = Failed(i, StatusCodes.Status413PayloadTooLarge, path, $"'content' is {bytes.Length} bytes serialized; bulk entries hold at most {MaxInlineContentBytes} (upload larger files one by one).");
                continue;
            }

            // The request's metadata node becomes the item's own (no copy): it was parsed for this entry alone and is only written.
            var system = new JsonObject { ["mimetype"] = "application/json" };
            var item = NewItemRecord(projectId, datasetId, Ids.NewTimeOrdered("i", time.GetUtcNow()), folder, name, "text", bytes.Length, system, entry.Metadata, userId);
            pending.Add((i, new NewItem(item, BlobName(projectId, datasetId, item.Id), bytes)));
        }

        // One atomic batch per ItemsPerBatch entries: a path already taken fails its batch, which is then
        // retried entry by entry, so only that entry reports 409 (no read per entry beforehand).
        var errors = await WriteAsync(datasetId, [.. pending.Select(p => p.Item)], ct);
        var created = 0;
        for (var k = 0; k < pending.Count; k++)
        {
            var (index, entry) = pending[k];
            var item = entry.Item;
            results[index] = errors[k] switch
            {
                null => new BulkItemResult(index, StatusCodes.Status201Created, item.Id, item.Path, null),
                ItemPathTakenException taken => Failed(index, StatusCodes.Status409Conflict, item.Path, taken.Message),
                var error => Failed(index, StatusCodes.Status500InternalServerError, item.Path, error.Message),
            };
            created += errors[k] is null ? 1 : 0;
        }

        return new BulkItemsResponse(created, entries.Count - created, [.. results.Select(r => r!)]);
    }

    /// <summary>
    /// Records items whose blobs are already stored: per batch of <see cref="ItemsPerBatch"/>, the item
    /// and path-claim documents plus the dataset counter's increments in one atomic write. A batch that fails on an
    /// entry is retried entry by entry so the others still land. Returns, per entry, null or its error.
    /// </summary>
    /// <remarks>
    /// The batches are independent (the counter moves by patch increments, which never conflict), so they are
    /// submitted together from a few workers: the SQLite store commits the batches that queue up meanwhile in one
    /// transaction (a savepoint each, so each still succeeds or fails alone), which writes every hot index page once
    /// per commit instead of once per batch; on Cosmos DB they are concurrent requests to one partition.
    /// </remarks>
    public async Task<IReadOnlyList<Exception?>> WriteAsync(string datasetId, IReadOnlyList<NewItem> items, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var taken = await claims.TakenByLegacyAsync(partition, [.. items.Select(i => i.Item.Path)], ct);
        if (taken.Count == 0)
        {
            return await WriteClaimedAsync(partition, items, ct);
        }

        // Paths an item of a legacy dataset holds under a hashed claim (see PathClaims): refused here, the rest written.
        var free = Enumerable.Range(0, items.Count).Where(k => !taken.Contains(k)).ToList();
        var written = await WriteClaimedAsync(partition, [.. free.Select(k => items[k])], ct);
        var errors = new Exception?[items.Count];
        foreach (var k in taken)
        {
            errors[k] = new ItemPathTakenException(items[k].Item.Path);
        }

        for (var f = 0; f < free.Count; f++)
        {
            errors[free[f]] = written[f];
        }

        return errors;
    }

    private async Task<IReadOnlyList<Exception?>> WriteClaimedAsync(string partition, IReadOnlyList<NewItem> items, CancellationToken ct)
    {
        var errors = new Exception?[items.Count];
        if (items.Count == 0)
        {
            return errors;
        }

        var bodies = new byte[items.Count][];
        var pathClaims = new (string Id, byte[] Body)[items.Count];
        using var documents = new DocumentWriter(partition);
        for (var k = 0; k < items.Count; k++)
        {
            // Serialized (and the claim's id derived) once: a batch redone entry by entry reuses them.
            bodies[k] = documents.Item(items[k]);
            var claimId = PathClaims.Id(items[k].Item.Path);
            pathClaims[k] = (claimId, documents.Claim(claimId, items[k].Item));
        }

        await EnsureCounterAsync(partition, ct);
        var chunks = Enumerable.Range(0, (items.Count + ItemsPerBatch - 1) / ItemsPerBatch)
            .Select(c => (Start: c * ItemsPerBatch, Count: Math.Min(ItemsPerBatch, items.Count - (c * ItemsPerBatch)))).ToList();
        var failed = new Exception?[chunks.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = WriteParallelism, CancellationToken = ct }, async (c, token) =>
            failed[c] = await TryWriteChunkAsync(partition, items, bodies, pathClaims, chunks[c].Start, chunks[c].Count, token));

        var redo = new List<int>();
        for (var c = 0; c < chunks.Count; c++)
        {
            if (failed[c] is null)
            {
                continue;
            }

            if (chunks[c].Count == 1)
            {
                errors[chunks[c].Start] = failed[c];
            }
            else
            {
                redo.AddRange(Enumerable.Range(chunks[c].Start, chunks[c].Count));
            }
        }

        await Parallel.ForEachAsync(redo, new ParallelOptions { MaxDegreeOfParallelism = WriteParallelism, CancellationToken = ct }, async (k, token) =>
            errors[k] = await TryWriteChunkAsync(partition, items, bodies, pathClaims, k, 1, token));
        return errors;
    }

    /// <summary>Deletes the item's documents (one atomic batch with the counter), then its blob. False when absent.</summary>
    public async Task<bool> DeleteAsync(string datasetId, string itemId, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        for (var attempt = 1; ; attempt++)
        {
            if (!Ids.IsWellFormed(itemId))
            {
                return false;
            }

            var doc = await Items.ReadAsync(partition, itemId, ct);
            if (doc is null || doc.Body["kind"]?.GetValue<string>() != ItemKind)
            {
                return false;
            }

            try
            {
                var stats = await UpgradeCounterAsync(partition, await Items.ReadAsync(partition, DatasetContainers.StatsId, ct), ct);
                var claim = await claims.FindAsync(datasetId, doc.Body["path"]!.GetValue<string>(), ct);
                await Items.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Delete(itemId, doc.ETag),
                    .. claim is null ? [] : new[] { BatchOperation.Delete(claim.Id) },
                    CounterChange(stats, [doc.Body["type"]?.GetValue<string>() ?? "other"], -1),
                ], ct);
            }
            catch (DocumentStoreException ex) when (ex is DocumentBatchFailedException or DocumentPreconditionFailedException && attempt < MaxAttempts)
            {
                // A concurrent write to the counter or the item: re-read and retry.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
                continue;
            }

            await blobs.DeleteAsync(Options.BlobContainer, doc.Body["blob"]!.GetValue<string>(), ct);
            foreach (var derived in hooks.SelectMany(h => h.DerivedBlobs(doc.Body)))
            {
                await blobs.DeleteAsync(Options.BlobContainer, derived, ct);
            }

            return true;
        }
    }

    /// <summary>
    /// A read-only link to the item's file, valid for <paramref name="validFor"/>. Blob Storage answers it
    /// with <c>Content-Disposition: attachment</c> and the sniffed type (SAS <c>rscd</c>/<c>rsct</c>), so a
    /// browser saves the file instead of rendering it. Inline content is written to its blob first.
    /// </summary>
    public async Task<SignedLink> CreateDownloadLinkAsync(StoredItem stored, TimeSpan validFor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stored);
        await EnsureBlobAsync(stored, ct);
        var expires = time.GetUtcNow().Add(validFor);
        var headers = new BlobSasResponseHeaders(BlobSasResponseHeaders.Attachment(stored.Item.Name), MimeType(stored.Item));
        var url = await blobs.CreateSasUriAsync(Options.BlobContainer, stored.BlobName, BlobSasPermissions.Read, expires, headers, ct);
        return new SignedLink(url, expires);
    }

    /// <summary>The sniffed MIME type recorded for the item (octet-stream when unknown).</summary>
    public static string MimeType(Item item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return item.Metadata["system"]?["mimetype"]?.GetValue<string>() ?? "application/octet-stream";
    }

    /// <summary>
    /// Writes an inline item's bytes to its blob (a no-op when the blob is there: the write is
    /// conditional, so concurrent callers agree), then drops the inline copy from the document.
    /// </summary>
    private async Task EnsureBlobAsync(StoredItem stored, CancellationToken ct)
    {
        if (stored.InlineContent is not { } inline)
        {
            return;
        }

        await EnsureBlobContainerAsync(ct);
        try
        {
            using var content = new MemoryStream(inline, writable: false);
            await blobs.UploadAsync(Options.BlobContainer, stored.BlobName, content, new BlobUploadOptions(MimeType(stored.Item), IfNoneMatchAny: true), ct);
        }
        catch (BlobConflictException)
        {
            // Another request wrote it first; the bytes are the same.
        }

        try
        {
            await Items.PatchAsync(DatasetContainers.ItemPartition(stored.Item.DatasetId), stored.Item.Id, [PatchOperation.Remove("inline")], null, ct);
        }
        catch (DocumentStoreException)
        {
            // Already dropped by a concurrent request, or the item was deleted meanwhile: nothing to keep.
        }
    }

    public void Dispose() => _containerGate.Dispose();

    /// <summary>
    /// Makes sure the dataset's counter exists with per-type counts, so that every item batch can move it by patch
    /// increments alone (no read, no ETag): created at zero when missing (a concurrent creator wins, which is the same),
    /// upgraded once when written before per-type counts existed.
    /// </summary>
    private async Task EnsureCounterAsync(string partition, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var stats = await Items.ReadAsync(partition, DatasetContainers.StatsId, ct);
                if (stats is null)
                {
                    await Items.CreateAsync(partition, DatasetContainers.StatsId, NewCounter(new Dictionary<string, long>()), ct);
                    return;
                }

                await UpgradeCounterAsync(partition, stats, ct);
                return;
            }
            catch (DocumentStoreException ex) when (ex is DocumentConflictException or DocumentPreconditionFailedException && attempt < MaxAttempts)
            {
                // Created by a concurrent writer, or moved while its types were counted: look again.
            }
        }
    }

    /// <summary>One atomic batch: items [start, start + count) with their path claims, and the counter's increments.</summary>
    private async Task<Exception?> TryWriteChunkAsync(string partition, IReadOnlyList<NewItem> items, byte[][] bodies, (string Id, byte[] Body)[] pathClaims, int start, int count, CancellationToken ct)
    {
        var operations = new List<BatchOperation>((count * 2) + 1);
        for (var k = start; k < start + count; k++)
        {
            operations.Add(BatchOperation.CreateRaw(items[k].Item.Id, bodies[k]));
            operations.Add(BatchOperation.CreateRaw(pathClaims[k].Id, pathClaims[k].Body));
        }

        operations.Add(BatchOperation.PatchOf(DatasetContainers.StatsId, CounterIncrements(TypeCounts(items.Skip(start).Take(count).Select(i => i.Item.Type), +1))));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Items.ExecuteBatchAsync(partition, operations, ct);
                return null;
            }
            catch (DocumentBatchFailedException ex) when (ex.OperationIndex == operations.Count - 1 && ex.InnerException is DocumentNotFoundException && attempt < MaxAttempts)
            {
                // The counter was deleted meanwhile (a forced dataset delete): create it again, as a first write would.
                await EnsureCounterAsync(partition, ct);
            }
            catch (DocumentBatchFailedException ex) when (ex.OperationIndex < operations.Count - 1)
            {
                var entry = items[start + (ex.OperationIndex / 2)];
                return ex.OperationIndex % 2 == 1 && ex.InnerException is DocumentConflictException
                    ? new ItemPathTakenException(entry.Item.Path)
                    : ex;
            }
            catch (DocumentStoreException ex) when (ex is DocumentBatchFailedException or InvalidDocumentException)
            {
                return ex;
            }
        }
    }

    private async Task<ImageSize?> ReadImageSizeAsync(string blobName, long length, CancellationToken ct)
    {
        try
        {
            var range = new BlobRange(0, Math.Min(length, ImageDimensions.DefaultMaxHeaderBytes));
            await using var download = await blobs.DownloadAsync(Options.BlobContainer, blobName, range, ct);
            return await ImageDimensions.ReadAsync(download.Content, cancellationToken: ct);
        }
        catch (Exception ex) when (ex is UnsupportedImageException or EndOfStreamException or InvalidDataException)
        {
            // A file that sniffs as an image but whose header we cannot read keeps its item, without a size.
            return null;
        }
    }

    private async Task EnsureBlobContainerAsync(CancellationToken ct)
    {
        if (_containerReady)
        {
            return;
        }

        await _containerGate.WaitAsync(ct);
        try
        {
            if (!_containerReady)
            {
                await blobs.CreateContainerIfNotExistsAsync(Options.BlobContainer, ct);
                _containerReady = true;
            }
        }
        finally
        {
            _containerGate.Release();
        }
    }

    private Item NewItemRecord(string projectId, string datasetId, string itemId, string folder, string name, string type, long size, JsonObject system, JsonObject? user, string userId)
    {
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var path = folder == ItemPath.Root ? ItemPath.Root + name : folder + "/" + name;
        var metadata = new JsonObject { ["system"] = system, ["user"] = user ?? new JsonObject() };
        return new Item(itemId, projectId, datasetId, name, folder, path, type, size, false, [], metadata, userId, now, now);
    }

    /// <summary>
    /// The stored document of a new item, serialized: the item's fields plus <c>kind</c>, <c>blob</c>, any inline content,
    /// and the store's <c>id</c> and <c>pk</c>.
    /// </summary>
    public static byte[] ItemDocument(NewItem entry, string partitionKey)
    {
        using var documents = new DocumentWriter(partitionKey);
        return documents.Item(entry);
    }

    /// <summary>
    /// A counter written before per-type counts existed gets them once: the types are counted after the counter was
    /// read and set under its ETag. Every item write changes the counter, so an unchanged ETag proves no item
    /// changed between the read and the counts; otherwise the patch fails and the caller retries on fresh data.
    /// </summary>
    private async Task<StoredDocument?> UpgradeCounterAsync(string partition, StoredDocument? stats, CancellationToken ct)
    {
        if (stats is null || stats.Body["byType"] is JsonObject)
        {
            return stats;
        }

        var counts = new JsonObject();
        foreach (var type in FieldCatalogs.ItemTypes)
        {
            counts[type] = await Items.CountAsync(partition, Filter.And(ItemsOnly, Filter.Eq("type", type)), ct);
        }

        return await Items.PatchAsync(partition, DatasetContainers.StatsId, [PatchOperation.Set("byType", counts)], stats.ETag, ct);
    }

    /// <summary>
    /// The counter operation of a batch that adds (<paramref name="sign"/> +1) or removes (-1) items of these types:
    /// patch increments of <c>itemCount</c> and <c>byType.{type}</c>, which concurrent writers never conflict on. A
    /// missing counter is created (two creators conflict, and the loser retries on the created one); a counter
    /// written before per-type counts existed is replaced once under its ETag with the types counted from the items.
    /// </summary>
    private static BatchOperation CounterChange(StoredDocument? stats, IEnumerable<string> types, int sign)
    {
        var byType = TypeCounts(types, sign);
        if (stats is null)
        {
            return BatchOperation.Create(DatasetContainers.StatsId, NewCounter(byType));
        }

        if (stats.Body["byType"] is not JsonObject)
        {
            throw new InvalidOperationException($"The item counter of partition '{stats.PartitionKey}' has no per-type counts; UpgradeCounterAsync adds them before any write.");
        }

        return BatchOperation.PatchOf(DatasetContainers.StatsId, CounterIncrements(byType));
    }

    private static Dictionary<string, long> TypeCounts(IEnumerable<string> types, int sign) =>
        types.GroupBy(t => t, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.Count() * sign, StringComparer.Ordinal);

    /// <summary>A new counter holding <paramref name="byType"/> (negative counts floored at zero), every known type present.</summary>
    private static JsonObject NewCounter(IReadOnlyDictionary<string, long> byType)
    {
        var counts = new JsonObject();
        foreach (var type in FieldCatalogs.ItemTypes)
        {
            counts[type] = Math.Max(0, byType.GetValueOrDefault(type));
        }

        return new JsonObject { ["kind"] = "stats", ["itemCount"] = Math.Max(0, byType.Values.Sum()), ["byType"] = counts };
    }

    /// <summary>Patch increments of <c>itemCount</c> and <c>byType.{type}</c>, which concurrent writers never conflict on.</summary>
    private static List<PatchOperation> CounterIncrements(IReadOnlyDictionary<string, long> byType)
    {
        var operations = new List<PatchOperation>(byType.Count + 1) { PatchOperation.Increment("itemCount", byType.Values.Sum()) };
        operations.AddRange(byType.Select(p => PatchOperation.Increment("byType." + p.Key, p.Value)));
        return operations;
    }

    private static Item ToItem(StoredDocument doc) => doc.Body.Deserialize<Item>(DocumentJson.Options)!;

    /// <summary>The top-level <c>name</c> of an item document's bytes.</summary>
    private static string NameOf(RawDocument doc)
    {
        var reader = new Utf8JsonReader(doc.Utf8Body.Span);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = reader.ValueTextEquals("name"u8);
            reader.Read();
            if (isName && reader.TokenType == JsonTokenType.String)
            {
                return reader.GetString()!;
            }

            reader.Skip();
        }

        throw new DocumentStoreUnavailableException($"Item document '{doc.Id}' has no name.");
    }

    private static BulkItemResult Failed(int index, int status, string? path, string message) => new(index, status, null, path, message);

    /// <summary>
    /// Serializes the documents of new items (for <see cref="BatchOperation.CreateRaw"/>) through one reused buffer.
    /// </summary>
    /// <remarks>
    /// Written field by field: bulk writes build thousands of documents per call, and a <see cref="JsonObject"/> per
    /// document (built, copied and serialized again by the store) cost more than the SQLite insert.
    /// <c>ItemDocument_AnyItem_MatchesSerializerPlusStoredFields</c> (tests) keeps the item document what the
    /// serializer writes for <see cref="Item"/>.
    /// </remarks>
    private sealed class DocumentWriter(string partitionKey) : IDisposable
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private Utf8JsonWriter? _writer;

        public byte[] Item(NewItem entry)
        {
            var item = entry.Item;
            var w = Start(item.Id);
            w.WriteString("projectId"u8, item.ProjectId);
            w.WriteString("datasetId"u8, item.DatasetId);
            w.WriteString("name"u8, item.Name);
            w.WriteString("dir"u8, item.Dir);
            w.WriteString("path"u8, item.Path);
            w.WriteString("type"u8, item.Type);
            w.WriteNumber("size"u8, item.Size);
            w.WriteBoolean("annotated"u8, item.Annotated);
            w.WriteStartArray("tags"u8);
            foreach (var tag in item.Tags)
            {
                w.WriteStringValue(tag);
            }

            w.WriteEndArray();
            w.WritePropertyName("metadata"u8);
            item.Metadata.WriteTo(w);
            w.WriteString("createdBy"u8, item.CreatedBy);
            w.WriteString("createdAt"u8, item.CreatedAt);
            w.WriteString("updatedAt"u8, item.UpdatedAt);
            w.WriteString("kind"u8, ItemKind);
            w.WriteString("blob"u8, entry.BlobName);

            // Task statuses are mirrored into this object (status.{taskId}) by patches, which need it to exist.
            w.WriteStartObject("status"u8);
            w.WriteEndObject();
            if (entry.InlineContent is { } inline)
            {
                w.WriteBase64String("inline"u8, inline);
            }

            return End(w);
        }

        /// <summary>The path claim: its id is derived from the path, so a second claim of the path conflicts in the store.</summary>
        /// <remarks>
        /// No <c>kind</c> (claims written before this have <c>"path"</c>): claims are only read by id, and the id, a hash,
        /// is random, so an entry in the container's <c>kind</c> index put each write on a random page of that index.
        /// </remarks>
        public byte[] Claim(string claimId, Item item)
        {
            var w = Start(claimId);
            w.WriteString("itemId"u8, item.Id);
            w.WriteString("path"u8, item.Path);
            return End(w);
        }

        public void Dispose() => _writer?.Dispose();

        private Utf8JsonWriter Start(string id)
        {
            _buffer.ResetWrittenCount();
            if (_writer is null)
            {
                _writer = new Utf8JsonWriter(_buffer);
            }
            else
            {
                _writer.Reset(_buffer);
            }

            _writer.WriteStartObject();
            _writer.WriteString("id"u8, id);
            return _writer;
        }

        private byte[] End(Utf8JsonWriter w)
        {
            w.WriteString("pk"u8, partitionKey);
            w.WriteEndObject();
            w.Flush();
            return _buffer.WrittenSpan.ToArray();
        }
    }
}
