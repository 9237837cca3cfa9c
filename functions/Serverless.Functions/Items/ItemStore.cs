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
    /// with 64: 5,306, single runs at load 5-8). The documents of a request are in memory anyway, so more in flight
    /// costs little; on Cosmos DB they are concurrent requests to one partition, whose throttling the SDK retries.
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
    /// Creates JSON text items from a bulk request body (<see cref="BulkItemsRequest"/>), reporting per entry. Each
    /// entry's content is held inline in its item document (its blob is written on the first download link); an entry
    /// either has its item, path claim and count, or none of them. Entries are written in batches while later ones are
    /// still being read (<see cref="ItemWrite"/>).
    /// </summary>
    /// <exception cref="BulkRequestException">The body is not JSON of the request's shape, or holds no or too many entries; nothing is written.</exception>
    public async Task<BulkItemsResponse> BulkCreateJsonAsync(string projectId, string datasetId, ReadOnlyMemory<byte> body, string userId, CancellationToken ct)
    {
        var shape = BulkItemsReader.Inspect(body.Span);
        if (shape.Count is 0 or > MaxBulkEntries)
        {
            throw new BulkRequestException("items", $"'items' must hold 1 to {MaxBulkEntries} entries; it holds {shape.Count}.");
        }

        var results = new BulkItemResult?[shape.Count];
        var pending = new List<(int Index, NewItem Item)>(shape.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var write = await BeginWriteAsync(datasetId, ct);
        IReadOnlyList<Exception?> errors;
        try
        {
            BulkItemsReader.ReadEntries(body.Span, shape, (i, entry) =>
            {
                if (Check(i, entry, seen, out var folder, out var name) is { } failed)
                {
                    results[i] = failed;
                    return;
                }

                // The request's metadata bytes become the item's metadata.user as they are (see NewItem.UserMetadata).
                var system = new JsonObject { ["mimetype"] = "application/json" };
                var item = NewItemRecord(projectId, datasetId, Ids.NewTimeOrdered("i", time.GetUtcNow()), folder, name, "text", entry.Content!.Length, system, null, userId);
                var created = new NewItem(item, BlobName(projectId, datasetId, item.Id), entry.Content, entry.Metadata);
                pending.Add((i, created));
                write.Add(created);
            });
        }
        finally
        {
            // Batches already started finish before the response (or the error) leaves.
            errors = await write.CompleteAsync();
        }

        var createdCount = 0;
        for (var k = 0; k < pending.Count; k++)
        {
            var (index, entry) = pending[k];
            results[index] = errors[k] switch
            {
                null => new BulkItemResult(index, StatusCodes.Status201Created, entry.Item.Id, entry.Item.Path, null),
                ItemPathTakenException taken => Failed(index, StatusCodes.Status409Conflict, entry.Item.Path, taken.Message),
                var error => Failed(index, StatusCodes.Status500InternalServerError, entry.Item.Path, error.Message),
            };
            createdCount += errors[k] is null ? 1 : 0;
        }

        return new BulkItemsResponse(createdCount, shape.Count - createdCount, [.. results.Select(r => r!)]);
    }

    /// <summary>Why a bulk entry cannot be created (400, 409 or 413), or null when it can.</summary>
    private static BulkItemResult? Check(int index, BulkEntry entry, HashSet<string> seen, out string folder, out string name)
    {
        (folder, name) = (string.Empty, string.Empty);
        if (entry.Error is { } error)
        {
            return Failed(index, StatusCodes.Status400BadRequest, null, error);
        }

        if (entry.Path is null || entry.Content is null)
        {
            return Failed(index, StatusCodes.Status400BadRequest, null, "Each entry needs 'path' and 'content' (any JSON value except null).");
        }

        try
        {
            (folder, name) = ItemPath.SplitFullPath(entry.Path);
        }
        catch (ItemPathException ex)
        {
            return Failed(index, StatusCodes.Status400BadRequest, null, ex.Message);
        }

        var path = folder == ItemPath.Root ? ItemPath.Root + name : folder + "/" + name;
        if (!seen.Add(path))
        {
            return Failed(index, StatusCodes.Status409Conflict, path, $"Path '{path}' appears more than once in this request.");
        }

        if (entry.Metadata is { Length: > MaxUserMetadataBytes })
        {
            return Failed(index, StatusCodes.Status400BadRequest, path, $"'metadata' is larger than {MaxUserMetadataBytes} bytes.");
        }

        return entry.Content.Length > MaxInlineContentBytes
            ? Failed(index, StatusCodes.Status413PayloadTooLarge, path, $"'content' is {entry.Content.Length} bytes serialized; bulk entries hold at most {MaxInlineContentBytes} (upload larger files one by one).")
            : null;
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
            if (entry.UserMetadata is { } user)
            {
                // metadata.user as the request's bytes, after the item's other metadata (system).
                w.WriteStartObject();
                foreach (var (key, value) in item.Metadata.Where(p => p.Key != "user"))
                {
                    w.WritePropertyName(key);
                    if (value is null)
                    {
                        w.WriteNullValue();
                    }
                    else
                    {
                        value.WriteTo(w);
                    }
                }

                w.WritePropertyName("user"u8);
                w.WriteRawValue(user, skipInputValidation: true);
                w.WriteEndObject();
            }
            else
            {
                item.Metadata.WriteTo(w);
            }
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
        /// Neither <c>kind</c> nor <c>itemId</c> (claims written before hold them; <see cref="PathClaims.ItemIdOf"/> reads
        /// both forms): claims are only read by id, and every field the container indexes would put an entry per item
        /// into that index for nothing (the <c>kind</c> entry of a random id landed on a random page of its index).
        /// </remarks>
        public byte[] Claim(string claimId, Item item)
        {
            var w = Start(claimId);
            w.WriteString(PathClaims.ItemField, item.Id);
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
