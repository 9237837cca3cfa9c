using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// Applies patch operations to a parsed body. Rules (as in Cosmos DB): 1 to 10 operations; a path's parent
/// objects must exist; Remove of a missing field fails; Increment needs a number (a missing field counts
/// as 0); the system fields <c>id</c> and <c>pk</c> cannot be patched. Any failure leaves the document unchanged.
/// </summary>
internal static class SqlitePatch
{
    public static void Validate(IReadOnlyList<PatchOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count is 0 or > DocumentLimits.MaxPatchOperations)
        {
            throw new InvalidDocumentException($"A patch holds 1 to {DocumentLimits.MaxPatchOperations} operations; this one holds {operations.Count}.");
        }

        foreach (var op in operations)
        {
            if (op is null)
            {
                throw new InvalidDocumentException("A patch operation is null.");
            }

            try
            {
                DocumentRules.ValidatePath(op.Path);
            }
            catch (InvalidQueryException e)
            {
                throw new InvalidDocumentException($"Patch path is invalid: {e.Message}");
            }

            if (op.Path is "id" or "pk")
            {
                throw new InvalidDocumentException($"The system field '{op.Path}' cannot be patched.");
            }

            if (op.Kind == PatchKind.Increment && op.Value?.GetValueKind() != JsonValueKind.Number)
            {
                throw new InvalidDocumentException($"Increment of '{op.Path}' needs a number.");
            }

            if (op.Kind is not (PatchKind.Set or PatchKind.Remove or PatchKind.Increment))
            {
                throw new InvalidDocumentException($"Unknown patch operation kind {op.Kind}.");
            }
        }
    }

    /// <summary>
    /// The patch as one SQL update of the stored JSONB, so the document never leaves SQLite: only when every operation is
    /// a set or a remove, none lies inside an indexed path, and no operation's path lies inside another's (so each rule
    /// can be checked on the stored body rather than on one an earlier operation changed). Null otherwise. A set or remove
    /// of an indexed path (or of an object holding one) also sets that key column, from the set's value as json_extract
    /// reads it (NULL for a remove), which is what the column holds after any other write (see <see cref="SqliteFields"/>);
    /// key columns the patch does not reach are not in the statement, so their index entries are not rewritten. The
    /// statement binds @p0 pk, @p1 id, @p2 the new ETag, @p4 the expected ETag or null, and @v{i} the JSON text of set i.
    /// It changes no row when the document is absent or at another ETag, when a rule fails (a parent that is not an
    /// object, a removed field that is missing), or when the document is over a quarter of the size limit (so the patched
    /// one cannot pass it): the caller then applies the patch in .NET, which throws the precise error.
    /// </summary>
    /// <remarks>The statement depends only on each operation's kind and path, so each container builds it once per such shape.</remarks>
    public static PatchStatement? InSql(SqliteFields fields, IReadOnlyList<PatchOperation> operations)
    {
        var sql = fields.PatchSql(string.Join('|', operations.Select(op => $"{op.Kind} {op.Path}")), () => Statement(fields, operations));
        if (sql is null)
        {
            return null;
        }

        var values = new string?[operations.Count];
        var valueBytes = 0;
        for (var i = 0; i < operations.Count; i++)
        {
            if (operations[i].Kind == PatchKind.Set)
            {
                values[i] = operations[i].Value?.ToJsonString() ?? "null";
                valueBytes += values[i]!.Length;
            }
        }

        return valueBytes > SizeGuard ? null : new PatchStatement(sql, values);
    }

    /// <summary>The statement of <see cref="InSql"/> for the kinds and paths of <paramref name="operations"/>; null when SQL may not apply them.</summary>
    private static string? Statement(SqliteFields fields, IReadOnlyList<PatchOperation> operations)
    {
        var body = new StringBuilder("body");
        var checks = new StringBuilder();
        var keys = new StringBuilder();
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            // An element-indexed array (or what holds it) changes only in .NET, which rewrites its index entries.
            if (op.Kind is not (PatchKind.Set or PatchKind.Remove) || fields.KeyPaths.Any(key => Inside(op.Path, key))
                || fields.ElementPaths.Any(path => Overlap(op.Path, path))
                || operations.Where((other, j) => j != i && Overlap(other.Path, op.Path)).Any())
            {
                return null;
            }

            foreach (var key in fields.KeyPaths.Where(key => key == op.Path || Inside(key, op.Path)))
            {
                // The key's path within the set's value: '$' for the path itself, '$.rest' for a field of an object set.
                var within = key == op.Path ? "'$'" : SqliteSql.JsonPath(key[(op.Path.Length + 1)..]);
                keys.Append(", ").Append(SqliteFields.Column(key)).Append(" = ")
                    .Append(op.Kind == PatchKind.Set ? $"json_extract(@v{i}, {within})" : "NULL");
            }

            var path = SqliteSql.JsonPath(op.Path);
            if (op.Kind == PatchKind.Set)
            {
                body.Insert(0, "jsonb_set(").Append(", ").Append(path).Append(", json(@v").Append(i).Append("))");
            }
            else
            {
                body.Insert(0, "jsonb_remove(").Append(", ").Append(path).Append(')');
                checks.Append(" AND json_type(body, ").Append(path).Append(") IS NOT NULL");
            }

            var dot = op.Path.LastIndexOf('.');
            if (dot > 0)
            {
                checks.Append(" AND json_type(body, ").Append(SqliteSql.JsonPath(op.Path[..dot])).Append(") = 'object'");
            }
        }

        return $"UPDATE {SqliteSql.Table(fields.Container)} SET etag = @p2, body = {body}{keys} WHERE pk = @p0 AND id = @p1 AND (@p4 IS NULL OR etag = @p4) AND length(body) <= {SizeGuard}{checks}";
    }

    /// <summary>
    /// Bytes of stored JSONB (and of set values) under which a patch in SQL cannot reach <see cref="DocumentLimits.MaxDocumentBytes"/>
    /// as JSON text: JSONB keeps strings and numbers as their text and spends at most a few header bytes where text spends
    /// quotes, commas and brackets, so text is well under twice the JSONB, and a quarter of the limit for each leaves room.
    /// </summary>
    private const int SizeGuard = DocumentLimits.MaxDocumentBytes / 4;

    /// <summary>Whether one path is the other or lies inside it.</summary>
    private static bool Overlap(string a, string b) => a == b || Inside(a, b) || Inside(b, a);

    /// <summary>Whether <paramref name="path"/> lies strictly inside <paramref name="outer"/>.</summary>
    private static bool Inside(string path, string outer) =>
        path.Length > outer.Length + 1 && path[outer.Length] == '.' && path.StartsWith(outer, StringComparison.Ordinal);

    public static void Apply(JsonObject body, IReadOnlyList<PatchOperation> operations)
    {
        foreach (var op in operations)
        {
            var segments = op.Path.Split('.');
            var parent = Parent(body, segments, op.Path);
            var name = segments[^1];
            switch (op.Kind)
            {
                case PatchKind.Set:
                    parent[name] = op.Value?.DeepClone();
                    break;
                case PatchKind.Remove:
                    if (!parent.Remove(name))
                    {
                        throw new InvalidDocumentException($"Cannot remove '{op.Path}': the field does not exist.");
                    }

                    break;
                case PatchKind.Increment:
                    parent.TryGetPropertyValue(name, out var current);
                    parent[name] = Add(current, op.Value!, op.Path);
                    break;
            }
        }
    }

    private static JsonObject Parent(JsonObject body, string[] segments, string path)
    {
        var node = body;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            node = node[segments[i]] as JsonObject
                ?? throw new InvalidDocumentException($"Cannot patch '{path}': '{string.Join('.', segments[..(i + 1)])}' is not an object.");
        }

        return node;
    }

    private static JsonValue Add(JsonNode? current, JsonNode by, string path)
    {
        if (current is not null && current.GetValueKind() != JsonValueKind.Number)
        {
            throw new InvalidDocumentException($"Cannot increment '{path}': it holds a {current.GetValueKind()}, not a number.");
        }

        var left = current is null ? 0L : SqliteFilterCompiler.Number(current.ToJsonString());
        var right = SqliteFilterCompiler.Number(by.ToJsonString());
        if (left is long a && right is long b)
        {
            try
            {
                return JsonValue.Create(checked(a + b));
            }
            catch (OverflowException)
            {
                throw new InvalidDocumentException($"Cannot increment '{path}': the result overflows a 64-bit integer.");
            }
        }

        return JsonValue.Create(Convert.ToDouble(left, CultureInfo.InvariantCulture) + Convert.ToDouble(right, CultureInfo.InvariantCulture));
    }
}

/// <summary>A patch as SQL (see <see cref="SqlitePatch.InSql"/>): the statement and the JSON text of each set (null for a remove).</summary>
internal sealed record PatchStatement(string Sql, IReadOnlyList<string?> Values);
