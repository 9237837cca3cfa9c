using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>
/// Key columns (see SqliteFields): the indexed values read from them must always equal the body's, whichever write
/// produced them, including writes that leave some keys alone and files from before key columns.
/// </summary>
public sealed class SqliteKeysTests : IDisposable
{
    private readonly SqliteTempFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>Values of every JSON type at an indexed path, written as raw text so their exact tokens are kept.</summary>
    public static TheoryData<string> Values => new()
    {
        "\"plain\"", "\"\\u00e9t\\u00e9 \\\"quoted\\\" \\\\ \\n tab\\t\"", "\"\"", "0", "-17", "9007199254740993", "123456789012345678901234567890",
        "1.50", "1e2", "-0.0", "2.5E-3", "true", "false", "null", "{\"a\":1, \"b\":[1,2]}", "[1, \"x\", null]", "{}", "[]", "{\"\u00e9\":\"\u00fc \\u00e9\"}", "[\"\\ud83d\\ude00\"]", "\"\\ud83d\\ude00\"", "\"\\ud800x\"", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    };

    [Theory]
    [MemberData(nameof(Values))]
    public async Task Keys_EveryJsonType_ReadAsTheBodyReadsIt(string value)
    {
        var path = _files.NewPath();
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["v", "meta.v"]));
            if (!value.Contains("\\ud800x", StringComparison.Ordinal))
            {
                // A lone surrogate cannot be written through a JsonObject (System.Text.Json refuses to serialize it); raw bodies can hold one.
                var body = JsonNode.Parse($"{{\"v\":{value},\"meta\":{{\"v\":{value}}}}}")!.AsObject();
                await store.Container("items").CreateAsync("p1", "d1", body);
            }

            await store.Container("items").ExecuteBatchAsync("p1", [BatchOperation.CreateRaw("d2", System.Text.Encoding.UTF8.GetBytes($"{{\"id\":\"d2\",\"pk\":\"p1\",\"v\":{value},\"meta\":{{\"v\":{value}}}}}"))]);
        }

        Assert.Equal(0L, Mismatches(path));
    }

    /// <summary><see cref="Values"/> a patch can carry: a lone surrogate cannot travel in a JsonNode.</summary>
    public static TheoryData<string> PatchableValues => [.. ((IEnumerable<object[]>)Values).Select(row => (string)row[0]).Where(v => !v.Contains("\\ud800x", StringComparison.Ordinal))];

    [Theory]
    [MemberData(nameof(PatchableValues))]
    public async Task PatchInSql_EveryJsonTypeSetOrRemovedAtAnIndexedPath_KeysReadAsTheBodyReadsIt(string value)
    {
        // Patches without a result run as one SQL statement (SqlitePatch.InSql) that sets the key columns it reaches:
        // the path itself, an object holding one, and a removed key.
        var path = _files.NewPath();
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["v", "meta.v"]));
            var items = store.Container("items");
            foreach (var id in new[] { "whole", "nested" })
            {
                await items.CreateAsync("p1", id, new JsonObject { ["v"] = "old", ["meta"] = new JsonObject { ["v"] = "old" } });
            }

            await items.ExecuteBatchAsync("p1", [
                BatchOperation.PatchWithoutResult("whole", [PatchOperation.Set("v", JsonNode.Parse(value)), PatchOperation.Set("meta", JsonNode.Parse($"{{\"v\":{value}}}"))]),
                BatchOperation.PatchWithoutResult("nested", [PatchOperation.Set("meta.v", JsonNode.Parse(value)), PatchOperation.Remove("v")]),
            ]);
            Assert.Empty((await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("v", "old"), null, 10))).Items);
            Assert.Empty((await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("meta.v", "old"), null, 10))).Items);
        }

        Assert.Equal(0L, Mismatches(path));
    }

    /// <summary>
    /// Every comparison on an indexed path (whose type guard reads the key column, and the body only where the column is
    /// ambiguous) matches exactly what it matches on the same values at a path that is not indexed: documents holding a
    /// value of every JSON type, including strings that look like arrays or objects and numbers that look like booleans.
    /// </summary>
    [Fact]
    public async Task Filters_IndexedPath_MatchWhatTheUnindexedPathMatches()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["v"]));
        var items = store.Container("items");
        string[] values = [.. Values, "\"[1]\"", "\"{x\"", "\"[\"", "1", "1.0", "0", "0.5", "true", "false", "\"1\"", "\"true\""];
        await items.ExecuteBatchAsync("p1", [.. values.Select((value, i) => BatchOperation.CreateRaw(
            $"d{i}", System.Text.Encoding.UTF8.GetBytes($"{{\"id\":\"d{i}\",\"pk\":\"p1\",\"v\":{value},\"u\":{value}}}")))]);
        JsonNode?[] probes = ["plain", "", "[", "[1]", "{x", "{", "1", "true", 0, 1, 1.5, -17, 100, true, false, null];
        var filters = new List<Func<string, Filter>>();
        foreach (var probe in probes)
        {
            filters.AddRange([p => Filter.Eq(p, probe?.DeepClone()), p => Filter.Ne(p, probe?.DeepClone()), p => Filter.Gt(p, probe?.DeepClone()),
                p => Filter.Gte(p, probe?.DeepClone()), p => Filter.Lt(p, probe?.DeepClone()), p => Filter.Lte(p, probe?.DeepClone())]);
        }

        filters.Add(p => Filter.In(p, [.. probes.Select(x => x?.DeepClone())]));
        filters.Add(p => Filter.NotIn(p, [.. probes.Select(x => x?.DeepClone())]));
        foreach (var filter in filters)
        {
            async Task<string> Ids(string path) => string.Join(',', (await items.QueryAsync(new DocumentQuery("p1", filter(path), [new SortField("id")], 1000))).Items.Select(d => d.Id));
            Assert.Equal(await Ids("u"), await Ids("v"));
            Assert.Equal(await items.CountAsync("p1", filter("u")), await items.CountAsync("p1", filter("v")));
        }
    }

    [Fact]
    public async Task Keys_PathsThroughArraysOrMissing_ReadAsNull()
    {
        var path = _files.NewPath();
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["v", "meta.v"]));
            await store.Container("items").CreateAsync("p1", "d1", new JsonObject { ["meta"] = new JsonArray(new JsonObject { ["v"] = 1 }) });
            await store.Container("items").CreateAsync("p1", "d2", new JsonObject { ["meta"] = "text" });
            await store.Container("items").CreateAsync("p1", "d3", []);
        }

        Assert.Equal(0L, Mismatches(path));
    }

    [Fact]
    public async Task Write_IndexedValueChanged_FiltersSeeOnlyTheNewValue()
    {
        // Arrange: each kind of write moves one document from "old" to "new" on an indexed path (the patch leaves the
        // other indexed path as it was); other writes change only the other indexed path or nothing indexed.
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["status", "note"]));
        var items = store.Container("items");
        foreach (var id in new[] { "replace", "upsert", "upsertIfMatch", "patch", "batchReplace", "untouched" })
        {
            await items.CreateAsync("p1", id, new JsonObject { ["status"] = "old", ["note"] = 1 });
        }

        // Act
        await items.ReplaceAsync("p1", "replace", new JsonObject { ["status"] = "new" });
        await items.UpsertAsync("p1", "upsert", new JsonObject { ["status"] = "new" });
        var current = await items.ReadAsync("p1", "upsertIfMatch");
        await items.UpsertAsync("p1", "upsertIfMatch", new JsonObject { ["status"] = "new" }, current!.ETag);
        await items.PatchAsync("p1", "patch", [PatchOperation.Set("status", "new")]);
        await items.ExecuteBatchAsync("p1", [BatchOperation.Replace("batchReplace", new JsonObject { ["status"] = "new" })]);
        await items.ReplaceAsync("p1", "untouched", new JsonObject { ["status"] = "old", ["note"] = 2 });
        await items.UpsertAsync("p1", "untouched", new JsonObject { ["status"] = "old", ["note"] = 3 });
        await items.PatchAsync("p1", "untouched", [PatchOperation.Increment("note", 1)]);

        // Assert
        async Task<string[]> Ids(string status) =>
            [.. (await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("status", status), [new SortField("id")], 100))).Items.Select(d => d.Id)];
        Assert.Equal(["batchReplace", "patch", "replace", "upsert", "upsertIfMatch"], await Ids("new"));
        Assert.Equal(["untouched"], await Ids("old"));
        var notes = await items.QueryAsync(new DocumentQuery("p1", Filter.Gte("note", 1), [new SortField("id")], 100));
        Assert.Equal(["patch:1", "untouched:4"], notes.Items.Select(d => $"{d.Id}:{d.Body["note"]}"));
        Assert.Equal(4L, (await items.ReadAsync("p1", "untouched"))!.Body["note"]!.GetValue<long>());
    }

    [Fact]
    public async Task Write_StaleETagWithUnchangedKeys_FailsAndChangesNothing()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["status"]));
        var items = store.Container("items");
        var first = await items.CreateAsync("p1", "d1", new JsonObject { ["status"] = "open", ["note"] = 1 });
        await items.ReplaceAsync("p1", "d1", new JsonObject { ["status"] = "open", ["note"] = 2 });

        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => items.ReplaceAsync("p1", "d1", new JsonObject { ["status"] = "open", ["note"] = 3 }, first.ETag));
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => items.UpsertAsync("p1", "d1", new JsonObject { ["status"] = "done", ["note"] = 3 }, first.ETag));
        await Assert.ThrowsAsync<DocumentNotFoundException>(() => items.ReplaceAsync("p1", "absent", new JsonObject { ["status"] = "open" }));

        Assert.Equal(2L, (await items.ReadAsync("p1", "d1"))!.Body["note"]!.GetValue<long>());
        Assert.Single((await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("status", "open"), null, 10))).Items);
    }

    [Fact]
    public async Task Write_UpdatesAlternatingBetweenMovedAndUnchangedKeys_KeysRightAndStaleETagsRefusedEitherWay()
    {
        // Updates that move a key and updates that keep them, one after another, each also tried at a stale ETag.
        var path = _files.NewPath();
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["status", "note"]));
            var items = store.Container("items");
            var doc = await items.CreateAsync("p1", "d1", new JsonObject { ["status"] = "s0", ["note"] = 0 });
            for (var i = 1; i <= 12; i++)
            {
                var stale = doc.ETag;
                var status = i % 3 == 0 ? doc.Body["status"]!.GetValue<string>() : $"s{i}";
                doc = await items.ReplaceAsync("p1", "d1", new JsonObject { ["status"] = status, ["note"] = i % 2 }, doc.ETag);
                await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => items.ReplaceAsync("p1", "d1", new JsonObject { ["status"] = "x", ["note"] = 9 }, stale));
                await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => items.ReplaceAsync("p1", "d1", new JsonObject { ["status"] = status, ["note"] = i % 2 }, stale));
                Assert.Single((await items.QueryAsync(new DocumentQuery("p1", Filter.And(Filter.Eq("status", status), Filter.Eq("note", i % 2)), null, 10))).Items);
            }
        }

        Assert.Equal(0L, Mismatches(path, "status", "note"));
    }

    [Fact]
    public async Task EnsureContainer_FileFromBeforeTheKeysColumn_GainsKeysAndIndexesOverThem()
    {
        // Arrange: the schema and an index as the previous version wrote them, with two documents.
        var path = _files.NewPath();
        using (var connection = SqliteTempFiles.Open(path))
        {
            Execute(connection, "CREATE TABLE \"doc_items\" (pk TEXT NOT NULL, id TEXT NOT NULL, etag TEXT NOT NULL, body NOT NULL, PRIMARY KEY (pk, id))");
            Execute(connection, "CREATE INDEX \"doc_items_ix_status\" ON \"doc_items\" (pk, json_extract(body,'$.status'), id) WHERE json_extract(body,'$.status') IS NOT NULL");
            Execute(connection, "INSERT INTO \"doc_items\" VALUES ('p1', 'd1', '\"e1\"', jsonb('{\"id\":\"d1\",\"pk\":\"p1\",\"status\":\"open\",\"size\":1.50}'))");
            Execute(connection, "INSERT INTO \"doc_items\" VALUES ('p1', 'd2', '\"e2\"', jsonb('{\"id\":\"d2\",\"pk\":\"p1\",\"status\":null,\"size\":{\"a\":[1]}}'))");
        }

        // Act
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["status", "size"]));
            var items = store.Container("items");

            // Assert: found through the new index; a keys-unchanged write still works on the migrated rows.
            Assert.Equal(["d1"], (await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("status", "open"), null, 10))).Items.Select(d => d.Id));
            Assert.Equal(["d1"], (await items.QueryAsync(new DocumentQuery("p1", Filter.Gt("size", 1), null, 10))).Items.Select(d => d.Id));
            await items.PatchAsync("p1", "d2", [PatchOperation.Set("note", "x")]);
            await items.PatchAsync("p1", "d1", [PatchOperation.Set("status", "done")]);
            Assert.Equal(["d1"], (await items.QueryAsync(new DocumentQuery("p1", Filter.Eq("status", "done"), null, 10))).Items.Select(d => d.Id));
        }

        Assert.Equal(0L, Mismatches(path, "status", "size"));
        using var check = SqliteTempFiles.Open(path);
        Assert.Contains("\"k.status\"", (string)Scalar(check, "SELECT sql FROM sqlite_master WHERE name = 'doc_items_ix_status'"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureContainer_NewIndexedPath_KeysOfExistingDocumentsHoldIt()
    {
        var path = _files.NewPath();
        await using (var old = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await old.EnsureContainerAsync(new ContainerSpec("items", ["kind"]));
            await old.Container("items").CreateAsync("p1", "d1", new JsonObject { ["kind"] = "a", ["status"] = "open" });
            await old.Container("items").CreateAsync("p1", "d2", new JsonObject { ["kind"] = "a", ["status"] = "done" });
        }

        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["kind", "status"]));

        Assert.Equal(["d1"], (await store.Container("items").QueryAsync(new DocumentQuery("p1", Filter.Eq("status", "open"), null, 10))).Items.Select(d => d.Id));
        Assert.Equal(0L, Mismatches(path, "kind", "status"));
    }

    [Fact]
    public async Task Container_OpenedWithoutEnsure_WritesTheStoredKeys()
    {
        // A second store on the file that never ensures the container still writes keys that its indexes read.
        var path = _files.NewPath();
        await using (var first = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await first.EnsureContainerAsync(new ContainerSpec("items", ["status"]));
        }

        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.Container("items").CreateAsync("p1", "d1", new JsonObject { ["status"] = "open" });

        Assert.Single((await store.Container("items").QueryAsync(new DocumentQuery("p1", Filter.Eq("status", "open"), null, 10))).Items);
    }

    /// <summary>Documents whose keys read differently from their bodies at <paramref name="paths"/> (default: v and meta.v).</summary>
    private static long Mismatches(string path, params string[] paths)
    {
        paths = paths.Length == 0 ? ["v", "meta.v"] : paths;
        using var connection = SqliteTempFiles.Open(path);
        var differs = string.Join(" OR ", paths.Select(p => $"\"k.{p}\" IS NOT json_extract(body,'$.{p}')"));
        Assert.True((long)Scalar(connection, "SELECT count(*) FROM \"doc_items\"") > 0);
        return (long)Scalar(connection, $"SELECT count(*) FROM \"doc_items\" WHERE {differs}");
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Fixed test SQL.
        command.CommandText = sql;
#pragma warning restore CA2100
        command.ExecuteNonQuery();
    }

    private static object Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Fixed test SQL.
        command.CommandText = sql;
#pragma warning restore CA2100
        return command.ExecuteScalar()!;
    }
}
