using System.Buffers;
using System.Text.Json;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// How one container's SQL reads a field: its indexed paths from the <c>keys</c> column, every other path from the
/// body. Index definitions, filters and sorts all spell fields through here, because SQLite only uses an expression
/// index when the query spells the expression exactly as the index does.
/// </summary>
/// <remarks>
/// Why a <c>keys</c> column: an index over <c>json_extract(body, ...)</c> depends on the whole body, so SQLite rewrote
/// every index entry of a document on every write of its body, even when no indexed value changed: 8 index entries per
/// item when a task status was mirrored onto it (~130 us per item at 1M items, against ~20 us with the indexes over a
/// column the write did not touch). The <c>keys</c> column holds the indexed paths' values (a JSONB object keyed by
/// path), the indexes are over it, and a write whose keys are unchanged leaves the column, and so every index, alone.
/// <para><c>json_extract(keys, '$."p"')</c> equals <c>json_extract(body, '$.p')</c> for every document: the key holds
/// the body's JSON value at that path, copied token for token, and is absent where the body has no value or JSON null
/// (both read as SQL NULL). JSON types are still read from the body.</para>
/// </remarks>
internal sealed class SqliteFields
{
    /// <summary>The document id's path in the body, which <see cref="Extract"/> maps to the id column.</summary>
    private const string IdPath = "id";

    private readonly HashSet<string> _keyPaths;

    public SqliteFields(IEnumerable<string> keyPaths)
    {
        KeyPaths = [.. keyPaths.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        _keyPaths = new HashSet<string>(KeyPaths, StringComparer.Ordinal);
        foreach (var path in KeyPaths)
        {
            SqliteSql.JsonPath(path);
        }
    }

    public static SqliteFields None { get; } = new([]);

    /// <summary>The indexed paths, in ordinal order (the order of the keys object's members).</summary>
    public IReadOnlyList<string> KeyPaths { get; }

    /// <summary>The paths as stored in the file's key table: one per line.</summary>
    public string Stored => string.Join('\n', KeyPaths);

    public static SqliteFields FromStored(string? stored) =>
        string.IsNullOrEmpty(stored) ? None : new SqliteFields(stored.Split('\n'));

    /// <summary>The field's SQL value: TEXT for strings (and JSON text of arrays/objects), INTEGER/REAL for
    /// numbers, 1/0 for booleans, NULL for JSON null and for a missing field.</summary>
    /// <remarks>
    /// <c>id</c> reads the id column: every write sets the body's <c>id</c> to the document id (and patches may
    /// not change it), so the two are always equal, and only the column lets a filter on ids use the primary
    /// key (pk, id). Read from the body, <c>id IN (...)</c> scanned the whole partition.
    /// </remarks>
    public string Extract(string path) =>
        path == IdPath ? "id" : _keyPaths.Contains(path) ? KeyExtract(path) : $"json_extract(body,{SqliteSql.JsonPath(path)})";

    /// <summary>The field's JSON type ('null', 'true', 'false', 'integer', 'real', 'text', 'array', 'object'), NULL when missing.</summary>
    /// <remarks><c>id</c> is always a string (see <see cref="Extract"/>).</remarks>
    public static string Type(string path) => path == IdPath ? "'text'" : $"json_type(body,{SqliteSql.JsonPath(path)})";

    /// <summary>Rank of the field's type in the sort order: missing 0, null 1, number 2, string 3, boolean 4, array/object 5.</summary>
    public static string SortRank(string path) =>
        $"CASE {Type(path)} WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 " +
        "WHEN 'true' THEN 4 WHEN 'false' THEN 4 WHEN 'array' THEN 5 WHEN 'object' THEN 5 ELSE 0 END";

    /// <summary>The value compared within one rank; never NULL, so keyset comparisons need no NULL logic.</summary>
    public string SortValue(string path) => $"coalesce({Extract(path)},0)";

    /// <summary>An indexed path read from the keys column (the path is one member name, dots included).</summary>
    public static string KeyExtract(string path) => $"json_extract(keys,'$.\"{path}\"')";

    /// <summary>
    /// The keys object of a document, as UTF-8 JSON text, from its UTF-8 JSON body: each indexed path that holds a
    /// value other than null, as the body holds it. Null when the container indexes nothing.
    /// </summary>
    public byte[]? KeysOf(byte[] utf8Body)
    {
        if (KeyPaths.Count == 0)
        {
            return null;
        }

        using var document = JsonDocument.Parse(utf8Body);
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var path in KeyPaths)
            {
                if (Find(document.RootElement, path) is { ValueKind: not JsonValueKind.Null } value)
                {
                    writer.WritePropertyName(path);
                    value.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The SQL that recomputes every document's keys in place (a file from before, or a changed index set).</summary>
    /// <remarks>
    /// <c>body -&gt; path</c> is the value's JSON text, or NULL when missing; <c>json_patch('{}', ...)</c> drops the
    /// members that are NULL or JSON null, as <see cref="KeysOf"/> does.
    /// </remarks>
    public string FillKeys(string container)
    {
        if (KeyPaths.Count == 0)
        {
            return $"UPDATE {SqliteSql.Table(container)} SET keys = NULL";
        }

        var members = KeyPaths.Select(p => $"'{p}', json(body -> {SqliteSql.JsonPath(p)})");
        return $"UPDATE {SqliteSql.Table(container)} SET keys = {SqliteSql.BodyIn($"json_patch('{{}}', json_object({string.Join(", ", members)}))")}";
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
