using System.Text.Json;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// How one container's SQL reads a field: each indexed path from a key column of its own, every other path from the
/// body. Index definitions, filters and sorts all spell fields through here, because SQLite only uses an index when
/// the query spells the indexed expression exactly as the index does.
/// </summary>
/// <remarks>
/// Why key columns: an index over <c>json_extract(body, ...)</c> depends on the whole body, so SQLite rewrote every
/// index entry of a document on every write of its body, even when no indexed value changed: 8 entries per item when a
/// task status was mirrored onto it (~130 us per item at 1M items in a micro-benchmark, ~20 us with the indexes over
/// columns the write did not set). Now the column <c>"k.{path}"</c> holds <c>json_extract(body, '$.{path}')</c>, the
/// indexes are over these columns, and a write sets only the key columns whose values changed, so a status change of a
/// task item rewrites its status index entry and no other.
/// <para>The writer binds each key as the SQL value json_extract returns for a string, a boolean or a whole number
/// (null when absent or JSON null), and any other value (fractions, huge numbers, arrays, objects) as the JSON token
/// the body holds, copied byte for byte, which SQLite reads with json_extract: so a key column always equals what a
/// filter on the body reads.</para>
/// </remarks>
internal sealed class SqliteFields
{
    /// <summary>The document id's path in the body, which <see cref="Extract"/> maps to the id column.</summary>
    private const string IdPath = "id";

    /// <summary>Patch shapes whose statements one container keeps (see <see cref="PatchSql"/>); paths may hold ids, so the set is bounded.</summary>
    private const int MaxPatchShapes = 1024;

    private readonly HashSet<string> _keyPaths;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string?> _patchSql = new(StringComparer.Ordinal);
    private readonly string _updatePrefix;
    private readonly string _updateSuffix;

    /// <param name="container">The container's name.</param>
    /// <param name="keyPaths">The indexed paths, each read from a key column.</param>
    /// <param name="elementPaths">The array paths whose elements have an index (<see cref="SqliteElementIndex"/>); a container
    /// opened without its spec (<see cref="FromStored"/>) takes those the file holds, so its writes keep them too.</param>
    public SqliteFields(string container, IEnumerable<string> keyPaths, IEnumerable<string>? elementPaths = null)
    {
        Container = container;
        ElementPaths = (elementPaths ?? []).ToHashSet(StringComparer.Ordinal);
        AddElementsSql = [.. ElementPaths.SelectMany(path => SqliteElementIndex.AddFromDocument(container, path))];
        RemoveElementsSql = [.. ElementPaths.SelectMany(path => SqliteElementIndex.RemoveOfDocument(container, path))];
        KeyPaths = [.. keyPaths.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        _keyPaths = new HashSet<string>(KeyPaths, StringComparer.Ordinal);
        foreach (var path in KeyPaths)
        {
            SqliteSql.JsonPath(path);
        }

        var table = SqliteSql.Table(container);
        var columns = string.Concat(KeyPaths.Select(p => ", " + Column(p)));
        var values = string.Concat(KeyPaths.Select((_, i) => ", " + KeyIn(i)));
        var sameKeys = string.Concat(KeyPaths.Select((p, i) => $" AND {Column(p)} IS {KeyIn(i)}"));
        var row = "pk = @p0 AND id = @p1 AND (@p4 IS NULL OR etag = @p4)";
        InsertSql = $"INSERT INTO {table} (pk, id, etag, body{columns}) VALUES (@p0, @p1, @p2, {SqliteSql.BodyIn("@p3")}{values}) ON CONFLICT (pk, id) DO NOTHING";
        UpsertSameKeysSql = $"INSERT INTO {table} (pk, id, etag, body{columns}) VALUES (@p0, @p1, @p2, {SqliteSql.BodyIn("@p3")}{values}) " +
                            $"ON CONFLICT (pk, id) DO UPDATE SET etag = excluded.etag, body = excluded.body WHERE 1{string.Concat(KeyPaths.Select(p => $" AND {Column(p)} IS excluded.{Column(p)}"))}";
        UpdateSameKeysSql = $"UPDATE {table} SET etag = @p2, body = {SqliteSql.BodyIn("@p3")} WHERE {row}{sameKeys}";
        KeysDifferSql = $"SELECT {(KeyPaths.Count == 0 ? "0" : string.Join(", ", KeyPaths.Select((p, i) => $"{Column(p)} IS NOT {KeyIn(i)}")))} FROM {table} WHERE {row}";
        _updatePrefix = $"UPDATE {table} SET etag = @p2, body = {SqliteSql.BodyIn("@p3")}";
        _updateSuffix = $" WHERE {row}";
    }

    public string Container { get; }

    /// <summary>The array paths whose elements have an index.</summary>
    public IReadOnlySet<string> ElementPaths { get; }

    /// <summary>Adds the elements of stored document @p0/@p1 to every element index (<see cref="SqliteElementIndex.AddFromDocument"/>).</summary>
    public IReadOnlyList<string> AddElementsSql { get; }

    /// <summary>Removes them from every element index (<see cref="SqliteElementIndex.RemoveOfDocument"/>); none without element indexes.</summary>
    public IReadOnlyList<string> RemoveElementsSql { get; }

    /// <summary>The indexed paths, in ordinal order (key parameter i binds path i).</summary>
    public IReadOnlyList<string> KeyPaths { get; }

    /// <summary>Insert unless the document exists; binds @p0 pk, @p1 id, @p2 etag, @p3 body and the keys.</summary>
    public string InsertSql { get; }

    /// <summary>Insert, or update a document whose keys are those bound; changes no row when they differ.</summary>
    public string UpsertSameKeysSql { get; }

    /// <summary>Updates the document (at @p4 when not null) when its keys are those bound; else changes no row.</summary>
    public string UpdateSameKeysSql { get; }

    /// <summary>One row (when the document exists, at @p4 when not null): for each key path, whether its key differs.</summary>
    public string KeysDifferSql { get; }

    /// <summary>The paths as stored in the file's key table: one per line.</summary>
    public string Stored => string.Join('\n', KeyPaths);

    public static SqliteFields FromStored(string container, string? stored, IEnumerable<string> elementPaths) => new(container, StoredPaths(stored), elementPaths);

    /// <summary>The paths of <see cref="Stored"/> text (none when there is no text).</summary>
    public static IReadOnlyList<string> StoredPaths(string? stored) => string.IsNullOrEmpty(stored) ? [] : stored.Split('\n');

    /// <summary>The key column of an indexed path (validated paths hold only letters, digits, '_' and '.').</summary>
    public static string Column(string path) => $"\"{ColumnName(path)}\"";

    /// <summary>The key column's name as SQLite lists it (unquoted).</summary>
    public static string ColumnName(string path) => $"k.{path}";

    /// <summary>The parameter name of key <paramref name="index"/>.</summary>
    public static string KeyParameter(int index) => "@k" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The patch statement for a shape (each operation's kind and path, see <see cref="SqlitePatch.InSql"/>), built once
    /// (null: SQL may not apply it); the cache starts over past <see cref="MaxPatchShapes"/> shapes.
    /// </summary>
    public string? PatchSql(string shape, Func<string?> build)
    {
        if (_patchSql.TryGetValue(shape, out var sql))
        {
            return sql;
        }

        if (_patchSql.Count >= MaxPatchShapes)
        {
            _patchSql.Clear();
        }

        return _patchSql[shape] = build();
    }

    /// <summary>Updates the body and the keys that differ (<paramref name="differs"/>[i] for key path i).</summary>
    public string UpdateKeysSql(IReadOnlyList<bool> differs) =>
        _updatePrefix + string.Concat(KeyPaths.Select((p, i) => differs[i] ? $", {Column(p)} = {KeyIn(i)}" : string.Empty)) + _updateSuffix;

    /// <summary>The field's SQL value: TEXT for strings (and JSON text of arrays/objects), INTEGER/REAL for
    /// numbers, 1/0 for booleans, NULL for JSON null and for a missing field.</summary>
    /// <remarks>
    /// <c>id</c> reads the id column: every write sets the body's <c>id</c> to the document id (and patches may
    /// not change it), so the two are always equal, and only the column lets a filter on ids use the primary
    /// key (pk, id). Read from the body, <c>id IN (...)</c> scanned the whole partition.
    /// </remarks>
    public string Extract(string path) =>
        path == IdPath ? "id" : IsKey(path) ? Column(path) : $"json_extract(body,{SqliteSql.JsonPath(path)})";

    /// <summary>Whether <paramref name="path"/> is indexed (read from its key column).</summary>
    public bool IsKey(string path) => _keyPaths.Contains(path);

    /// <summary>The field's JSON type ('null', 'true', 'false', 'integer', 'real', 'text', 'array', 'object'), NULL when missing.</summary>
    /// <remarks><c>id</c> is always a string (see <see cref="Extract"/>).</remarks>
    public static string Type(string path) => path == IdPath ? "'text'" : $"json_type(body,{SqliteSql.JsonPath(path)})";

    /// <summary>Rank of the field's type in the sort order: missing 0, null 1, number 2, string 3, boolean 4, array/object 5.</summary>
    public static string SortRank(string path) =>
        $"CASE {Type(path)} WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 " +
        "WHEN 'true' THEN 4 WHEN 'false' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END";

    /// <summary>The value compared within one rank; never NULL, so keyset comparisons need no NULL logic.</summary>
    public string SortValue(string path) => $"coalesce({Extract(path)},0)";

    /// <summary>
    /// The keys of a document from its UTF-8 JSON body, as bound (see <see cref="KeyIn"/>): for each key path, null
    /// when the body holds nothing or JSON null there, else the value json_extract reads for a string, a boolean or a
    /// whole number, else (a fraction, a huge number, an array or an object) the JSON token as UTF-8 bytes for SQLite to
    /// read; null when the container indexes nothing. And whether an element-indexed path holds a non-empty array, whose
    /// elements a new document's write then adds to the element index (see <see cref="SqliteElementIndex"/>).
    /// </summary>
    public (object?[]? Keys, bool HoldsElements) KeysOf(byte[] utf8Body)
    {
        if (KeyPaths.Count == 0 && ElementPaths.Count == 0)
        {
            return (null, false);
        }

        using var document = JsonDocument.Parse(utf8Body);
        object?[]? keys = null;
        if (KeyPaths.Count > 0)
        {
            keys = new object?[KeyPaths.Count];
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = Find(document.RootElement, KeyPaths[i]) is { } value ? Key(value) : null;
            }
        }

        var holdsElements = ElementPaths.Any(path => Find(document.RootElement, path) is { ValueKind: JsonValueKind.Array } array && array.GetArrayLength() > 0);
        return (keys, holdsElements);
    }

    private static object? Key(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.True:
                return 1L;
            case JsonValueKind.False:
                return 0L;
            case JsonValueKind.String when TryGetString(value, out var text):
                return text;
            case JsonValueKind.Number when value.TryGetInt64(out var whole) && value.GetRawText().AsSpan().IndexOfAny(".eE") < 0:
                return whole;
            default:
                // The raw token, not a re-serialization: an object's strings keep their escapes, so SQLite renders the
                // key as it renders the body's value.
                return System.Text.Encoding.UTF8.GetBytes(value.GetRawText());
        }
    }

    /// <summary>The decoded string; false for a string SQLite would decode otherwise (an escaped lone surrogate).</summary>
    private static bool TryGetString(JsonElement value, out string? text)
    {
        try
        {
            text = value.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            text = null;
            return false;
        }
    }

    /// <summary>The SQL that sets the key columns of <paramref name="paths"/> from every document's body.</summary>
    public string FillKeysSql(IReadOnlyList<string> paths) =>
        $"UPDATE {SqliteSql.Table(Container)} SET {string.Join(", ", paths.Select(p => $"{Column(p)} = json_extract(body,{SqliteSql.JsonPath(p)})"))}";

    /// <summary>A bound key's SQL value: a JSON token (bound as a blob) read by json_extract, any other value as bound.</summary>
    private static string KeyIn(int index)
    {
        var p = KeyParameter(index);
        return $"CASE typeof({p}) WHEN 'blob' THEN json_extract(CAST({p} AS TEXT),'$') ELSE {p} END";
    }

    /// <summary>The value at a dotted path through objects, as SQLite's json_extract finds it (the first member of a name).</summary>
    private static JsonElement? Find(JsonElement root, string path)
    {
        var current = root;
        foreach (var name in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || First(current, name) is not { } next)
            {
                return null;
            }

            current = next;
        }

        return current;
    }

    private static JsonElement? First(JsonElement obj, string name)
    {
        foreach (var property in obj.EnumerateObject())
        {
            if (property.NameEquals(name))
            {
                return property.Value;
            }
        }

        return null;
    }
}
