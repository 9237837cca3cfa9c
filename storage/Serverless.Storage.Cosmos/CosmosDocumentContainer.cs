using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using Microsoft.Extensions.Logging;
using Serverless.Core.Storage.Documents;
using CosmosPatch = Microsoft.Azure.Cosmos.PatchOperation;
using PortPatch = Serverless.Core.Storage.Documents.PatchOperation;

namespace Serverless.Storage.Cosmos;

/// <summary>One Cosmos container behind the port's <see cref="IDocumentContainer"/>.</summary>
internal sealed class CosmosDocumentContainer(Container container, ILogger logger) : IDocumentContainer
{
    /// <summary>Properties Cosmos adds to every stored body; the port's bodies do not carry them.</summary>
    private static readonly string[] SystemProperties = ["_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"];

    public string Name => container.Id;

    public async Task<StoredDocument?> ReadAsync(string partitionKey, string id, CancellationToken cancellationToken = default)
    {
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        using var response = await Send(
            () => container.ReadItemStreamAsync(id, new PartitionKey(partitionKey), cancellationToken: cancellationToken),
            "Read", partitionKey, id, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        EnsureSuccess(response, partitionKey, id);
        return await ToStoredDocumentAsync(response, partitionKey, id, cancellationToken).ConfigureAwait(false);
    }

    public async Task<StoredDocument> CreateAsync(string partitionKey, string id, JsonObject body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var bytes = DocumentRules.Serialize(partitionKey, id, body);
        using var stream = new MemoryStream(bytes, writable: false);
        using var response = await Send(
            () => container.CreateItemStreamAsync(stream, new PartitionKey(partitionKey), NoContent(null), cancellationToken),
            "Create", partitionKey, id, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, partitionKey, id);
        return Stored(partitionKey, id, bytes, response.Headers.ETag);
    }

    public async Task<StoredDocument> ReplaceAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var bytes = DocumentRules.Serialize(partitionKey, id, body);
        return await ReplaceBytesAsync(partitionKey, id, bytes, ifMatch, "Replace", cancellationToken).ConfigureAwait(false);
    }

    public async Task<StoredDocument> UpsertAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var bytes = DocumentRules.Serialize(partitionKey, id, body);
        if (ifMatch is not null)
        {
            // With an ETag the caller means "replace the version I read": if the document is gone,
            // that version no longer exists, which is a failed precondition, not a create.
            try
            {
                return await ReplaceBytesAsync(partitionKey, id, bytes, ifMatch, "Upsert", cancellationToken).ConfigureAwait(false);
            }
            catch (DocumentNotFoundException)
            {
                throw new DocumentPreconditionFailedException(Name, partitionKey, id);
            }
        }

        using var stream = new MemoryStream(bytes, writable: false);
        using var response = await Send(
            () => container.UpsertItemStreamAsync(stream, new PartitionKey(partitionKey), NoContent(null), cancellationToken),
            "Upsert", partitionKey, id, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, partitionKey, id);
        return Stored(partitionKey, id, bytes, response.Headers.ETag);
    }

    public async Task DeleteAsync(string partitionKey, string id, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        using var response = await Send(
            () => container.DeleteItemStreamAsync(id, new PartitionKey(partitionKey), NoContent(ifMatch), cancellationToken),
            "Delete", partitionKey, id, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, partitionKey, id);
    }

    public async Task<StoredDocument> PatchAsync(string partitionKey, string id, IReadOnlyList<PortPatch> operations, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        var cosmosOperations = ToCosmosPatch(operations);
        var options = new PatchItemRequestOptions { IfMatchEtag = ifMatch };
        using var response = await Send(
            () => container.PatchItemStreamAsync(id, new PartitionKey(partitionKey), cosmosOperations, options, cancellationToken),
            "Patch", partitionKey, id, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, partitionKey, id);
        return await ToStoredDocumentAsync(response, partitionKey, id, cancellationToken).ConfigureAwait(false);
    }

    public async Task<QueryPage> QueryAsync(DocumentQuery query, CancellationToken cancellationToken = default)
    {
        var definition = CosmosQueryCompiler.CompileSelect(query);
        var shape = CosmosQueryCompiler.ShapeHash(definition, query.PartitionKey);
        var cosmosToken = query.ContinuationToken is null ? null : ContinuationToken.Unwrap(query.ContinuationToken, shape);
        var items = new List<StoredDocument>(Math.Min(query.PageSize, 128));

        // Cosmos may return short (even empty) pages with a continuation; keep reading until the
        // page is full or the results end, so callers get full pages like from SQLite.
        do
        {
            var options = new QueryRequestOptions { MaxItemCount = query.PageSize - items.Count, EnableOptimisticDirectExecution = true };
            if (query.PartitionKey is not null)
            {
                options.PartitionKey = new PartitionKey(query.PartitionKey);
            }

            using var iterator = container.GetItemQueryStreamIterator(definition, cosmosToken, options);
            using var response = await Send(() => iterator.ReadNextAsync(cancellationToken), "Query", query.PartitionKey ?? "*", string.Empty, cancellationToken).ConfigureAwait(false);
            EnsureQuerySuccess(response);
            foreach (var node in await ReadDocumentsAsync(response, cancellationToken).ConfigureAwait(false))
            {
                if (node is JsonObject body)
                {
                    items.Add(FromBody(body));
                }
            }

            cosmosToken = response.ContinuationToken;
        }
        while (cosmosToken is not null && items.Count < query.PageSize);

        return new QueryPage(items, cosmosToken is null ? null : ContinuationToken.Wrap(cosmosToken, shape));
    }

    public async Task<long> CountAsync(string? partitionKey, Filter? where, CancellationToken cancellationToken = default)
    {
        if (partitionKey is not null)
        {
            DocumentRules.ValidateKey(partitionKey, "partition key");
        }

        var definition = CosmosQueryCompiler.CompileCount(partitionKey, where);
        long total = 0;
        await foreach (var node in RunToEndAsync(definition, partitionKey, "Count", cancellationToken).ConfigureAwait(false))
        {
            total += node?.GetValue<long>() ?? 0;
        }

        return total;
    }

    public async Task<IReadOnlyList<GroupCount>> CountByAsync(string? partitionKey, Filter? where, string groupByPath, CancellationToken cancellationToken = default)
    {
        if (partitionKey is not null)
        {
            DocumentRules.ValidateKey(partitionKey, "partition key");
        }

        var definition = CosmosQueryCompiler.CompileCountBy(partitionKey, where, groupByPath);

        // Missing and null values are separate groups in Cosmos; the port folds both under null.
        var groups = new Dictionary<string, (JsonNode? Value, long Count)>(StringComparer.Ordinal);
        await foreach (var node in RunToEndAsync(definition, partitionKey, "CountBy", cancellationToken).ConfigureAwait(false))
        {
            if (node is not JsonObject row)
            {
                continue;
            }

            var value = row["v"]?.DeepClone();
            var key = value?.ToJsonString() ?? "null";
            var count = row["n"]?.GetValue<long>() ?? 0;
            groups[key] = groups.TryGetValue(key, out var existing) ? (existing.Value, existing.Count + count) : (value, count);
        }

        return groups.OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new GroupCount(g.Value.Value, g.Value.Count)).ToList();
    }

    public async Task<IReadOnlyList<StoredDocument?>> ExecuteBatchAsync(string partitionKey, IReadOnlyList<BatchOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        DocumentRules.ValidateKey(partitionKey, "partition key");
        if (operations.Count is 0 or > DocumentLimits.MaxBatchOperations)
        {
            throw new InvalidDocumentException($"A batch holds 1 to {DocumentLimits.MaxBatchOperations} operations; this one holds {operations.Count}.");
        }

        var batch = container.CreateTransactionalBatch(new PartitionKey(partitionKey));
        var bodies = new byte[]?[operations.Count];
        var streams = new List<MemoryStream>();
        try
        {
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                try
                {
                    ArgumentNullException.ThrowIfNull(op);
                    DocumentRules.ValidateKey(op.Id, "document id");
                    if (op.Kind is BatchKind.Create or BatchKind.Upsert or BatchKind.Replace && op.Utf8Body is { } utf8)
                    {
                        DocumentRules.ValidateRaw(partitionKey, op.Id, utf8);
                        bodies[i] = utf8;
                    }
                    else if (op.Kind is not (BatchKind.Delete or BatchKind.Patch))
                    {
                        bodies[i] = DocumentRules.Serialize(partitionKey, op.Id, op.Body ?? throw new InvalidDocumentException($"Batch operation {op.Kind} on '{op.Id}' needs a body."));
                    }
                }
                catch (DocumentStoreException ex)
                {
                    throw new DocumentBatchFailedException(i, ex);
                }

                var itemOptions = new TransactionalBatchItemRequestOptions { IfMatchEtag = op.IfMatch };
                MemoryStream Body()
                {
                    var s = new MemoryStream(bodies[i]!, writable: false);
                    streams.Add(s);
                    return s;
                }

                batch = op.Kind switch
                {
                    BatchKind.Create => batch.CreateItemStream(Body(), itemOptions),
                    BatchKind.Upsert => batch.UpsertItemStream(Body(), itemOptions),
                    BatchKind.Replace => batch.ReplaceItemStream(op.Id, Body(), itemOptions),
                    BatchKind.Delete => batch.DeleteItem(op.Id, itemOptions),
                    BatchKind.Patch => batch.PatchItem(op.Id, ToCosmosPatch(op.Patch ?? throw new DocumentBatchFailedException(i, new InvalidDocumentException($"Batch operation Patch on '{op.Id}' needs its operations."))), new TransactionalBatchPatchItemRequestOptions { IfMatchEtag = op.IfMatch }),
                    _ => throw new DocumentBatchFailedException(i, new InvalidDocumentException($"Unknown batch operation {op.Kind}.")),
                };
            }

            using var response = await CosmosDocumentStore.Guard(
                () => batch.ExecuteAsync(cancellationToken), Name, partitionKey, string.Empty, cancellationToken).ConfigureAwait(false);
            CosmosLog.RequestCharge(logger, "Batch", Name, partitionKey, string.Empty, response.RequestCharge);
            if (!response.IsSuccessStatusCode)
            {
                throw BatchFailure(response, operations, partitionKey);
            }

            var results = new StoredDocument?[operations.Count];
            for (var i = 0; i < operations.Count; i++)
            {
                // A raw write's result is null (see BatchOperation.CreateRaw), like a delete's.
                results[i] = bodies[i] is { } bytes && operations[i].Utf8Body is null
                    ? Stored(partitionKey, operations[i].Id, bytes, response[i].ETag)
                    : operations[i].Kind == BatchKind.Patch && !operations[i].WithoutResult && response[i].ResourceStream is { } patched
                        ? FromBody((JsonObject)(await JsonNode.ParseAsync(patched, cancellationToken: cancellationToken).ConfigureAwait(false))!)
                        : null;
            }

            return results;
        }
        finally
        {
            streams.ForEach(s => s.Dispose());
        }
    }

    private DocumentStoreException BatchFailure(TransactionalBatchResponse response, IReadOnlyList<BatchOperation> operations, string partitionKey)
    {
        for (var i = 0; i < response.Count && i < operations.Count; i++)
        {
            var status = response[i].StatusCode;
            if ((int)status >= 400 && status != HttpStatusCode.FailedDependency)
            {
                var cause = CosmosErrors.Map(status, response.ErrorMessage, Name, partitionKey, operations[i].Id);
                return cause is DocumentStoreUnavailableException ? cause : new DocumentBatchFailedException(i, cause);
            }
        }

        return CosmosErrors.Map(response.StatusCode, response.ErrorMessage, Name, partitionKey, "(batch)");
    }

    private async Task<StoredDocument> ReplaceBytesAsync(string partitionKey, string id, byte[] bytes, string? ifMatch, string operation, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        using var response = await Send(
            () => container.ReplaceItemStreamAsync(stream, id, new PartitionKey(partitionKey), NoContent(ifMatch), cancellationToken),
            operation, partitionKey, id, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, partitionKey, id);
        return Stored(partitionKey, id, bytes, response.Headers.ETag);
    }

    private async IAsyncEnumerable<JsonNode?> RunToEndAsync(QueryDefinition definition, string? partitionKey, string operation, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var options = new QueryRequestOptions { EnableOptimisticDirectExecution = true };
        if (partitionKey is not null)
        {
            options.PartitionKey = new PartitionKey(partitionKey);
        }

        using var iterator = container.GetItemQueryStreamIterator(definition, continuationToken: null, options);
        while (iterator.HasMoreResults)
        {
            using var response = await Send(() => iterator.ReadNextAsync(cancellationToken), operation, partitionKey ?? "*", string.Empty, cancellationToken).ConfigureAwait(false);
            EnsureQuerySuccess(response);
            foreach (var node in await ReadDocumentsAsync(response, cancellationToken).ConfigureAwait(false))
            {
                yield return node;
            }
        }
    }

    private static async Task<JsonArray> ReadDocumentsAsync(ResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content is null)
        {
            return [];
        }

        var envelope = await JsonNode.ParseAsync(response.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
        return envelope?["Documents"] as JsonArray ?? [];
    }

    private static List<CosmosPatch> ToCosmosPatch(IReadOnlyList<PortPatch> operations)
    {
        if (operations.Count is 0 or > DocumentLimits.MaxPatchOperations)
        {
            throw new InvalidDocumentException($"A patch holds 1 to {DocumentLimits.MaxPatchOperations} operations; this one holds {operations.Count}.");
        }

        var result = new List<CosmosPatch>(operations.Count);
        foreach (var op in operations)
        {
            ArgumentNullException.ThrowIfNull(op);
            try
            {
                DocumentRules.ValidatePath(op.Path);
            }
            catch (InvalidQueryException ex)
            {
                throw new InvalidDocumentException($"Patch path is invalid: {ex.Message}");
            }

            if (op.Path is "id" or "pk")
            {
                throw new InvalidDocumentException($"Patch cannot change the system field '{op.Path}'.");
            }

            var path = "/" + op.Path.Replace('.', '/');
            result.Add(op.Kind switch
            {
                PatchKind.Set => CosmosPatch.Set(path, op.Value?.DeepClone()),
                PatchKind.Remove => CosmosPatch.Remove(path),
                PatchKind.Increment => CosmosPatch.Increment(path, IncrementBy(op)),
                _ => throw new InvalidDocumentException($"Unknown patch operation {op.Kind}."),
            });
        }

        return result;
    }

    private static long IncrementBy(PortPatch op)
    {
        if (op.Value is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var by))
        {
            return by;
        }

        if (op.Value is JsonValue element && element.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var fromElement))
        {
            return fromElement;
        }

        throw new InvalidDocumentException($"Increment of '{op.Path}' needs an integer value.");
    }

    private async Task<ResponseMessage> Send(Func<Task<ResponseMessage>> call, string operation, string partitionKey, string id, CancellationToken cancellationToken)
    {
        var response = await CosmosDocumentStore.Guard(call, Name, partitionKey, id, cancellationToken).ConfigureAwait(false);
        CosmosLog.RequestCharge(logger, operation, Name, partitionKey, id, response.Headers.RequestCharge);
        return response;
    }

    private void EnsureSuccess(ResponseMessage response, string partitionKey, string id)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw CosmosErrors.Map(response.StatusCode, response.ErrorMessage, Name, partitionKey, id);
        }
    }

    private void EnsureQuerySuccess(ResponseMessage response)
    {
        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            throw new InvalidQueryException($"Cosmos DB rejected the query on container '{Name}': {ErrorDetail(response.ErrorMessage)}");
        }

        EnsureSuccess(response, "*", string.Empty);
    }

    /// <summary>The SDK puts the server's own message after a line of status text; keep the message.</summary>
    private static string ErrorDetail(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return "no details";
        }

        var marker = message.IndexOf("message", StringComparison.OrdinalIgnoreCase);
        var detail = marker >= 0 ? message[marker..] : message;
        detail = detail.Split('\n', 2)[0].Trim();
        return detail.Length > 300 ? detail[..300] : detail;
    }

    private static ItemRequestOptions NoContent(string? ifMatch) =>
        new() { IfMatchEtag = ifMatch, EnableContentResponseOnWrite = false };

    private static StoredDocument Stored(string partitionKey, string id, byte[] bytes, string etag) =>
        new(partitionKey, id, (JsonObject)JsonNode.Parse(bytes)!, etag);

    private async Task<StoredDocument> ToStoredDocumentAsync(ResponseMessage response, string partitionKey, string id, CancellationToken cancellationToken)
    {
        var node = await JsonNode.ParseAsync(response.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (node is not JsonObject body)
        {
            throw new DocumentStoreUnavailableException($"Cosmos DB returned no document body for '{id}' in partition '{partitionKey}' of container '{Name}'.");
        }

        var stored = FromBody(body);
        return response.Headers.ETag is { Length: > 0 } etag ? stored with { ETag = etag } : stored;
    }

    private static StoredDocument FromBody(JsonObject body)
    {
        var etag = body["_etag"]?.GetValue<string>() ?? string.Empty;
        foreach (var name in SystemProperties)
        {
            body.Remove(name);
        }

        return new StoredDocument(body["pk"]?.GetValue<string>() ?? string.Empty, body["id"]?.GetValue<string>() ?? string.Empty, body, etag);
    }

    /// <summary>Our continuation token: the Cosmos token plus the shape hash of the query it belongs to.</summary>
    private static class ContinuationToken
    {
        public static string Wrap(string cosmosToken, string shape)
        {
            var json = new JsonObject { ["v"] = 1, ["h"] = shape, ["c"] = cosmosToken }.ToJsonString();
            return Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }

        public static string Unwrap(string token, string shape)
        {
            try
            {
                var base64 = token.Replace('-', '+').Replace('_', '/');
                base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
                var node = JsonNode.Parse(Convert.FromBase64String(base64)) as JsonObject;
                if (node?["v"]?.GetValue<int>() == 1 && node["c"]?.GetValue<string>() is { } inner)
                {
                    if (node["h"]?.GetValue<string>() != shape)
                    {
                        throw new InvalidQueryException("The continuation token belongs to a different query.", "continuationToken");
                    }

                    return inner;
                }
            }
            catch (Exception ex) when (ex is FormatException or JsonException or InvalidOperationException)
            {
                throw new InvalidQueryException("The continuation token is malformed.", "continuationToken");
            }

            throw new InvalidQueryException("The continuation token is malformed.", "continuationToken");
        }
    }
}
