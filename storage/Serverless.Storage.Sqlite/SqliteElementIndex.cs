namespace Serverless.Storage.Sqlite;

/// <summary>
/// The index of an array path's string elements (<see cref="Serverless.Core.Storage.Documents.ContainerSpec.ElementIndexedPaths"/>):
/// a table of (pk, value, id) per path, kept by the store's writes in their own transaction: a create adds the new
/// document's elements (only when it has some), a replace or upsert removes the old ones and adds the new, a delete
/// removes them, and a patch that reaches the array is applied in .NET as a replace (patches run in SQL never reach it).
/// </summary>
/// <remarks>
/// Not triggers: any trigger on the table made every write of it dearer, with elements or not (an insert trigger: bulk
/// ~25% fewer items/s, paired; an update trigger: every status mirrored onto an item paid it).
/// Without it, "items tagged X" tested every document's array: 352 ms p50 for a tag on 1 in 10,000 of 200k items.
/// A filter reads the table two ways (<see cref="SqliteQueryBuilder"/>): as a probe per candidate row (one index seek),
/// right when the element is common and a page fills after a few rows; and, when few documents hold the element, as
/// the driving table of the page query, which then reads only those documents and sorts them.
/// </remarks>
internal static class SqliteElementIndex
{
    /// <summary>
    /// Up to this many holders of an element, a page query is read from the element's entries and sorted; above it, the
    /// query walks its usual order and probes each row. Driving costs ~5-7 us per holder (read and sort every one), probing
    /// ~0.5 us per row walked, and the walk reads ~100 x (documents / holders) rows for a page of 100: at 1M documents the
    /// two meet near 2,000 holders; past this limit the walk reads at most ~100 rows per 3,000 documents.
    /// </summary>
    public const int DriveLimit = 3000;

    public static string Table(string container, string path) => $"\"doc_{container}_el_{path}\"";

    private static string Trigger(string container, string path, string kind) => $"\"doc_{container}_el_{path}_{kind}\"";

    /// <summary>The table, filled from the documents already stored.</summary>
    public static IEnumerable<string> Create(string container, string path)
    {
        var table = Table(container, path);
        var json = SqliteSql.JsonPath(path);
        yield return $"CREATE TABLE {table} (pk TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (pk, value, id)) WITHOUT ROWID";
        yield return $"INSERT OR IGNORE INTO {table} (pk, value, id) SELECT d.pk, e.value, d.id FROM {SqliteSql.Table(container)} AS d, json_each(d.body, {json}) AS e " +
                     $"WHERE json_type(d.body, {json}) = 'array' AND e.type = 'text'";
    }

    /// <summary>Adds the elements of the stored document @p0/@p1 (partition, id); those already there stay as they are.</summary>
    public static string AddFromDocument(string container, string path) =>
        $"INSERT OR IGNORE INTO {Table(container, path)} (pk, value, id) {ElementsOfDocument(container, path, "d.pk, e.value, d.id")}";

    /// <summary>Removes the entries of the stored document @p0/@p1's elements (none when it is absent or holds none).</summary>
    public static string RemoveOfDocument(string container, string path) =>
        $"DELETE FROM {Table(container, path)} WHERE pk = @p0 AND id = @p1 AND value IN ({ElementsOfDocument(container, path, "e.value")})";

    /// <summary>
    /// The string elements of the array at the path of document @p0/@p1: a string there is not an array and has none
    /// (json_each would return the string itself).
    /// </summary>
    private static string ElementsOfDocument(string container, string path, string columns)
    {
        var json = SqliteSql.JsonPath(path);
        return $"SELECT {columns} FROM {SqliteSql.Table(container)} AS d, json_each(d.body, {json}) AS e " +
               $"WHERE d.pk = @p0 AND d.id = @p1 AND json_type(d.body, {json}) = 'array' AND e.type = 'text'";
    }

    /// <summary>Drops an element index the container no longer declares.</summary>
    public static string Drop(string container, string path) => $"DROP TABLE IF EXISTS {Table(container, path)}";

    /// <summary>The prefix of every element table of a container, for finding stale ones in sqlite_master.</summary>
    public static string TablePrefix(string container) => $"doc_{container}_el_";

    /// <summary>True when the container's row being filtered holds the element.</summary>
    public static string Probe(string container, string path, string value)
    {
        var documents = SqliteSql.Table(container);
        return $"EXISTS (SELECT 1 FROM {Table(container, path)} AS e WHERE e.pk = {documents}.pk AND e.value = {value} AND e.id = {documents}.id)";
    }

    /// <summary>How many documents of a partition hold the element, counted up to <see cref="DriveLimit"/> + 1.</summary>
    public static string CountUpToLimit(string container, string path) =>
        $"SELECT count(*) FROM (SELECT 1 FROM {Table(container, path)} WHERE pk = @p0 AND value = @p1 LIMIT {DriveLimit + 1})";

    /// <summary>
    /// The FROM clause of a page read from the element's entries: CROSS JOIN makes SQLite loop over them first (it never
    /// reorders a CROSS JOIN), and each finds its document by primary key. The filter still holds the element's probe.
    /// </summary>
    public static string DrivenFrom(string container, string path, string partition, string value) =>
        $"(SELECT id AS el_id FROM {Table(container, path)} WHERE pk = {partition} AND value = {value}) CROSS JOIN {SqliteSql.Table(container)} " +
        $"ON {SqliteSql.Table(container)}.pk = {partition} AND {SqliteSql.Table(container)}.id = el_id";
}
