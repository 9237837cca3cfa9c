using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>
/// The SQLite store's index of array elements (<see cref="ContainerSpec.ElementIndexedPaths"/>): kept by every kind of
/// write, filled for documents stored before it was declared, and read either per row or as a page's driving table,
/// with the same results as reading the bodies.
/// </summary>
public sealed class SqliteElementIndexTests : IDisposable
{
    private static readonly string[] Values = ["a", "b", "c", "d", "xy", "ab"];
    private readonly SqliteTempFiles _files = new();

    public void Dispose() => _files.Dispose();

    private static JsonObject Doc(string json) => JsonNode.Parse(json)!.AsObject();

    /// <summary>The same writes to a container with the element index and to one without: what HasElement finds must agree.</summary>
    private static async Task WriteEverywayAsync(IDocumentContainer container)
    {
        await container.CreateAsync("p1", "create", Doc("""{"tags":["a","b","a"]}"""));
        await container.CreateAsync("p1", "string", Doc("""{"tags":"xy"}"""));
        await container.CreateAsync("p1", "none", Doc("""{"name":"n"}"""));
        await container.CreateAsync("p1", "mixed", Doc("""{"tags":["c",1,null,["d"],{"d":1},"d"]}"""));
        await container.CreateAsync("p2", "other", Doc("""{"tags":["a"]}"""));

        await container.CreateAsync("p1", "replaced", Doc("""{"tags":["a"]}"""));
        await container.ReplaceAsync("p1", "replaced", Doc("""{"tags":["b","c"]}"""));
        await container.UpsertAsync("p1", "upserted-new", Doc("""{"tags":["ab"]}"""));
        await container.CreateAsync("p1", "upserted", Doc("""{"tags":["a","b"]}"""));
        await container.UpsertAsync("p1", "upserted", Doc("""{"tags":["b"]}"""));
        await container.CreateAsync("p1", "to-string", Doc("""{"tags":["a"]}"""));
        await container.ReplaceAsync("p1", "to-string", Doc("""{"tags":"a"}"""));
        await container.CreateAsync("p1", "from-string", Doc("""{"tags":"b"}"""));
        await container.ReplaceAsync("p1", "from-string", Doc("""{"tags":["b"]}"""));

        await container.CreateAsync("p1", "patched", Doc("""{"tags":["a"],"n":1}"""));
        await container.PatchAsync("p1", "patched", [new PatchOperation(PatchKind.Set, "tags", new JsonArray("c", "d"))]);
        await container.CreateAsync("p1", "patched-other", Doc("""{"tags":["a"],"n":1}"""));
        await container.PatchAsync("p1", "patched-other", [new PatchOperation(PatchKind.Increment, "n", 1)]);
        await container.CreateAsync("p1", "patched-away", Doc("""{"tags":["a"],"n":1}"""));
        await container.PatchAsync("p1", "patched-away", [new PatchOperation(PatchKind.Remove, "tags")]);

        await container.CreateAsync("p1", "deleted", Doc("""{"tags":["a","d"]}"""));
        await container.DeleteAsync("p1", "deleted");
        await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("batched", Doc("""{"tags":["d"]}""")),
            BatchOperation.PatchOf("create", [new PatchOperation(PatchKind.Set, "tags", new JsonArray("a", "xy"))]),
            BatchOperation.Delete("mixed"),
            BatchOperation.PatchWithoutResult("patched-away", [new PatchOperation(PatchKind.Set, "tags", new JsonArray("ab"))]),
            BatchOperation.PatchWithoutResult("upserted-new", [new PatchOperation(PatchKind.Set, "n", 2)]),
        ]);

        // Writes that fail leave the entries as they were.
        var stale = (await container.ReadAsync("p1", "replaced"))!.ETag + "x";
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.ReplaceAsync("p1", "replaced", Doc("""{"tags":["d"]}"""), stale));
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.UpsertAsync("p1", "replaced", Doc("""{"tags":["d"]}"""), stale));
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.DeleteAsync("p1", "replaced", stale));
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.PatchAsync("p1", "replaced", [new PatchOperation(PatchKind.Set, "tags", new JsonArray("d"))], stale));

        // A batch that fails undoes its element entries with its documents.
        await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("rolled-back", Doc("""{"tags":["a"]}""")),
            BatchOperation.Create("create", Doc("""{"tags":["b"]}""")),
        ]));
    }

    private static async Task<string[]> HoldersAsync(IDocumentContainer container, string? partition, string value)
    {
        var page = await container.QueryAsync(new DocumentQuery(partition, Filter.HasElement("tags", value), PageSize: 1000));
        return [.. page.Items.Select(d => d.Id)];
    }

    [Fact]
    public async Task Writes_OfEveryKind_LeaveTheIndexFindingWhatTheBodiesHold()
    {
        // Arrange
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("indexed", [], ElementIndexedPaths: ["tags"]));
        await store.EnsureContainerAsync(new ContainerSpec("plain", []));

        // Act
        await WriteEverywayAsync(store.Container("indexed"));
        await WriteEverywayAsync(store.Container("plain"));

        // Assert: the same holders as reading the bodies, and (checked by hand) the expected ones.
        foreach (var partition in new[] { "p1", "p2" })
        {
            foreach (var value in Values)
            {
                Assert.Equal(await HoldersAsync(store.Container("plain"), partition, value), await HoldersAsync(store.Container("indexed"), partition, value));
            }
        }

        foreach (var value in Values)
        {
            // Across partitions the filter probes the index row by row (no partition's holders to read first).
            Assert.Equal(await HoldersAsync(store.Container("plain"), null, value), await HoldersAsync(store.Container("indexed"), null, value));
        }

        Assert.Equal(["create", "patched-other"], await HoldersAsync(store.Container("indexed"), "p1", "a"));
        Assert.Equal(["from-string", "replaced", "upserted"], await HoldersAsync(store.Container("indexed"), "p1", "b"));
        Assert.Equal(["batched", "patched"], await HoldersAsync(store.Container("indexed"), "p1", "d"));
        Assert.Equal(["create"], await HoldersAsync(store.Container("indexed"), "p1", "xy"));
        Assert.Equal(["patched-away", "upserted-new"], await HoldersAsync(store.Container("indexed"), "p1", "ab"));
        Assert.Equal(EntriesDerivedFromBodies(path, "indexed"), Entries(path, "indexed"));
        Assert.Equal(CountsDerivedFromEntries(path, "indexed"), Counts(path, "indexed"));
    }

    [Fact]
    public async Task EnsureContainer_IndexDeclaredLater_FilledFromStoredDocuments_DroppedWhenNoLongerDeclared()
    {
        // Arrange: documents stored before the container declared the index.
        var path = _files.NewPath();
        await using (var before = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await before.EnsureContainerAsync(new ContainerSpec("items", []));
            await WriteEverywayAsync(before.Container("items"));
        }

        // Act
        await using (var declared = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await declared.EnsureContainerAsync(new ContainerSpec("items", [], ElementIndexedPaths: ["tags"]));

            // Assert: every stored element is in the index, and later writes keep it.
            Assert.Equal(EntriesDerivedFromBodies(path, "items"), Entries(path, "items"));
            Assert.Equal(CountsDerivedFromEntries(path, "items"), Counts(path, "items"));
            await declared.Container("items").PatchAsync("p1", "none", [new PatchOperation(PatchKind.Set, "tags", new JsonArray("a"))]);
            Assert.Equal(["create", "none", "patched-other"], await HoldersAsync(declared.Container("items"), "p1", "a"));
        }

        await using var undeclared = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await undeclared.EnsureContainerAsync(new ContainerSpec("items", []));
        Assert.Equal(0L, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'doc_items_el%'"));
        Assert.Equal(["create", "none", "patched-other"], await HoldersAsync(undeclared.Container("items"), "p1", "a"));
    }

    [Fact]
    public async Task Container_OpenedWithoutItsSpec_WritesKeepTheFilesElementIndex()
    {
        // Arrange
        var path = _files.NewPath();
        await using (var declared = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await declared.EnsureContainerAsync(new ContainerSpec("items", [], ElementIndexedPaths: ["tags"]));
        }

        // Act: another instance writes without ensuring the container.
        await using var opened = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await WriteEverywayAsync(opened.Container("items"));

        // Assert
        Assert.Equal(EntriesDerivedFromBodies(path, "items"), Entries(path, "items"));
        Assert.Equal(CountsDerivedFromEntries(path, "items"), Counts(path, "items"));
        Assert.Equal(["batched", "patched"], await HoldersAsync(opened.Container("items"), "p1", "d"));
    }

    [Fact]
    public async Task Query_ScarceElement_PageReadFromItsEntries_CommonerElement_NarrowedToItsHolders_SamePagesEitherWay()
    {
        // Arrange: "scarce" on 7 documents, "common" on 2 of 3 (more than the drive limit), names in no order of the ids.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["name"], ElementIndexedPaths: ["tags"]));
        var container = (SqliteDocumentContainer)store.Container("items");
        var count = (SqliteElementIndex.DriveLimit * 3 / 2) + 30;
        var names = new Dictionary<string, string>();
        var tags = new Dictionary<string, string[]>();
        for (var start = 0; start < count; start += 99)
        {
            var batch = new List<BatchOperation>();
            for (var i = start; i < Math.Min(count, start + 99); i++)
            {
                var id = $"d{i:D5}";
                names[id] = $"n{i * 7919 % count:D5}";
                tags[id] = [.. new[] { i % 3 != 0 ? "common" : null, i % 700 == 5 ? "scarce" : null }.OfType<string>()];
                batch.Add(BatchOperation.Create(id, new JsonObject { ["name"] = names[id], ["tags"] = new JsonArray([.. tags[id].Select(t => JsonValue.Create(t))]) }));
            }

            await container.ExecuteBatchAsync("p1", batch);
        }

        DocumentQuery Query(string tag, string? token) => new("p1", Filter.And(Filter.HasElement("tags", tag), Filter.Gte("name", "")), [new SortField("name")], PageSize: 3, ContinuationToken: token);
        using var session = new SqliteSession(path, readOnly: true);

        foreach (var (tag, driven) in new[] { ("scarce", true), ("common", false) })
        {
            // Act
            var read = container.ElementReadFor(session, Query(tag, null));
            var ids = new List<string>();
            string? token = null;
            do
            {
                var page = await container.QueryAsync(Query(tag, token));
                ids.AddRange(page.Items.Select(d => d.Id));
                token = page.ContinuationToken;
            }
            while (token is not null && ids.Count < 30);

            // Assert: the scarce element drives the page (its entries read first, then sorted); the common one (more holders
            // than the drive limit, fewer than the held-by limit) narrows it to its holders.
            Assert.NotNull(read);
            Assert.Equal(driven, read.Drives);
            var chosen = SqliteQueryBuilder.BuildPage("items", container.Fields, Query(tag, null), read);
            if (driven)
            {
                Assert.StartsWith("SEARCH doc_items_el_tags USING PRIMARY KEY (pk=? AND value=?)", SqliteDocumentStoreTests.ExplainQueryPlan(path, chosen), StringComparison.Ordinal);
            }
            else
            {
                Assert.Contains("id IN (SELECT id FROM \"doc_items_el_tags\"", chosen.Sql, StringComparison.Ordinal);
                Assert.Contains("LIST SUBQUERY", SqliteDocumentStoreTests.ExplainQueryPlan(path, chosen), StringComparison.Ordinal);
            }

            var expected = tags.Where(t => t.Value.Contains(tag)).Select(t => t.Key).OrderBy(id => names[id], StringComparer.Ordinal).Take(ids.Count).ToList();
            Assert.Equal(expected, ids);
            Assert.True(ids.Count >= 7, $"{tag}: read {ids.Count} documents");
        }
    }

    private static List<string> Entries(string path, string container) =>
        Rows(path, $"SELECT pk || '|' || value || '|' || id FROM \"doc_{container}_el_tags\" ORDER BY 1");

    private static List<string> EntriesDerivedFromBodies(string path, string container) =>
        Rows(path, $"SELECT DISTINCT d.pk || '|' || e.value || '|' || d.id FROM \"doc_{container}\" AS d, json_each(d.body, '$.tags') AS e " +
                   "WHERE json_type(d.body, '$.tags') = 'array' AND e.type = 'text' ORDER BY 1");

    private static List<string> Counts(string path, string container) =>
        Rows(path, $"SELECT pk || '|' || value || '|' || n FROM \"doc_{container}_elc_tags\" WHERE n > 0 ORDER BY 1");

    private static List<string> CountsDerivedFromEntries(string path, string container) =>
        Rows(path, $"SELECT pk || '|' || value || '|' || count(*) FROM \"doc_{container}_el_tags\" GROUP BY pk, value ORDER BY 1");

    private static List<string> Rows(string path, string sql)
    {
        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Test SQL over names the test chose.
        command.CommandText = sql;
#pragma warning restore CA2100
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static long Scalar(string path, string sql)
    {
        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Test SQL.
        command.CommandText = sql;
#pragma warning restore CA2100
        return (long)command.ExecuteScalar()!;
    }
}
