namespace Serverless.Core.Storage.Documents;

/// <summary>Base of the document store's typed errors; adapters translate their own errors into these.</summary>
public abstract class DocumentStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The document (or container) does not exist.</summary>
public sealed class DocumentNotFoundException(string container, string partitionKey, string id)
    : DocumentStoreException($"Document '{id}' in partition '{partitionKey}' of container '{container}' does not exist.");

/// <summary>A document with this id already exists in the partition.</summary>
public sealed class DocumentConflictException(string container, string partitionKey, string id)
    : DocumentStoreException($"Document '{id}' already exists in partition '{partitionKey}' of container '{container}'.");

/// <summary>The document changed since the caller read it (ETag mismatch).</summary>
public sealed class DocumentPreconditionFailedException(string container, string partitionKey, string id)
    : DocumentStoreException($"Document '{id}' in partition '{partitionKey}' of container '{container}' was changed by another writer (ETag mismatch).");

/// <summary>The input is not acceptable: bad id, oversized body, bad patch path, too many operations.</summary>
public sealed class InvalidDocumentException(string message) : DocumentStoreException(message);

/// <summary>The query is not acceptable: bad path, non-scalar value, malformed continuation token, depth.</summary>
public sealed class InvalidQueryException(string message, string? path = null) : DocumentStoreException(message)
{
    /// <summary>The offending filter path or parameter, when known.</summary>
    public string? Path { get; } = path;
}

/// <summary>An atomic batch was rejected; nothing of it was applied.</summary>
public sealed class DocumentBatchFailedException(int operationIndex, DocumentStoreException cause)
    : DocumentStoreException($"Batch operation {operationIndex} failed, so no operation of the batch was applied: {cause.Message}", cause)
{
    public int OperationIndex { get; } = operationIndex;
}

/// <summary>The store could not be reached or failed unexpectedly; the operation may be retried.</summary>
public sealed class DocumentStoreUnavailableException(string message, Exception? inner = null) : DocumentStoreException(message, inner);
