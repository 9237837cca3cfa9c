namespace Serverless.Storage.Sqlite;

/// <summary>
/// The index of an array path's string elements (<see cref="Serverless.Core.Storage.Documents.ContainerSpec.ElementIndexedPaths"/>):
/// a table of (pk, value, id) per path, kept in the write's own transaction: by triggers on the container's table for
/// updates (replaces, upserts, patches run in SQL) and deletes, and by the writer for a new document that has elements.
/// </summary>
/// <remarks>
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

    /// <summary>The table, its triggers, and its entries for the documents already stored.</summary>
    public static IEnumerable<string> Create(string container, string path)
    {
        var table = Table(container, path);
        var json = SqliteSql.JsonPath(path);
        var documents = SqliteSql.Table(container);
        yield return $"CREATE TABLE {table} (pk TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (pk, value, id)) WITHOUT ROWID";
        yield return $"INSERT OR IGNORE INTO {table} (pk, value, id) SELECT d.pk, e.value, d.id FROM {documents} AS d, json_each(d.body, {json}) AS e " +
                     $"WHERE json_type(d.body, {json}) = 'array' AND e.type = 'text'";

        // A string at the path is not an array: it has no elements (json_each would return the string itself).
        var add = $"INSERT OR IGNORE INTO {table} (pk, value, id) SELECT new.pk, value, new.id FROM json_each(new.body, {json}) " +
                  $"WHERE json_type(new.body, {json}) = 'array' AND type = 'text';";
        var remove = $"DELETE FROM {table} WHERE pk = old.pk AND id = old.id AND json_type(old.body, {json}) = 'array' " +
                     $"AND value IN (SELECT value FROM json_each(old.body, {json}) WHERE type = 'text');";

        // No insert trigger: any trigger on INSERT made every insert dearer, tags or not (a bulk of 200k items: ~25% fewer
        // items/s, paired), so a new document's elements are added by its writer, only when it has some (AddFromDocument).
        // An empty array or none (json_array_length 0: most documents) skips the delete trigger at one read of the path;
        // most updates leave the array as it was (a status, a counter), and only a changed array rewrites entries.
        yield return $"CREATE TRIGGER {Trigger(container, path, "del")} AFTER DELETE ON {documents} WHEN json_array_length(old.body, {json}) > 0 BEGIN {remove} END";
        yield return $"CREATE TRIGGER {Trigger(container, path, "upd")} AFTER UPDATE OF body ON {documents} " +
                     $"WHEN json_extract(old.body, {json}) IS NOT json_extract(new.body, {json}) BEGIN {remove} {add} END";
    }

    /// <summary>Adds the elements of the stored document @p0/@p1 (partition, id); those already there stay as they are.</summary>
    public static string AddFromDocument(string container, string path)
    {
        var json = SqliteSql.JsonPath(path);
        return $"INSERT OR IGNORE INTO {Table(container, path)} (pk, value, id) SELECT d.pk, e.value, d.id FROM {SqliteSql.Table(container)} AS d, " +
               $"json_each(d.body, {json}) AS e WHERE d.pk = @p0 AND d.id = @p1 AND json_type(d.body, {json}) = 'array' AND e.type = 'text'";
    }

    /// <summary>Drops an element index the container no longer declares: its triggers (on the container's table), then its table.</summary>
    public static IEnumerable<string> Drop(string container, string path)
    {
        foreach (var kind in new[] { "del", "upd" })
        {
            yield return $"DROP TRIGGER IF EXISTS {Trigger(container, path, kind)}";
        }

        yield return $"DROP TABLE IF EXISTS {Table(container, path)}";
    }

    /// <summary>The prefix of every element table of a container, for finding stale ones in sqlite_master.</summary>
    public static string TablePrefix(string container) => $"doc_{container}_el_";

    /// <summary>True when a document of <paramref name="documents"/> (the row being filtered) holds the element.</summary>
    public static string Probe(string container, string path, string documents, string value) =>
        $"EXISTS (SELECT 1 FROM {Table(container, path)} AS e WHERE e.pk = {documents}.pk AND e.value = {value} AND e.id = {documents}.id)";

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
