using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// The SQL fragments every statement shares. How a container's fields are spelled (which its indexes and its
/// queries must spell alike) is <see cref="SqliteFields"/>.
/// </summary>
internal static class SqliteSql
{
    /// <summary>
    /// Bodies are stored as JSONB (SQLite's binary JSON): json_extract/json_type read it without
    /// re-parsing text. Measured on 100k documents: a 100-document filtered page cost ~450 us of CPU
    /// with JSONB against ~670 us with JSON text, and batched inserts were no slower. Writes bind UTF-8
    /// JSON text and convert it once with jsonb(); reads convert back with json().
    /// </summary>
    public const bool UseJsonb = true;

    /// <summary>The expression that binds a UTF-8 JSON body parameter for storage.</summary>
    public static string BodyIn(string parameter) =>
        UseJsonb ? $"jsonb(CAST({parameter} AS TEXT))" : $"CAST({parameter} AS TEXT)";

    /// <summary>The expression that reads the body column back as JSON text.</summary>
    public static string BodyOut => UseJsonb ? "json(body)" : "body";

    public static string Table(string container) => $"\"doc_{container}\"";

    public static string IndexName(string container, string path) => $"\"doc_{container}_ix_{path}\"";

    /// <summary>SQL string literal of the JSON path for a validated dotted path.</summary>
    /// <remarks>Safe to splice: <see cref="DocumentRules.ValidatePath"/> admits only letters, digits, '_' and '.'.</remarks>
    public static string JsonPath(string path)
    {
        DocumentRules.ValidatePath(path);
        return $"'$.{path}'";
    }

    public static string CreateTable(string container) =>
        $"CREATE TABLE IF NOT EXISTS {Table(container)} (pk TEXT NOT NULL, id TEXT NOT NULL, etag TEXT NOT NULL, body NOT NULL, PRIMARY KEY (pk, id))";

    /// <summary>Each container's indexed paths (<see cref="SqliteFields.Stored"/>): the key columns its writes keep.</summary>
    public const string CreateKeyTable = "CREATE TABLE IF NOT EXISTS meta_keys (container TEXT PRIMARY KEY, paths TEXT NOT NULL)";

    /// <summary>
    /// An index on (pk, field, ..., id) holding only documents that have every field: the trailing id lets an equality
    /// filter return pages in id order straight from the index, and leaving out documents without the field (in a
    /// shared partition, most of them: an item's path claim has no size, no dir, no type) makes every write cheaper.
    /// SQLite uses such a partial index for any comparison on the field (=, &lt;, &gt;, IN, ...), since each implies
    /// the field is not NULL; only tests for missing or null fields cannot use it, and those never could. The fields
    /// are read from key columns (see <see cref="SqliteFields"/>).
    /// </summary>
    public static string CreateIndex(string container, IReadOnlyList<string> paths)
    {
        var expressions = paths.Select(SqliteFields.Column).ToList();
        return $"CREATE INDEX IF NOT EXISTS {IndexName(container, string.Join('+', paths))} ON {Table(container)} (pk, {string.Join(", ", expressions)}, id) " +
               $"WHERE {string.Join(" AND ", expressions.Select(e => e + " IS NOT NULL"))}";
    }
}
