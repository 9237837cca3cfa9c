using System.Text.Json.Nodes;

namespace Serverless.Core.Storage.Documents;

/// <summary>
/// The document store port: JSON documents in named containers, each document addressed by a
/// partition key and an id. Adapters: SQLite (embedded default) and Cosmos DB (production).
/// </summary>
/// <remarks>
/// Every write returns the new ETag; passing it back as <c>ifMatch</c> makes the write conditional
/// (optimistic concurrency). Errors are the typed exceptions in <see cref="DocumentStoreException"/>'s
/// family, never adapter-specific ones. The store writes the system fields <c>id</c> and <c>pk</c>
/// into each body so that filters can use them like any other field.
/// </remarks>
public interface IDocumentStore
{
    /// <summary>Creates the container if it does not exist (idempotent). Call once at start-up.</summary>
    Task EnsureContainerAsync(ContainerSpec spec, CancellationToken cancellationToken = default);

    /// <summary>A handle on a container that <see cref="EnsureContainerAsync"/> created.</summary>
    IDocumentContainer Container(string name);

    /// <summary>Checks the store answers; used by the health endpoint.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken = default);
}

/// <summary>Operations on one container. Thread-safe.</summary>
public interface IDocumentContainer
{
    string Name { get; }

    /// <summary>Returns the document, or null when it does not exist.</summary>
    Task<StoredDocument?> ReadAsync(string partitionKey, string id, CancellationToken cancellationToken = default);

    /// <summary>Creates a new document. Throws <see cref="DocumentConflictException"/> if the id is taken.</summary>
    Task<StoredDocument> CreateAsync(string partitionKey, string id, JsonObject body, CancellationToken cancellationToken = default);

    /// <summary>Replaces an existing document. Throws <see cref="DocumentNotFoundException"/> or
    /// <see cref="DocumentPreconditionFailedException"/> when <paramref name="ifMatch"/> is stale.</summary>
    Task<StoredDocument> ReplaceAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default);

    /// <summary>Creates or replaces. With <paramref name="ifMatch"/> it only replaces that version.</summary>
    Task<StoredDocument> UpsertAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes a document. Throws <see cref="DocumentNotFoundException"/> when absent.</summary>
    Task DeleteAsync(string partitionKey, string id, string? ifMatch = null, CancellationToken cancellationToken = default);

    /// <summary>Applies partial updates atomically (at most 10 operations, as in Cosmos DB).</summary>
    Task<StoredDocument> PatchAsync(string partitionKey, string id, IReadOnlyList<PatchOperation> operations, string? ifMatch = null, CancellationToken cancellationToken = default);

    /// <summary>One page of documents matching the query.</summary>
    Task<QueryPage> QueryAsync(DocumentQuery query, CancellationToken cancellationToken = default);

    /// <summary>Counts documents matching <paramref name="where"/> (all when null).</summary>
    Task<long> CountAsync(string? partitionKey, Filter? where, CancellationToken cancellationToken = default);

    /// <summary>Counts documents per distinct value of <paramref name="groupByPath"/> (missing values group under null).</summary>
    Task<IReadOnlyList<GroupCount>> CountByAsync(string? partitionKey, Filter? where, string groupByPath, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs up to <see cref="DocumentLimits.MaxBatchOperations"/> writes in one partition atomically:
    /// all succeed or none is applied (Cosmos transactional batch; one SQLite transaction).
    /// Throws <see cref="DocumentBatchFailedException"/> naming the failing operation.
    /// </summary>
    Task<IReadOnlyList<StoredDocument?>> ExecuteBatchAsync(string partitionKey, IReadOnlyList<BatchOperation> operations, CancellationToken cancellationToken = default);
}
