using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>One container: a table (pk, id, etag, body, key columns) with PRIMARY KEY (pk, id); see <see cref="SqliteFields"/> for the keys.</summary>
internal sealed class SqliteDocumentContainer : IDocumentContainer, IRawDocumentQuery
{
    private readonly SqliteDocumentStore _store;
    private readonly string _readSql;
    private readonly string _etagSql;
    private readonly string _deleteSql;

    // ETags: a random per-instance prefix and a counter are unique across writers and restarts
    // without the cost of a GUID per write.
    private readonly string _etagPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private long _etagCounter;

    public SqliteDocumentContainer(SqliteDocumentStore store, string name, SqliteFields fields)
    {
        _store = store;
        Name = name;
        Fields = fields;
        var table = SqliteSql.Table(name);
        _readSql = $"SELECT etag, {SqliteSql.BodyOut} FROM {table} WHERE pk = @p0 AND id = @p1";
        _etagSql = $"SELECT etag FROM {table} WHERE pk = @p0 AND id = @p1";
        _deleteSql = $"DELETE FROM {table} WHERE pk = @p0 AND id = @p1 AND (@p2 IS NULL OR etag = @p2)";
    }

    public string Name { get; }

    /// <summary>How SQL reads this container's fields; replaced when the container's indexes change.</summary>
    public SqliteFields Fields { get; set; }

    public Task<StoredDocument?> ReadAsync(string partitionKey, string id, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        return Task.FromResult(_store.Read(session => ReadRow(session, partitionKey, id)));
    }

    public async Task<StoredDocument> CreateAsync(string partitionKey, string id, JsonObject body, CancellationToken cancellationToken = default)
    {
        var write = Prepare(partitionKey, id, body);
        return (await _store.WriteAsync(s => Apply(s, BatchKind.Create, partitionKey, id, write, null), cancellationToken, singleStatement: !write.HoldsElements))!;
    }

    public async Task<StoredDocument> ReplaceAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        var write = Prepare(partitionKey, id, body);
        return (await _store.WriteAsync(s => Apply(s, BatchKind.Replace, partitionKey, id, write, ifMatch), cancellationToken, SingleStatement(write.Fields)))!;
    }

    /// <remarks>With <paramref name="ifMatch"/>, a document that no longer exists fails with
    /// <see cref="DocumentPreconditionFailedException"/>: the version the caller read is gone.</remarks>
    public async Task<StoredDocument> UpsertAsync(string partitionKey, string id, JsonObject body, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        var write = Prepare(partitionKey, id, body);
        return (await _store.WriteAsync(s => Apply(s, BatchKind.Upsert, partitionKey, id, write, ifMatch), cancellationToken, SingleStatement(write.Fields)))!;
    }

    public async Task DeleteAsync(string partitionKey, string id, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        await _store.WriteAsync(s => Apply(s, BatchKind.Delete, partitionKey, id, null, ifMatch), cancellationToken, SingleStatement(Fields));
    }

    /// <summary>
    /// Whether a replace, upsert or delete writes with one statement: not when the container has element indexes, whose
    /// entries it removes first (in a transaction, so that a write that then fails leaves them).
    /// </summary>
    private static bool SingleStatement(SqliteFields fields) => fields.ElementPaths.Count == 0;

    public async Task<StoredDocument> PatchAsync(string partitionKey, string id, IReadOnlyList<PatchOperation> operations, string? ifMatch = null, CancellationToken cancellationToken = default)
    {
        DocumentRules.ValidateKey(partitionKey, "partition key");
        DocumentRules.ValidateKey(id, "document id");
        SqlitePatch.Validate(operations);
        return (await _store.WriteAsync(
            session => ApplyPatch(session, partitionKey, id, operations, ifMatch),
            cancellationToken))!;
    }

    /// <summary>
    /// Read-modify-write of one document; atomic because the store runs each write in a transaction (or savepoint). A
    /// patch whose result is not wanted and that SQL can apply comes with its statement (<paramref name="inSql"/>, built by
    /// <see cref="SqlitePatch.InSql"/> before the write lock), which is tried first; the result is then null.
    /// </summary>
    private StoredDocument? ApplyPatch(SqliteSession session, string partitionKey, string id, IReadOnlyList<PatchOperation> operations, string? ifMatch, bool withoutResult = false, PatchStatement? inSql = null)
    {
        if (inSql is { } patch)
        {
            var statement = RowWrite(session, patch.Sql, partitionKey, id, NewETag(), ifMatch);
            for (var i = 0; i < patch.Values.Count; i++)
            {
                statement.BindValue(i, patch.Values[i]);
            }

            if (statement.Execute() == 1)
            {
                return null;
            }
        }

        var current = ReadRow(session, partitionKey, id) ?? throw new DocumentNotFoundException(Name, partitionKey, id);
        if (ifMatch is not null && ifMatch != current.ETag)
        {
            throw new DocumentPreconditionFailedException(Name, partitionKey, id);
        }

        var body = current.Body;
        SqlitePatch.Apply(body, operations);
        var patched = Apply(session, BatchKind.Replace, partitionKey, id, Prepared(body, DocumentRules.Serialize(partitionKey, id, body)), null)!;
        return withoutResult ? null : patched;
    }

    public Task<QueryPage> QueryAsync(DocumentQuery query, CancellationToken cancellationToken = default)
    {
        var (items, token) = ReadPage(query, reader => new StoredDocument(reader.GetString(1), reader.GetString(0), ParseBody(reader, 3), reader.GetString(2)), cancellationToken);
        return Task.FromResult(new QueryPage(items, token));
    }

    public Task<RawQueryPage> QueryRawAsync(DocumentQuery query, CancellationToken cancellationToken = default)
    {
        var (items, token) = ReadPage(query, reader => new RawDocument(reader.GetString(0), reader.GetFieldValue<byte[]>(3)), cancellationToken);
        return Task.FromResult(new RawQueryPage(items, token));
    }

    /// <summary>One page of <paramref name="query"/>, each row as <paramref name="row"/> makes it, and the next page's token.</summary>
    private (List<T> Items, string? Token) ReadPage<T>(DocumentQuery query, Func<SqliteDataReader, T> row, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        QueryRules.Validate(query);
        return _store.Read(session =>
        {
            var page = SqliteQueryBuilder.BuildPage(Name, Fields, query, ElementReadFor(session, query));
            var command = session.Command(page.Sql);
            page.Parameters.BindTo(command);
            using var reader = command.ExecuteReader();
            var items = new List<T>(Math.Min(query.PageSize, 128));
            string? lastToken = null;
            while (items.Count < query.PageSize && reader.Read())
            {
                items.Add(row(reader));
                if (items.Count == query.PageSize)
                {
                    lastToken = SqliteQueryBuilder.EncodeToken(page, reader);
                }
            }

            // The query asks for one row more than the page: only when it exists is there a next page.
            return (items, lastToken is not null && reader.Read() ? lastToken : null);
        });
    }

    /// <summary>
    /// How a page reads the element index when its filter requires elements (see <see cref="SqliteQueryBuilder.ElementConditions"/>),
    /// by how many documents of the partition hold the scarcest one: at most <see cref="SqliteElementIndex.DriveLimit"/>,
    /// from its holders; at most <see cref="SqliteElementIndex.HeldByLimit"/>, narrowed to its holders; else null (the
    /// query walks its order and probes each row). Each count is one row of the element's counts.
    /// </summary>
    internal ElementRead? ElementReadFor(SqliteSession session, DocumentQuery query)
    {
        Comparison? scarcest = null;
        var fewest = long.MaxValue;
        foreach (var element in SqliteQueryBuilder.ElementConditions(Fields, query))
        {
            var count = session.Command(SqliteElementIndex.Holders(Name, element.Path));
            count.Parameters.AddWithValue("@p0", query.PartitionKey);
            count.Parameters.AddWithValue("@p1", SqliteFilterCompiler.Scalar(element.Value).Value);
            var holders = count.ExecuteScalar() is long n ? n : 0;
            if (holders < fewest)
            {
                (scarcest, fewest) = (element, holders);
            }
        }

        return scarcest is null || fewest > SqliteElementIndex.HeldByLimit ? null : new ElementRead(scarcest, Drives: fewest <= SqliteElementIndex.DriveLimit);
    }

    public Task<long> CountAsync(string? partitionKey, Filter? where, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ValidateCountInput(partitionKey, where);
        var parameters = new SqlParameters();
        var sql = new StringBuilder("SELECT count(*) FROM ").Append(SqliteSql.Table(Name));
        SqliteQueryBuilder.AppendWhere(sql, SqliteQueryBuilder.Conditions(partitionKey, where, Fields, parameters));
        return Task.FromResult(_store.Read(session =>
        {
            var command = session.Command(sql.ToString());
            parameters.BindTo(command);
            return (long)command.ExecuteScalar()!;
        }));
    }

    /// <remarks>Groups come in the sort order of their values (missing/null first, then numbers, strings,
    /// booleans, arrays/objects). Missing fields and JSON null share the null group.</remarks>
    public Task<IReadOnlyList<GroupCount>> CountByAsync(string? partitionKey, Filter? where, string groupByPath, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ValidateCountInput(partitionKey, where);
        DocumentRules.ValidatePath(groupByPath);
        var parameters = new SqlParameters();
        var sql = new StringBuilder("SELECT ").Append(SqliteFields.Type(groupByPath)).Append(" AS jt, ")
            .Append(Fields.Extract(groupByPath)).Append(" AS jv, count(*) FROM ").Append(SqliteSql.Table(Name));
        SqliteQueryBuilder.AppendWhere(sql, SqliteQueryBuilder.Conditions(partitionKey, where, Fields, parameters));
        sql.Append(" GROUP BY jt, jv ORDER BY CASE jt WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 ")
            .Append("WHEN 'true' THEN 4 WHEN 'false' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END, jv");
        return Task.FromResult(_store.Read<IReadOnlyList<GroupCount>>(session =>
        {
            var command = session.Command(sql.ToString());
            parameters.BindTo(command);
            using var reader = command.ExecuteReader();
            var groups = new List<GroupCount>();
            var byKey = new Dictionary<string, int>(StringComparer.Ordinal);
            while (reader.Read())
            {
                var value = GroupValue(reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetValue(1));
                var count = reader.GetInt64(2);
                var key = value?.ToJsonString() ?? "null";
                if (byKey.TryGetValue(key, out var index))
                {
                    groups[index] = groups[index] with { Count = groups[index].Count + count };
                }
                else
                {
                    byKey[key] = groups.Count;
                    groups.Add(new GroupCount(value, count));
                }
            }

            return groups;
        }));
    }

    public async Task<IReadOnlyList<StoredDocument?>> ExecuteBatchAsync(string partitionKey, IReadOnlyList<BatchOperation> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        DocumentRules.ValidateKey(partitionKey, "partition key");
        if (operations.Count > DocumentLimits.MaxBatchOperations)
        {
            throw new InvalidDocumentException($"A batch holds at most {DocumentLimits.MaxBatchOperations} operations; this one holds {operations.Count}.");
        }

        if (operations.Count == 0)
        {
            return [];
        }

        // Validation and serialization happen before the write lock is taken, so concurrent batches
        // only serialize on the SQL itself.
        var writes = new PreparedWrite?[operations.Count];
        var patches = new PatchStatement?[operations.Count];
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            try
            {
                ArgumentNullException.ThrowIfNull(op);
                DocumentRules.ValidateKey(op.Id, "document id");
                if (op.Kind == BatchKind.Patch)
                {
                    SqlitePatch.Validate(op.Patch ?? throw new InvalidDocumentException($"Batch operation Patch of '{op.Id}' needs its operations."));
                    patches[i] = op.WithoutResult ? SqlitePatch.InSql(Fields, op.Patch) : null;
                }
                else if (op.Kind is BatchKind.Create or BatchKind.Upsert or BatchKind.Replace && op.Utf8Body is { } utf8)
                {
                    DocumentRules.ValidateRaw(partitionKey, op.Id, utf8);
                    writes[i] = Prepared(null, utf8);
                }
                else if (op.Kind != BatchKind.Delete)
                {
                    writes[i] = Prepare(partitionKey, op.Id, op.Body ?? throw new InvalidDocumentException($"Batch operation {op.Kind} of '{op.Id}' needs a body."));
                }
            }
            catch (DocumentStoreException e)
            {
                throw new DocumentBatchFailedException(i, e);
            }
        }

        return await _store.WriteAsync<IReadOnlyList<StoredDocument?>>(
            session =>
            {
                // The store rolls the whole write back when it throws, so a failing operation undoes the earlier ones.
                var results = new StoredDocument?[operations.Count];
                for (var index = 0; index < operations.Count; index++)
                {
                    var op = operations[index];
                    try
                    {
                        results[index] = op.Kind == BatchKind.Patch
                            ? ApplyPatch(session, partitionKey, op.Id, op.Patch!, op.IfMatch, op.WithoutResult, patches[index])
                            : Apply(session, op.Kind, partitionKey, op.Id, writes[index], op.IfMatch);
                    }
                    catch (DocumentStoreException e)
                    {
                        throw new DocumentBatchFailedException(index, e);
                    }
                }

                return results;
            },
            cancellationToken);
    }

    private static void ValidateCountInput(string? partitionKey, Filter? where)
    {
        if (partitionKey is not null)
        {
            DocumentRules.ValidateKey(partitionKey, "partition key");
        }

        if (where is not null)
        {
            QueryRules.ValidateFilter(where);
        }
    }

    private static JsonNode? GroupValue(string? jsonType, object value) => jsonType switch
    {
        null or "null" => null,
        "true" => JsonValue.Create(true),
        "false" => JsonValue.Create(false),
        "integer" => JsonValue.Create((long)value),
        "real" => JsonValue.Create((double)value),
        "text" => JsonValue.Create((string)value),
        _ => JsonNode.Parse((string)value),
    };

    private static JsonObject ParseBody(SqliteDataReader reader, int ordinal)
    {
        var utf8 = reader.GetFieldValue<byte[]>(ordinal);
        return JsonNode.Parse(utf8)?.AsObject() ?? throw new DocumentStoreUnavailableException("A stored document body is not a JSON object.");
    }

    /// <summary>Applies one write on the writer session; throws the typed error when its condition fails.</summary>
    private StoredDocument? Apply(SqliteSession session, BatchKind kind, string partitionKey, string id, PreparedWrite? write, string? ifMatch)
    {
        switch (kind)
        {
            case BatchKind.Create:
                if (Execute(session, write!.Fields.InsertSql, partitionKey, id, write, null) == 0)
                {
                    throw new DocumentConflictException(Name, partitionKey, id);
                }

                AddElements(session, partitionKey, id, write);
                break;
            case BatchKind.Upsert when ifMatch is null:
                RemoveElements(session, partitionKey, id, write!.Fields);
                if (Execute(session, write.Fields.UpsertSameKeysSql, partitionKey, id, write, null) == 0)
                {
                    // The document exists with other keys.
                    UpdateKeys(session, partitionKey, id, write, null);
                }

                AddElements(session, partitionKey, id, write);
                break;
            case BatchKind.Upsert or BatchKind.Replace:
                // A failed write throws, which undoes the removal with it (the transaction or savepoint rolls back).
                RemoveElements(session, partitionKey, id, write!.Fields);
                if (Update(session, partitionKey, id, write, ifMatch) == 0)
                {
                    throw kind == BatchKind.Upsert ? new DocumentPreconditionFailedException(Name, partitionKey, id) : Missing(session, partitionKey, id);
                }

                AddElements(session, partitionKey, id, write);
                break;
            case BatchKind.Delete:
                RemoveElements(session, partitionKey, id, Fields);
                var command = session.Command(_deleteSql);
                command.Parameters.AddWithValue("@p0", partitionKey);
                command.Parameters.AddWithValue("@p1", id);
                command.Parameters.AddWithValue("@p2", (object?)ifMatch ?? DBNull.Value);
                if (command.ExecuteNonQuery() == 0)
                {
                    throw Missing(session, partitionKey, id);
                }

                return null;
            default:
                throw new InvalidDocumentException($"Unknown batch operation kind {kind}.");
        }

        // A raw write has no tree to return (see BatchOperation.CreateRaw).
        return write!.Body is { } body ? new StoredDocument(partitionKey, id, body, write.ETag) : null;
    }

    /// <summary>Adds the written document's array elements to the element indexes (see <see cref="SqliteElementIndex"/>).</summary>
    private static void AddElements(SqliteSession session, string partitionKey, string id, PreparedWrite write)
    {
        if (write.HoldsElements)
        {
            ExecuteForDocument(session, partitionKey, id, write.Fields.AddElementsSql);
        }
    }

    /// <summary>Removes the stored document's array elements from the element indexes, before it is rewritten or deleted.</summary>
    private static void RemoveElements(SqliteSession session, string partitionKey, string id, SqliteFields fields) =>
        ExecuteForDocument(session, partitionKey, id, fields.RemoveElementsSql);

    private static void ExecuteForDocument(SqliteSession session, string partitionKey, string id, IReadOnlyList<string> statements)
    {
        foreach (var sql in statements)
        {
            var command = session.Command(sql);
            command.Parameters.AddWithValue("@p0", partitionKey);
            command.Parameters.AddWithValue("@p1", id);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Updates the document, setting only the key columns whose values changed: a write that touches no indexed value
    /// rewrites no index entry, and one that changes a status rewrites that index's entry alone. Returns 0 when the
    /// document is not there (or not at <paramref name="ifMatch"/>).
    /// </summary>
    private static int Update(SqliteSession session, string partitionKey, string id, PreparedWrite write, string? ifMatch)
    {
        var changed = Execute(session, write.Fields.UpdateSameKeysSql, partitionKey, id, write, ifMatch);
        return changed > 0 ? changed : UpdateKeys(session, partitionKey, id, write, ifMatch);
    }

    /// <summary>Asks which keys differ (no row: absent or at another ETag), then updates the body and those keys.</summary>
    private static int UpdateKeys(SqliteSession session, string partitionKey, string id, PreparedWrite write, string? ifMatch)
    {
        var fields = write.Fields;
        var differs = new bool[fields.KeyPaths.Count];
        var command = Bind(session.Command(fields.KeysDifferSql), partitionKey, id, write, ifMatch);
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read())
            {
                return 0;
            }

            for (var i = 0; i < differs.Length; i++)
            {
                differs[i] = reader.GetInt64(i) != 0;
            }
        }

        return Execute(session, fields.UpdateKeysSql(differs), partitionKey, id, write, ifMatch);
    }

    private static int Execute(SqliteSession session, string sql, string partitionKey, string id, PreparedWrite write, string? ifMatch)
    {
        var statement = RowWrite(session, sql, partitionKey, id, write.ETag, ifMatch);
        statement.BindParameter(3, write.Utf8);
        for (var i = 0; i < (write.Keys?.Length ?? 0); i++)
        {
            statement.BindKey(i, write.Keys![i]);
        }

        return statement.Execute();
    }

    /// <summary>The write statement for <paramref name="sql"/> with its row bound: @p0 pk, @p1 id, @p2 new etag, @p4 ifMatch.</summary>
    private static SqliteWriteStatement RowWrite(SqliteSession session, string sql, string partitionKey, string id, string etag, string? ifMatch)
    {
        var statement = session.Write(sql);
        statement.BindParameter(0, partitionKey);
        statement.BindParameter(1, id);
        statement.BindParameter(2, etag);
        statement.BindParameter(4, ifMatch);
        return statement;
    }

    /// <summary>
    /// Binds every parameter a write statement may name (@p0 pk, @p1 id, @p2 etag, @p3 body, @p4 ifMatch, @k0... keys)
    /// for a query (<see cref="Execute"/> binds the statements that change rows); SQLite leaves those it does not name unused.
    /// </summary>
    private static SqliteCommand Bind(SqliteCommand command, string partitionKey, string id, PreparedWrite write, string? ifMatch)
    {
        var parameters = command.Parameters;
        parameters.AddWithValue("@p0", partitionKey);
        parameters.AddWithValue("@p1", id);
        parameters.AddWithValue("@p2", write.ETag);
        parameters.AddWithValue("@p3", write.Utf8);
        parameters.AddWithValue("@p4", (object?)ifMatch ?? DBNull.Value);
        for (var i = 0; i < (write.Keys?.Length ?? 0); i++)
        {
            parameters.AddWithValue(SqliteFields.KeyParameter(i), write.Keys![i] ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>After a conditional write touched no row: tells "absent" from "changed by someone else".</summary>
    private DocumentStoreException Missing(SqliteSession session, string partitionKey, string id)
    {
        var command = session.Command(_etagSql);
        command.Parameters.AddWithValue("@p0", partitionKey);
        command.Parameters.AddWithValue("@p1", id);
        return command.ExecuteScalar() is null
            ? new DocumentNotFoundException(Name, partitionKey, id)
            : new DocumentPreconditionFailedException(Name, partitionKey, id);
    }

    private StoredDocument? ReadRow(SqliteSession session, string partitionKey, string id)
    {
        var command = session.Command(_readSql);
        command.Parameters.AddWithValue("@p0", partitionKey);
        command.Parameters.AddWithValue("@p1", id);
        using var reader = command.ExecuteReader();
        return reader.Read() ? new StoredDocument(partitionKey, id, ParseBody(reader, 1), reader.GetString(0)) : null;
    }

    /// <summary>Copies the caller's body (so the store never mutates it), sets id/pk and serializes it.</summary>
    private PreparedWrite Prepare(string partitionKey, string id, JsonObject body)
    {
        if (body is null)
        {
            throw new InvalidDocumentException($"Document '{id}' needs a body.");
        }

        var copy = body.DeepClone().AsObject();
        return Prepared(copy, DocumentRules.Serialize(partitionKey, id, copy));
    }

    private PreparedWrite Prepared(JsonObject? body, byte[] utf8)
    {
        var fields = Fields;
        var (keys, holdsElements) = fields.KeysOf(utf8);
        return new PreparedWrite(body, utf8, fields, keys, holdsElements, NewETag());
    }

    private string NewETag() =>
        string.Create(CultureInfo.InvariantCulture, $"\"{_etagPrefix}{Interlocked.Increment(ref _etagCounter):x}\"");

    /// <summary>
    /// What one write binds; <see cref="Body"/> is null for a raw write (BatchOperation.CreateRaw). The keys are those of
    /// <see cref="Fields"/> as they were when the write was prepared (the container's may change meanwhile).
    /// <see cref="HoldsElements"/>: an element-indexed path of the body holds a non-empty array.
    /// </summary>
    private sealed record PreparedWrite(JsonObject? Body, byte[] Utf8, SqliteFields Fields, object?[]? Keys, bool HoldsElements, string ETag);
}
