using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>A temp folder holding one SQLite file per store a test opens; deleted afterwards.</summary>
internal sealed class SqliteTempFiles : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sqlite-docs-").FullName;

    public string NewPath() => Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".db");

    /// <summary>A connection of the test's own to a store's file (not pooled, so the file can be deleted afterwards).</summary>
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}

public sealed class SqliteDocumentCrudTests : DocumentCrudConformanceTests, IDisposable
{
    private readonly SqliteTempFiles _files = new();

    protected override Task<IDocumentStore> CreateStoreAsync() =>
        Task.FromResult<IDocumentStore>(new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath())));

    public void Dispose() => _files.Dispose();
}

public sealed class SqliteDocumentQueryTests : DocumentQueryConformanceTests, IDisposable
{
    private readonly SqliteTempFiles _files = new();

    protected override Task<IDocumentStore> CreateStoreAsync() =>
        Task.FromResult<IDocumentStore>(new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath())));

    public void Dispose() => _files.Dispose();
}

public sealed class SqliteDocumentBatchTests : DocumentBatchConformanceTests, IDisposable
{
    private readonly SqliteTempFiles _files = new();

    protected override Task<IDocumentStore> CreateStoreAsync() =>
        Task.FromResult<IDocumentStore>(new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath())));

    public void Dispose() => _files.Dispose();
}

/// <summary>What only the SQLite adapter promises: its file layout, pragmas and query plans.</summary>
public sealed class SqliteDocumentStoreTests : IDisposable
{
    private readonly SqliteTempFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Open_NewFile_UsesWalJournal()
    {
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));

        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.Equal("wal", command.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Write_StoreStaysOpen_WalCopiedIntoDatabaseInTheBackground()
    {
        // Arrange: the writer never checkpoints (wal_autocheckpoint=0), so only the background checkpointer can move
        // the ~4 MB written below from the WAL into the database file while the store is open.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", []));
        var before = new FileInfo(path).Length;
        var padding = new string('x', 4000);

        // Act
        for (var batch = 0; batch < 10; batch++)
        {
            await store.Container("items").ExecuteBatchAsync("p1", [.. Enumerable.Range(0, 100).Select(i => BatchOperation.Create($"d{batch}-{i}", new JsonObject { ["pad"] = padding }))]);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (new FileInfo(path).Length < before + 4_000_000 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        // Assert
        Assert.InRange(new FileInfo(path).Length, before + 4_000_000, long.MaxValue);
        Assert.Equal(1000L, await store.Container("items").CountAsync("p1", null));
    }

    [Fact]
    public async Task Write_NeverPausing_WalStartsOverInsteadOfGrowing()
    {
        // Arrange: writes that follow each other without a pause until the WAL started over twice (the checkpointer
        // passes every 500 ms and has the writer finish from 32 MB of WAL), or 1.5 GB, or 60 s: a loaded machine
        // writes ~15 MB/s, a quiet one ~90 MB/s. The same 10,000 documents are rewritten, so the database file stays
        // ~40 MB while the WAL takes every write.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", []));
        var padding = new string('x', 4000);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // Act
        var written = 0L;
        var restarts = 0u;
        for (var batch = 0; restarts < 2 && written < 1_500_000_000 && watch.Elapsed < TimeSpan.FromSeconds(60); batch++)
        {
            await store.Container("items").ExecuteBatchAsync("p1", [.. Enumerable.Range(0, 50).Select(i => BatchOperation.Upsert($"d{batch % 200}-{i}", new JsonObject { ["pad"] = padding }))]);
            written += 50 * 4000;
            if (batch % 20 == 19)
            {
                restarts = await ReadWalRestartsAsync(path);
            }
        }

        // Assert: before the writer finished checkpoints itself, the WAL never started over until writes paused.
        Assert.True(restarts >= 2, $"The WAL started over {restarts} times while {written:N0} bytes were written in {watch.Elapsed.TotalSeconds:F1} s.");
    }

    private static SqliteFields FieldsOf(SqliteDocumentStore store) => ((SqliteDocumentContainer)store.Container("items")).Fields;

    /// <summary>
    /// The WAL header's checkpoint sequence number (bytes 12-15, big-endian): the times the WAL started over.
    /// </summary>
    private static async Task<uint> ReadWalRestartsAsync(string path)
    {
        var header = new byte[16];
        await using var wal = new FileStream(path + "-wal", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        await wal.ReadExactlyAsync(header);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
    }

    [Fact]
    public async Task Dispose_Twice_SecondIsNoOp()
    {
        var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items", []));
        await store.Container("items").CreateAsync("p1", "d1", []);

        await store.DisposeAsync();
        var second = await Record.ExceptionAsync(async () => await store.DisposeAsync());

        Assert.Null(second);
    }

    /// <summary>
    /// Every descriptor of the store's files is closed on dispose, including the one the checkpointer flushes the database
    /// file through (which must outlive SQLite's connections: closing any descriptor of a file drops the process's POSIX
    /// locks on it). Reads the process's descriptor table, so it runs where /proc exists (Linux, as CI does).
    /// </summary>
    [Fact]
    public async Task Dispose_AfterWrites_ClosesEveryDescriptorOfItsFiles()
    {
        var path = _files.NewPath();
        var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await WriteNumbersAsync(store, []);
        var open = DescriptorsOf(path);

        await store.DisposeAsync();

        Assert.True(open >= 2, $"Only {open} descriptors of the database file were open while the store was (SQLite's and the checkpointer's expected).");
        Assert.Equal(0, DescriptorsOf(path));
    }

    /// <summary>Fifty documents <c>d0..d49</c> holding <c>n</c> = 0..49 in partition p1 of container "items".</summary>
    private static async Task WriteNumbersAsync(SqliteDocumentStore store, IReadOnlyList<string> indexedPaths)
    {
        await store.EnsureContainerAsync(new ContainerSpec("items", indexedPaths));
        await store.Container("items").ExecuteBatchAsync("p1", [.. Enumerable.Range(0, 50).Select(i => BatchOperation.Create($"d{i}", new JsonObject { ["n"] = i }))]);
    }

    /// <summary>Descriptors of this process open on the database file itself (not its -wal or -shm).</summary>
    private static int DescriptorsOf(string path) =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Count(fd =>
        {
            try
            {
                return fd.LinkTarget == Path.GetFullPath(path);
            }
            catch (IOException)
            {
                return false; // closed between listing and reading
            }
        });

    /// <summary>
    /// SQLite's memory statistics are off in this process (the store turns them off before its first connection; the
    /// module initializer below makes that first here too), so its allocations take no process-wide mutex: with them
    /// off SQLite counts no bytes, and the count of what it holds after writes and reads stays 0.
    /// </summary>
    [Fact]
    public async Task Store_AfterWritesAndReads_SqliteKeepsNoMemoryStatistics()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await WriteNumbersAsync(store, ["n"]);
        Assert.Equal(50, (await store.Container("items").QueryAsync(new DocumentQuery("p1", Filter.Gte("n", 0), null, 100))).Items.Count);

        Assert.Equal(0L, SQLitePCL.raw.sqlite3_memory_used());
    }

    /// <summary>
    /// Readers read pages with pread, not through mmap: SQLite unmaps a reader's whole mapping whenever another connection
    /// committed, so under steady writes a mapped reader unmapped and re-faulted the file on every query. The writer keeps
    /// its mapping (its own commits do not drop it).
    /// </summary>
    [Fact]
    public void Sessions_ReadersWithoutMmap_WriterWithIt()
    {
        var path = _files.NewPath();
        using var writer = new SqliteSession(path, readOnly: false);
        writer.Execute("PRAGMA journal_mode=WAL");
        using var reader = new SqliteSession(path, readOnly: true);

        Assert.Equal(0L, (long)reader.Command("PRAGMA mmap_size").ExecuteScalar()!);
        Assert.True((long)writer.Command("PRAGMA mmap_size").ExecuteScalar()! > 1L << 30);
    }

    [Fact]
    public async Task Reopen_AfterDispose_KeepsDocumentsAndContainers()
    {
        var path = _files.NewPath();
        string etag;
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["status"]));
            etag = (await store.Container("items").CreateAsync("p1", "doc1", new JsonObject { ["status"] = "open" })).ETag;
        }

        await using var reopened = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        var read = await reopened.Container("items").ReadAsync("p1", "doc1");

        Assert.NotNull(read);
        Assert.Equal(etag, read.ETag);
        Assert.Equal("open", (string?)read.Body["status"]);
    }

    [Fact]
    public async Task Container_NeverEnsured_ThrowsInvalidDocument()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));

        var error = Assert.Throws<InvalidDocumentException>(() => store.Container("missing"));

        Assert.Contains("EnsureContainerAsync", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_OpenStore_ReturnsTrue()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));

        Assert.True(await store.PingAsync());
    }

    [Fact]
    public async Task Create_CallerBody_IsNotMutated()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items"));
        var body = new JsonObject { ["v"] = 1 };

        await store.Container("items").CreateAsync("p1", "doc1", body);

        Assert.False(body.ContainsKey("id"));
        Assert.False(body.ContainsKey("pk"));
    }

    [Theory]
    [InlineData("eq", "doc_items_ix_status", "=?")]
    [InlineData("in", "doc_items_ix_status", "=?")]
    [InlineData("startsWith", "doc_items_ix_status", ">?")]
    [InlineData("gt", "doc_items_ix_meta.size", ">?")]
    [InlineData("lte", "doc_items_ix_meta.size", "<?")]
    public async Task QueryPlan_FilterOnIndexedPath_IndexServesTheFilter(string op, string index, string constraint)
    {
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["status", "meta.size"]));
        var container = store.Container("items");
        for (var i = 0; i < 20; i++)
        {
            await container.CreateAsync("p1", $"d{i}", new JsonObject { ["status"] = $"s{i % 10}", ["meta"] = new JsonObject { ["size"] = i } });
        }

        Filter filter = op switch
        {
            "eq" => Filter.Eq("status", "s3"),
            "in" => Filter.In("status", "s1", "s2"),
            "startsWith" => Filter.StartsWith("status", "s1"),
            "gt" => Filter.Gt("meta.size", 15),
            _ => Filter.Lte("meta.size", 2),
        };
        var query = new DocumentQuery("p1", filter, PageSize: 100);
        var page = SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query);

        var plan = ExplainQueryPlan(path, page, indexedBy: index);

        var expression = index.EndsWith("status", StringComparison.Ordinal) ? "\"k.status\"" : "\"k.meta.size\"";
        Assert.Contains($"USING INDEX {index} (pk=? AND {expression.Trim('"')}{constraint}", plan, StringComparison.Ordinal);
        Assert.Contains(expression, page.Sql, StringComparison.Ordinal);
        Assert.NotEmpty((await container.QueryAsync(query)).Items);
    }

    [Fact]
    public async Task QueryPlan_EqualityOnIndexedPathOrderedById_NeedsNoSortStep()
    {
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["status"]));
        var operations = Enumerable.Range(0, 100)
            .Select(i => BatchOperation.Create($"d{i}", new JsonObject { ["status"] = i % 50 == 0 ? "open" : $"closed{i}" })).ToList();
        await store.Container("items").ExecuteBatchAsync("p1", operations);
        var first = SqliteQueryBuilder.BuildPage("items", FieldsOf(store), new DocumentQuery("p1", Filter.Eq("status", "open")));

        var plan = ExplainQueryPlan(path, first);

        Assert.Contains("USING INDEX doc_items_ix_status", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureContainer_PathNoLongerDeclared_IndexDroppedOthersKept()
    {
        // Arrange: a file whose "items" container was indexed on kind and status, and another container's index.
        var path = _files.NewPath();
        await using (var old = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await old.EnsureContainerAsync(new ContainerSpec("items", ["kind", "status"]));
            await old.EnsureContainerAsync(new ContainerSpec("items-x", ["kind"]));
            await old.Container("items").CreateAsync("p1", "d1", new JsonObject { ["kind"] = "a", ["status"] = "open" });
        }

        // Act
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["status"]));
        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'doc_items%' ORDER BY name";
        var names = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
        }

        // Assert
        Assert.Equal(["doc_items-x_ix_kind", "doc_items_ix_status"], names);
        Assert.Single((await store.Container("items").QueryAsync(new DocumentQuery("p1", Filter.Eq("kind", "a"), null, 10))).Items);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QueryPlan_RangeFilterSortedOnSamePath_IndexReturnsRowsInOrderWithoutSort(bool descending)
    {
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["kind", "meta.size"]));
        var operations = Enumerable.Range(0, 90)
            .Select(i => BatchOperation.Create($"d{i:D2}", new JsonObject { ["kind"] = "item", ["meta"] = new JsonObject { ["size"] = i % 30 } })).ToList();
        await store.Container("items").ExecuteBatchAsync("p1", operations);
        var query = new DocumentQuery("p1", Filter.And(Filter.Eq("kind", "item"), Filter.Gte("meta.size", 10), Filter.Lt("meta.size", 20)),
            [new SortField("meta.size", descending)], PageSize: 7);

        var plan = ExplainQueryPlan(path, SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query));
        var rows = new List<(long Size, string Id)>();
        string? token = null;
        do
        {
            var page = await store.Container("items").QueryAsync(query with { ContinuationToken = token });
            rows.AddRange(page.Items.Select(d => (d.Body["meta"]!["size"]!.GetValue<long>(), d.Id)));
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Contains("USING INDEX doc_items_ix_meta.size", plan, StringComparison.Ordinal);
        if (!descending)
        {
            // Descending with the ascending id tie-break cannot come straight from one index: SQLite sorts, still correct.
            Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
        }

        var expected = Enumerable.Range(0, 90).Where(i => i % 30 is >= 10 and < 20)
            .Select(i => ((long)(i % 30), $"d{i:D2}"))
            .OrderBy(r => descending ? -r.Item1 : r.Item1).ThenBy(r => r.Item2, StringComparer.Ordinal).ToList();
        Assert.Equal(expected, rows);
    }

    [Fact]
    public async Task EnsureContainer_FileWithOlderFullIndex_ReplacedByPartialIndex()
    {
        var path = _files.NewPath();
        using (var connection = SqliteTempFiles.Open(path))
        {
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE \"doc_items\" (pk TEXT NOT NULL, id TEXT NOT NULL, etag TEXT NOT NULL, body NOT NULL, PRIMARY KEY (pk, id));" +
                "CREATE INDEX \"doc_items_ix_status\" ON \"doc_items\" (pk, json_extract(body,'$.status'), id);";
            command.ExecuteNonQuery();
        }

        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["status"], [["status", "kind"]]));
        }

        using var check = SqliteTempFiles.Open(path);
        using var read = check.CreateCommand();
        read.CommandText = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'doc_items_ix_%' ORDER BY name";
        using var reader = read.ExecuteReader();
        var indexes = new List<(string Name, string Sql)>();
        while (reader.Read())
        {
            indexes.Add((reader.GetString(0), reader.GetString(1)));
        }

        Assert.Equal(["doc_items_ix_status", "doc_items_ix_status+kind"], indexes.Select(i => i.Name));
        Assert.All(indexes, i => Assert.Contains("IS NOT NULL", i.Sql, StringComparison.Ordinal));
    }

    [Fact]
    public async Task QueryPlan_IdInListWithIndexedFilter_SeeksEachIdInsteadOfScanningThePartition()
    {
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["kind"]));
        var container = store.Container("items");
        await container.ExecuteBatchAsync("p1", [.. Enumerable.Range(0, 100).Select(i => BatchOperation.Create($"d{i:D3}", new JsonObject { ["kind"] = "item" }))]);
        var query = new DocumentQuery("p1", Filter.And(Filter.Eq("kind", "item"), Filter.In("id", "d007", "d042", "absent")), PageSize: 100);
        var page = SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query);

        var plan = ExplainQueryPlan(path, page);

        // Before, ids were read from each body: the plan searched (pk=? AND k.kind=?), i.e. every item of the partition.
        Assert.Matches(@"USING (INDEX doc_items_ix_kind \(pk=\? AND k\.kind=\? AND id=\?\)|PRIMARY KEY|INDEX sqlite_autoindex_doc_items_1 \(pk=\? AND id=\?\))", plan);
        Assert.Equal(["d007", "d042"], (await container.QueryAsync(query)).Items.Select(d => d.Id));
    }

    [Fact]
    public async Task Query_IdFilters_MatchLikeAnyStringField()
    {
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await store.EnsureContainerAsync(new ContainerSpec("items"));
        var container = store.Container("items");
        string[] ids = ["a1", "a2", "b1"];
        await container.ExecuteBatchAsync("p1", [.. ids.Select(id => BatchOperation.Create(id, new JsonObject { ["n"] = 1 }))]);

        async Task<string[]> Ids(Filter filter) => [.. (await container.QueryAsync(new DocumentQuery("p1", filter))).Items.Select(d => d.Id)];

        Assert.Equal(["a2", "b1"], await Ids(Filter.Gt("id", "a1")));
        Assert.Equal(["a1", "a2"], await Ids(Filter.StartsWith("id", "a")));
        Assert.Equal(["a2", "b1"], await Ids(Filter.Ne("id", "a1")));
        Assert.Equal(["a1", "a2", "b1"], await Ids(Filter.Exists("id", true)));
        Assert.Empty(await Ids(Filter.Exists("id", false)));
        Assert.Empty(await Ids(Filter.Eq("id", 1)));
        Assert.Equal(["b1"], await Ids(Filter.In("id", "b1", 1, null)));
        Assert.Empty(await Ids(Filter.Eq("id", (JsonNode?)null)));
    }

    [Theory]
    [InlineData("asc")]
    [InlineData("desc")]
    public async Task QueryPlan_FolderSortedByName_PagesReadInOrderFromTheFolderNameIndex(string order)
    {
        // Arrange: items in 4 folders, names in no particular order of their ids; listed as the items API lists them.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["kind", "dir", "name"], [["dir", "name"]]));
        var container = store.Container("items");
        var operations = Enumerable.Range(0, 100).Select(i => BatchOperation.Create($"d{i:D3}",
            new JsonObject { ["kind"] = "item", ["dir"] = $"/f{i % 4}", ["name"] = $"n{i * 7919 % 100:D3}" })).ToList();
        await container.ExecuteBatchAsync("p1", operations);
        DocumentQuery Query(string? continuation) => FilterCompiler.Compile(
                $$"""{"filter": {"dir": "/f1"}, "sort": [{"field": "name", "order": "{{order}}"}], "pageSize": 10, "continuation": {{JsonSerializer.Serialize(continuation)}}}""",
                FieldCatalogs.Items)
            .ToDocumentQuery("p1", Filter.Eq("kind", "item"));

        // Act
        var plan = ExplainQueryPlan(path, SqliteQueryBuilder.BuildPage("items", FieldsOf(store), Query(null)));
        var names = new List<string>();
        string? token = null;
        do
        {
            var page = await container.QueryAsync(Query(token));
            names.AddRange(page.Items.Select(d => d.Body["name"]!.GetValue<string>()));
            token = page.ContinuationToken;
        }
        while (token is not null);

        // Assert: the index holds the folder's items in name order, so no step sorts the whole folder (descending, SQLite
        // only puts the ids of one name in order among themselves: "TEMP B-TREE FOR LAST TERM OF ORDER BY").
        Assert.Contains("USING INDEX doc_items_ix_dir+name (pk=? AND k.dir=?", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("USE TEMP B-TREE FOR ORDER BY", plan, StringComparison.Ordinal);
        var expected = operations.Select((_, i) => i).Where(i => i % 4 == 1).Select(i => $"n{i * 7919 % 100:D3}").Order(StringComparer.Ordinal).ToList();
        if (order == "desc")
        {
            expected.Reverse();
        }

        Assert.Equal(expected, names);
    }

    [Fact]
    public async Task QueryPlan_NewestFirstOverTheWholeDataset_PageReadFromTheCreationTimeIndex()
    {
        // Arrange: items created one second apart, ids in another order than their times.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["kind", "createdAt"]));
        var container = store.Container("items");
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        await container.ExecuteBatchAsync("p1", [.. Enumerable.Range(0, 100).Select(i => BatchOperation.Create($"d{i * 37 % 100:D3}",
            new JsonObject { ["kind"] = "item", ["createdAt"] = StoredTimestamp.Format(start.AddSeconds(i)) }))]);
        var query = FilterCompiler.Compile("""{"sort": [{"field": "createdAt", "order": "desc"}], "pageSize": 5}""", FieldCatalogs.Items)
            .ToDocumentQuery("p1", Filter.Eq("kind", "item"));

        // Act
        var plan = ExplainQueryPlan(path, SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query));
        var page = await container.QueryAsync(query);

        // Assert: the index is walked from its end; no step sorts every item.
        Assert.Contains("USING INDEX doc_items_ix_createdAt (pk=? AND k.createdAt>?)", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("USE TEMP B-TREE FOR ORDER BY", plan, StringComparison.Ordinal);
        Assert.Equal([.. Enumerable.Range(95, 5).Reverse().Select(i => $"d{i * 37 % 100:D3}")], page.Items.Select(d => d.Id));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task ResumedPage_FarIntoAFilteredRange_WalksOnlyItsOwnRows(bool equalValues, bool descending)
    {
        // Arrange: 3,000 documents sharing one sort value (like a batch's events sharing a stamp) or each its own,
        // read through a filter that bounds the same field, in pages of 100.
        var path = _files.NewPath();
        await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
        await store.EnsureContainerAsync(new ContainerSpec("items", ["at"]));
        var container = store.Container("items");
        for (var start = 0; start < 3000; start += 100)
        {
            await container.ExecuteBatchAsync("p1", [.. Enumerable.Range(start, 100).Select(i => BatchOperation.Create($"e{i:D5}", new JsonObject { ["at"] = equalValues ? "2026-12-05" : $"2026-12-05 {i:D5}" }))]);
        }

        var query = new DocumentQuery("p1", Filter.Gte("at", "2026"), [new SortField("at", descending)], PageSize: 100);
        var ids = new List<string>();
        var tokens = new List<string>();
        for (string? token = null; ;)
        {
            var page = await container.QueryAsync(query with { ContinuationToken = token });
            ids.AddRange(page.Items.Select(d => d.Id));
            if ((token = page.ContinuationToken) is null)
            {
                break;
            }

            tokens.Add(token);
        }

        // Act: the virtual machine steps SQLite runs for the second page and for the 29th.
        var early = VmSteps(path, SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query with { ContinuationToken = tokens[0] }));
        var late = VmSteps(path, SqliteQueryBuilder.BuildPage("items", FieldsOf(store), query with { ContinuationToken = tokens[27] }));

        // Assert: every document once, in order (ties in id order); the late page costs about what the early one does
        // (equal values, before the row value: page 29 walked the 2,800 rows before it, 42,351 steps against 4,551).
        var expected = Enumerable.Range(0, 3000).Select(i => $"e{i:D5}");
        Assert.Equal(descending ? expected.Reverse() : expected, ids);
        Assert.True(late < early * 2, $"page 29 ran {late} steps, page 2 {early}");
    }

    /// <summary>How many virtual machine steps SQLite runs to read a compiled page query to its end.</summary>
    private static int VmSteps(string path, SqlitePageQuery page)
    {
        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // The compiled query under test; values are parameters.
        command.CommandText = page.Sql;
#pragma warning restore CA2100
        page.Parameters.BindTo(command);
        command.Prepare();
        Assert.Equal(SQLitePCL.raw.SQLITE_OK, SQLitePCL.raw.sqlite3_prepare_v2(connection.Handle, page.Sql, out var statement));
        using (statement)
        {
            foreach (var parameter in command.Parameters.Cast<SqliteParameter>())
            {
                var position = SQLitePCL.raw.sqlite3_bind_parameter_index(statement, parameter.ParameterName);
                _ = parameter.Value switch
                {
                    string text => SQLitePCL.raw.sqlite3_bind_text(statement, position, text),
                    long number => SQLitePCL.raw.sqlite3_bind_int64(statement, position, number),
                    double number => SQLitePCL.raw.sqlite3_bind_double(statement, position, number),
                    var other => throw new InvalidOperationException($"Unexpected parameter {other}"),
                };
            }

            while (SQLitePCL.raw.sqlite3_step(statement) == SQLitePCL.raw.SQLITE_ROW)
            {
            }

            return SQLitePCL.raw.sqlite3_stmt_status(statement, SQLitePCL.raw.SQLITE_STMTSTATUS_VM_STEP, 0);
        }
    }

    /// <summary>SQLite's plan for a compiled page query, one step per line (also used by the element index's tests).</summary>
    internal static string ExplainQueryPlan(string path, SqlitePageQuery page, string? indexedBy = null)
    {
        // INDEXED BY makes SQLite fail with "no query solution" unless the index can serve the WHERE terms,
        // which proves the compiled expressions match the index definitions whatever the planner's costs say.
        var sql = indexedBy is null ? page.Sql : page.Sql.Replace("FROM \"doc_items\"", $"FROM \"doc_items\" INDEXED BY \"{indexedBy}\"", StringComparison.Ordinal);
        using var connection = SqliteTempFiles.Open(path);
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // The compiled query under test; values are parameters.
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
#pragma warning restore CA2100
        page.Parameters.BindTo(command);
        using var reader = command.ExecuteReader();
        var lines = new List<string>();
        while (reader.Read())
        {
            lines.Add(reader.GetString(3));
        }

        return string.Join('\n', lines);
    }
}
