using System.Text.Json.Nodes;

namespace Serverless.Core.Storage.Documents;

/// <summary>Declares a container: its name and the document paths the hot queries filter or sort on.</summary>
/// <param name="Name">Lowercase letters, digits and '-'; 3 to 63 characters.</param>
/// <param name="IndexedPaths">Paths such as <c>status</c> or <c>meta.size</c> that get an index (SQLite)
/// or stay in the indexing policy (Cosmos). Everything else is still queryable, only slower.</param>
/// <param name="CompositeIndexes">Groups of paths filtered on together by equality (e.g. <c>["dir", "type"]</c>) that get
/// one index over all of them (SQLite), so a query naming every path of a group reads only its matches. Cosmos indexes
/// every path and intersects them itself; it needs nothing for these.</param>
/// <param name="ElementIndexedPaths">Paths holding arrays of strings (e.g. <c>tags</c>) whose elements get an index
/// (SQLite: a table of (partition, element, id) kept in each write's transaction), so <see cref="Filter.HasElement"/> on them reads
/// only the documents holding the element. Cosmos indexes array elements by default.</param>
public sealed record ContainerSpec(
    string Name,
    IReadOnlyList<string> IndexedPaths,
    IReadOnlyList<IReadOnlyList<string>>? CompositeIndexes = null,
    IReadOnlyList<string>? ElementIndexedPaths = null)
{
    public ContainerSpec(string name) : this(name, []) { }
}

/// <summary>A document as stored: body (with <c>id</c> and <c>pk</c>), and its version tag.</summary>
public sealed record StoredDocument(string PartitionKey, string Id, JsonObject Body, string ETag);

/// <summary>A partial update; paths use dots (<c>stats.count</c>), like filter paths.</summary>
public sealed record PatchOperation(PatchKind Kind, string Path, JsonNode? Value = null)
{
    public static PatchOperation Set(string path, JsonNode? value) => new(PatchKind.Set, path, value);
    public static PatchOperation Remove(string path) => new(PatchKind.Remove, path);
    public static PatchOperation Increment(string path, long by) => new(PatchKind.Increment, path, JsonValue.Create(by));
}

public enum PatchKind
{
    /// <summary>Sets the value, creating the path's last segment if missing.</summary>
    Set,
    /// <summary>Removes the field; fails if it is absent.</summary>
    Remove,
    /// <summary>Adds a number to a numeric field (missing counts as 0).</summary>
    Increment,
}

/// <summary>One write inside an atomic batch.</summary>
/// <param name="Kind">What the operation does.</param>
/// <param name="Id">The document's id.</param>
/// <param name="Body">The whole document for create, upsert and replace.</param>
/// <param name="IfMatch">When set, the operation applies only to this version (ETag).</param>
/// <param name="Patch">The partial updates of a <see cref="BatchKind.Patch"/> (at most 10, as in <see cref="IDocumentContainer.PatchAsync"/>).</param>
/// <param name="Utf8Body">Instead of <paramref name="Body"/>: the document already serialized (see <see cref="CreateRaw"/>, <see cref="UpsertRaw"/>, <see cref="ReplaceRaw"/>).</param>
/// <param name="WithoutResult">The batch's result for this operation is null (see <see cref="PatchWithoutResult"/>).</param>
public sealed record BatchOperation(BatchKind Kind, string Id, JsonObject? Body = null, string? IfMatch = null, IReadOnlyList<PatchOperation>? Patch = null, byte[]? Utf8Body = null, bool WithoutResult = false)
{
    /// <summary>
    /// Partial update of an existing document inside the batch: counters incremented this way need no
    /// read and no ETag, so concurrent writers of one counter never conflict.
    /// </summary>
    public static BatchOperation PatchOf(string id, IReadOnlyList<PatchOperation> operations, string? ifMatch = null) => new(BatchKind.Patch, id, null, ifMatch, operations);

    /// <summary>
    /// <see cref="PatchOf"/> whose result in the batch is null: the store need not hand the patched document back, so
    /// the SQLite store applies sets and removes of unindexed fields inside SQLite without reading the document into
    /// the process (a status mirrored onto a hundred thousand items). Same rules and errors as <see cref="PatchOf"/>.
    /// </summary>
    public static BatchOperation PatchWithoutResult(string id, IReadOnlyList<PatchOperation> operations, string? ifMatch = null) =>
        new(BatchKind.Patch, id, null, ifMatch, operations, WithoutResult: true);

    public static BatchOperation Create(string id, JsonObject body) => new(BatchKind.Create, id, body);

    /// <summary>
    /// Create from a body the caller serialized: a UTF-8 JSON object that already holds <c>id</c> and <c>pk</c> (the
    /// operation's id and the batch's partition key; <see cref="DocumentRules.ValidateRaw"/> checks them). Bulk writers
    /// build thousands of documents per call, and a <see cref="JsonObject"/> per document, copied and serialized again by
    /// the adapter, cost more than the insert. The batch's result for this operation is null: the caller has the body.
    /// </summary>
    public static BatchOperation CreateRaw(string id, byte[] utf8Body) => new(BatchKind.Create, id, Utf8Body: utf8Body);

    /// <summary>Upsert from a body the caller serialized (as for <see cref="CreateRaw"/>); the batch's result for it is null.</summary>
    public static BatchOperation UpsertRaw(string id, byte[] utf8Body, string? ifMatch = null) => new(BatchKind.Upsert, id, IfMatch: ifMatch, Utf8Body: utf8Body);

    /// <summary>Replace with a body the caller serialized (as for <see cref="CreateRaw"/>); the batch's result for it is null.</summary>
    public static BatchOperation ReplaceRaw(string id, byte[] utf8Body, string? ifMatch = null) => new(BatchKind.Replace, id, IfMatch: ifMatch, Utf8Body: utf8Body);
    public static BatchOperation Upsert(string id, JsonObject body, string? ifMatch = null) => new(BatchKind.Upsert, id, body, ifMatch);
    public static BatchOperation Replace(string id, JsonObject body, string? ifMatch = null) => new(BatchKind.Replace, id, body, ifMatch);
    public static BatchOperation Delete(string id, string? ifMatch = null) => new(BatchKind.Delete, id, null, ifMatch);
}

public enum BatchKind
{
    Create,
    Upsert,
    Replace,
    Delete,

    /// <summary>Partial update of an existing document (<see cref="BatchOperation.Patch"/>).</summary>
    Patch,
}

/// <summary>A count for one distinct value of a grouped field.</summary>
public sealed record GroupCount(JsonNode? Value, long Count);

/// <summary>Limits shared by every adapter, set to Cosmos DB's so that both behave alike.</summary>
public static class DocumentLimits
{
    /// <summary>Largest serialized document (Cosmos DB: 2 MB).</summary>
    public const int MaxDocumentBytes = 2 * 1024 * 1024;

    /// <summary>Longest id or partition key (Cosmos DB: 255 characters for ids; we apply it to both).</summary>
    public const int MaxKeyLength = 255;

    /// <summary>Operations in one atomic batch (Cosmos DB transactional batch: 100).</summary>
    public const int MaxBatchOperations = 100;

    /// <summary>Operations in one patch (Cosmos DB: 10).</summary>
    public const int MaxPatchOperations = 10;

    /// <summary>Largest page a query may ask for.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>Deepest and/or nesting a filter may have.</summary>
    public const int MaxFilterDepth = 8;
}
