using System.Text.Json.Nodes;

namespace Serverless.Functions.Items;

/// <summary>
/// An item as stored and returned. The stored document also holds <c>kind</c> ("item") and the
/// server-chosen blob name, which are not returned. Field names follow the filter language's item
/// catalog (<c>name</c>, <c>dir</c>, <c>type</c>, <c>size</c>, <c>annotated</c>, <c>tags</c>,
/// <c>metadata.system.*</c>, <c>metadata.user.*</c>, timestamps as <c>StoredTimestamp</c>).
/// </summary>
public sealed record Item(
    string Id,
    string ProjectId,
    string DatasetId,
    string Name,
    string Dir,
    string Path,
    string Type,
    long Size,
    bool Annotated,
    IReadOnlyList<string> Tags,
    JsonObject Metadata,
    string CreatedBy,
    string CreatedAt,
    string UpdatedAt);

/// <summary>Item settings (section <c>Items</c>).</summary>
public sealed class ItemsOptions
{
    public const string Section = "Items";

    /// <summary>Largest upload through the API, in bytes (default 2 GiB); larger bodies get 413.</summary>
    public long MaxUploadBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Blob container holding item files.</summary>
    public string BlobContainer { get; set; } = "items";

    /// <summary>Longest validity of a download link, in minutes.</summary>
    public int MaxLinkMinutes { get; set; } = 24 * 60;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxUploadBytes < 1)
        {
            errors.Add($"{Section}:MaxUploadBytes must be at least 1.");
        }

        if (MaxLinkMinutes is < 1 or > 7 * 24 * 60)
        {
            errors.Add($"{Section}:MaxLinkMinutes must be 1 to {7 * 24 * 60} (a SAS lasts at most 7 days).");
        }

        if (string.IsNullOrWhiteSpace(BlobContainer))
        {
            errors.Add($"{Section}:BlobContainer is required.");
        }

        return errors;
    }
}

/// <summary>
/// An item to record: its blob is already stored under <see cref="BlobName"/>, or, with
/// <see cref="InlineContent"/>, its bytes travel inside the item document until a link needs the blob.
/// </summary>
/// <param name="Item">The item as the API returns it.</param>
/// <param name="BlobName">Its blob in the items container.</param>
/// <param name="InlineContent">Its bytes when they are held in the document (bulk JSON items).</param>
/// <param name="UserMetadata">When set, <c>metadata.user</c> as serialized JSON (a bulk entry's bytes, copied without a
/// tree), written in place of the one <see cref="Item"/>'s metadata holds.</param>
public sealed record NewItem(Item Item, string BlobName, byte[]? InlineContent = null, byte[]? UserMetadata = null);

/// <summary>An item as read back with where its bytes are.</summary>
/// <param name="Item">The item as returned by the API.</param>
/// <param name="BlobName">Its blob in the items container (written lazily for inline items).</param>
/// <param name="InlineContent">The bytes when they are still held in the document (bulk JSON items), else null.</param>
public sealed record StoredItem(Item Item, string BlobName, byte[]? InlineContent);

/// <summary>Another item of the dataset already has this path.</summary>
public sealed class ItemPathTakenException(string path)
    : Exception($"An item with path '{path}' already exists in this dataset: delete it first or choose another path.")
{
    public string ItemPath { get; } = path;
}

/// <summary>One entry of a bulk request.</summary>
/// <param name="Path">Full item path, e.g. <c>/texts/a.json</c>.</param>
/// <param name="Content">The JSON value stored as the item's file.</param>
/// <param name="Metadata">Optional object stored as <c>metadata.user</c>.</param>
public sealed record BulkItemEntry(string? Path, JsonNode? Content, JsonObject? Metadata);

/// <summary>Body of <c>POST .../items/bulk</c> (read by <see cref="BulkItemsReader"/>; this type documents it).</summary>
public sealed record BulkItemsRequest(IReadOnlyList<BulkItemEntry?>? Items);

/// <summary>
/// The outcome of one bulk entry: <c>201</c> with the new item's id and path, or an error status with its message.
/// The created items are not echoed in full: they hold what the request sent plus server fields, and a result is
/// ~100 bytes instead of ~460 (a 5,000-entry response of ~0.5 MB instead of ~2.3 MB to build, send and parse);
/// <c>GET …/items/{id}</c> or <c>items/query</c> reads them back.
/// </summary>
/// <param name="Index">The entry's position in the request.</param>
/// <param name="Status">201, or 400 (bad entry), 409 (path taken or repeated), 413 (content too large), 500.</param>
/// <param name="Id">The created item's id (201 only).</param>
/// <param name="Path">The normalized path, once the entry's path was valid.</param>
/// <param name="Error">Why the entry failed (not 201).</param>
public sealed record BulkItemResult(int Index, int Status, string? Id, string? Path, string? Error);

/// <summary>Response of the bulk endpoint, one result per entry in request order.</summary>
public sealed record BulkItemsResponse(int Created, int Failed, IReadOnlyList<BulkItemResult> Results);

/// <summary>A time-limited link.</summary>
public sealed record SignedLink(Uri Url, DateTimeOffset ExpiresAt);

/// <summary>Body of <c>POST .../items/upload-url</c>.</summary>
/// <param name="Folder">Folder path, e.g. <c>/images/2026</c> (default <c>/</c>).</param>
/// <param name="Name">File name.</param>
/// <param name="ContentType">What the client will send as Content-Type; recorded, never trusted (the type is sniffed).</param>
/// <param name="Size">Size in bytes the client will upload; refused up front when over the limit.</param>
/// <param name="Minutes">Validity of the URL (default 15, at most <c>Items:MaxLinkMinutes</c>).</param>
public sealed record UploadUrlRequest(string? Folder, string? Name, string? ContentType, long? Size, int? Minutes);

/// <summary>
/// A signed URL to PUT one file straight into blob storage, with the headers the request must carry.
/// The item appears (id <see cref="ItemId"/>) once the BlobCreated event is ingested; <see cref="StatusUrl"/> tells.
/// </summary>
public sealed record UploadTicket(
    string ItemId,
    string Path,
    Uri UploadUrl,
    string Method,
    IReadOnlyDictionary<string, string> Headers,
    DateTimeOffset ExpiresAt,
    long MaxBytes,
    string StatusUrl);

/// <summary>Where an upload stands: <c>pending</c>, <c>ingested</c> (with its item) or <c>rejected</c> (with the reason).</summary>
public sealed record UploadStatus(
    string ItemId,
    string Path,
    string State,
    long DeclaredSize,
    string? Reason,
    Item? Item,
    string CreatedAt,
    string UpdatedAt,
    string ExpiresAt);

/// <summary>
/// Body of <c>POST .../items/tags</c>: tags to add and to remove, on the items listed in
/// <see cref="Ids"/> or on one page of <see cref="Query"/> (a filter request, as for <c>items/query</c>).
/// </summary>
public sealed record TagItemsRequest(
    IReadOnlyList<string?>? Add,
    IReadOnlyList<string?>? Remove,
    IReadOnlyList<string?>? Ids,
    System.Text.Json.JsonElement? Query);

/// <summary>
/// Outcome of a tag call: items matched, items changed, ids that name no item, and (by filter) the
/// token to pass as <c>query.continuation</c> to continue; null when done.
/// </summary>
public sealed record TagItemsResponse(int Matched, int Updated, IReadOnlyList<string> NotFound, string? Continuation);

/// <summary>
/// Told about every item an upload or a BlobCreated ingestion creates, so that features that derive something from
/// a file (a video's WEBM conversion) hook in without the items feature knowing them.
/// </summary>
public interface IItemIngestionHook
{
    /// <summary>Adds to the new item's <c>metadata.system</c> before it is written (<paramref name="type"/>: image, video, text, other).</summary>
    void Preparing(string type, JsonObject system);

    /// <summary>After the item is written. May run more than once for one item (redelivered events): be idempotent.</summary>
    Task IngestedAsync(Item item, CancellationToken cancellationToken);

    /// <summary>Blobs in the items container derived from this item (stored document), deleted with it.</summary>
    IEnumerable<string> DerivedBlobs(JsonObject itemDocument);
}
