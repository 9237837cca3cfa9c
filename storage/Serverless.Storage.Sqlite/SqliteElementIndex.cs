using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>How a page query reads an element's holders: as its driving table, or as a condition narrowing it.</summary>
internal sealed record ElementRead(Comparison Element, bool Drives);

/// <summary>
/// The index of an array path's string elements (<see cref="ContainerSpec.ElementIndexedPaths"/>):
/// a table of (pk, value, id) per path, kept by the store's writes in their own transaction: a create adds the new
/// document's elements (only when it has some), a replace or upsert removes the old ones and adds the new, a delete
/// removes them, and a patch that reaches the array is applied in .NET as a replace (patches run in SQL never reach it).
/// </summary>
/// <remarks>
/// Not triggers: any trigger on the table made every write of it dearer, with elements or not (an insert trigger: bulk
/// ~25% fewer items/s, paired; an update trigger: every status mirrored onto an item paid it).
/// Without it, "items tagged X" tested every document's array: 352 ms p50 for a tag on 1 in 10,000 of 200k items.
/// A filter in one partition reads the element's holder count, then the table one of three ways (see
/// SqliteDocumentContainer.ElementReadFor): few holders drive the page query, which reads only those documents
/// and sorts them (<see cref="DrivenFrom"/>); more narrow it to them (<see cref="HeldBy"/>); many are probed per
/// candidate row, one index seek each, right when a page fills after a few rows (<see cref="Probe"/>).
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

    /// <summary>
    /// Up to this many holders (and above <see cref="DriveLimit"/>), the query also requires the id to be one of them
    /// (<see cref="HeldBy"/>): ~1 us per holder, read once, bounds a query whose other conditions match rows few of which
    /// hold the element (a folder holding none of a tag on 1 item in 50: the folder's 10,000 rows read from the table,
    /// ~68 ms). Above it, reading every holder would cost more than the walk it saves in most queries.
    /// </summary>
    public const int HeldByLimit = 30_000;

    public static string Table(string container, string path) => $"\"doc_{container}_el_{path}\"";

    /// <summary>The entries table and the holder counts, filled from the documents already stored.</summary>
    public static IEnumerable<string> Create(string container, string path)
    {
        var table = Table(container, path);
        var json = SqliteSql.JsonPath(path);
        yield return $"CREATE TABLE {table} (pk TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (pk, value, id)) WITHOUT ROWID";
        yield return $"CREATE TABLE {Counts(container, path)} (pk TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (pk, value)) WITHOUT ROWID";
        yield return $"INSERT OR IGNORE INTO {table} (pk, value, id) SELECT d.pk, e.value, d.id FROM {SqliteSql.Table(container)} AS d, json_each(d.body, {json}) AS e " +
                     $"WHERE json_type(d.body, {json}) = 'array' AND e.type = 'text'";
        yield return $"INSERT INTO {Counts(container, path)} (pk, value, n) SELECT pk, value, count(*) FROM {table} GROUP BY pk, value";
    }

    /// <summary>
    /// Adds the elements of the stored document @p0/@p1 (partition, id), which has no entries yet (new, or its old ones
    /// removed by <see cref="RemoveOfDocument"/>), and counts it once per distinct element.
    /// </summary>
    public static IReadOnlyList<string> AddFromDocument(string container, string path) =>
    [
        $"INSERT OR IGNORE INTO {Table(container, path)} (pk, value, id) {ElementsOfDocument(container, path, "d.pk, e.value, d.id")}",
        $"INSERT INTO {Counts(container, path)} (pk, value, n) {ElementsOfDocument(container, path, "DISTINCT d.pk, e.value, 1")} " +
        "ON CONFLICT (pk, value) DO UPDATE SET n = n + 1",
    ];

    /// <summary>Removes the entries of the stored document @p0/@p1's elements and its counts (nothing when it is absent or holds none).</summary>
    public static IReadOnlyList<string> RemoveOfDocument(string container, string path) =>
    [
        $"UPDATE {Counts(container, path)} SET n = n - 1 WHERE pk = @p0 AND value IN ({ElementsOfDocument(container, path, "e.value")})",
        $"DELETE FROM {Table(container, path)} WHERE pk = @p0 AND id = @p1 AND value IN ({ElementsOfDocument(container, path, "e.value")})",
    ];

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
    public static IEnumerable<string> Drop(string container, string path) =>
        [$"DROP TABLE IF EXISTS {Table(container, path)}", $"DROP TABLE IF EXISTS {Counts(container, path)}"];

    /// <summary>How many documents of each partition hold each element (a row may stay at 0).</summary>
    private static string Counts(string container, string path) => $"\"doc_{container}_elc_{path}\"";

    /// <summary>How many documents of partition @p0 hold element @p1 (no row: none).</summary>
    public static string Holders(string container, string path) => $"SELECT n FROM {Counts(container, path)} WHERE pk = @p0 AND value = @p1";

    /// <summary>The prefix of every element table of a container, for finding stale ones in sqlite_master.</summary>
    public static string TablePrefix(string container) => $"doc_{container}_el_";

    /// <summary>True when the container's row being filtered holds the element.</summary>
    public static string Probe(string container, string path, string value)
    {
        var documents = SqliteSql.Table(container);
        return $"EXISTS (SELECT 1 FROM {Table(container, path)} AS e WHERE e.pk = {documents}.pk AND e.value = {value} AND e.id = {documents}.id)";
    }

    /// <summary>
    /// A condition that the row's id is one of the element's holders (the filter keeps its probe too): SQLite reads the
    /// holders once and seeks each in the index the rest of the filter uses (a folder's, by (pk, dir, id)), instead of
    /// reading every row of the folder from the table to probe it.
    /// </summary>
    public static string HeldBy(string container, string path, string partition, string value) =>
        $"id IN (SELECT id FROM {Table(container, path)} WHERE pk = {partition} AND value = {value})";

    /// <summary>
    /// The FROM clause of a page read from the element's entries: CROSS JOIN makes SQLite loop over them first (it never
    /// reorders a CROSS JOIN), and each finds its document by primary key. The filter still holds the element's probe.
    /// </summary>
    public static string DrivenFrom(string container, string path, string partition, string value) =>
        $"(SELECT id AS el_id FROM {Table(container, path)} WHERE pk = {partition} AND value = {value}) CROSS JOIN {SqliteSql.Table(container)} " +
        $"ON {SqliteSql.Table(container)}.pk = {partition} AND {SqliteSql.Table(container)}.id = el_id";
}
