using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>Item filters compiled by <see cref="FilterCompiler"/> and run on a real SQLite store.</summary>
public sealed class ItemFilterEndToEndTests : IAsyncLifetime, IDisposable
{
    private const string Pk = "dataset:1";
    private readonly SqliteTempFiles _files = new();
    private SqliteDocumentStore _store = null!;
    private IDocumentContainer _items = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(_files.NewPath()));
        await _store.EnsureContainerAsync(new ContainerSpec("items", ["dir", "name", "createdAt"]));
        _items = _store.Container("items");
        await AddAsync("i1", "/cats", "tom.png", "image", "2024-01-01T10:00:00Z", 100, true, ["pet", "grey"], "image/png", status: "COMPLETED");
        await AddAsync("i2", "/cats", "felix.jpg", "image", "2024-02-01T10:00:00Z", 250, false, ["pet"], "image/jpeg");
        await AddAsync("i3", "/cats/kittens", "small_1%.png", "image", "2024-03-01T10:00:00+02:00", 50, false, [], "image/png", status: "DISCARDED");
        await AddAsync("i4", "/dogs", "rex.mp4", "video", "2024-04-01T00:00:00Z", 5000, true, ["pet"], "video/mp4");
        await AddAsync("i5", "/docs", "notes.txt", "text", "2023-12-31T23:59:59Z", 10, false, ["todo"], "text/plain", camera: null);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    public void Dispose() => _files.Dispose();

    private async Task AddAsync(string id, string dir, string name, string type, string created, long size, bool annotated,
        string[] tags, string mime, string? status = null, string? camera = "Canon")
    {
        Assert.True(StoredTimestamp.TryParse(created, out var createdAt));
        var body = new JsonObject
        {
            ["name"] = name,
            ["dir"] = dir,
            ["type"] = type,
            ["createdAt"] = StoredTimestamp.Format(createdAt),
            ["updatedAt"] = StoredTimestamp.Format(createdAt.AddDays(1)),
            ["size"] = size,
            ["annotated"] = annotated,
            ["tags"] = new JsonArray(tags.Select(t => (JsonNode?)t).ToArray()),
            ["metadata"] = new JsonObject
            {
                ["system"] = new JsonObject { ["mimetype"] = mime },
                ["user"] = new JsonObject { ["camera"] = camera },
            },
            ["status"] = status is null ? new JsonObject() : new JsonObject { ["task1"] = status },
        };
        await _items.CreateAsync(Pk, id, body);
    }

    private async Task<string[]> RunAsync(string request)
    {
        var query = FilterCompiler.Compile(request, FieldCatalogs.Items).ToDocumentQuery(Pk);
        var page = await _items.QueryAsync(query);
        return page.Items.Select(i => i.Id).ToArray();
    }

    public static TheoryData<string, string[]> Requests => new()
    {
        { """{"filter": {"$and": [{"dir": "/cats"}, {"metadata.system.mimetype": {"$in": ["image/png"]}}, {"name": {"$glob": "*.png"}}]}}""", ["i1"] },
        { """{"filter": {"dir": {"$glob": "/cats*"}}}""", ["i1", "i2", "i3"] },
        { """{"filter": {"name": {"$glob": "*%.png"}}}""", ["i3"] },
        { """{"filter": {"name": {"$glob": "*e*"}}}""", ["i2", "i4", "i5"] },
        { """{"filter": {"type": {"$in": ["video", "text"]}}}""", ["i4", "i5"] },
        { """{"filter": {"createdAt": {"$gte": "2024-02-01", "$lt": "2024-03-01T09:00:01+01:00"}}}""", ["i2", "i3"] },
        { """{"filter": {"createdAt": {"$lt": "2024-03-01T09:00:00+01:00"}}}""", ["i1", "i2", "i5"] },
        { """{"filter": {"size": {"$gt": 99}, "annotated": false}}""", ["i2"] },
        { """{"filter": {"tags": {"$in": ["todo", "grey"]}}}""", ["i1", "i5"] },
        { """{"filter": {"tags": "pet", "$or": [{"type": "video"}, {"size": {"$lte": 100}}]}}""", ["i1", "i4"] },
        { """{"filter": {"status.task1": "COMPLETED"}}""", ["i1"] },
        { """{"filter": {"status.task1": {"$exists": false}}}""", ["i2", "i4", "i5"] },
        { """{"filter": {"metadata.user.camera": null}}""", ["i5"] },
        { """{"filter": {"metadata.user.camera": {"$ne": "Canon"}}}""", ["i5"] },
        { """{"sort": [{"field": "createdAt", "order": "desc"}]}""", ["i4", "i3", "i2", "i1", "i5"] },
        { """{"filter": {"dir": {"$ne": "/docs"}}, "sort": [{"field": "size"}]}""", ["i3", "i1", "i2", "i4"] },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task QueryAsync_CompiledItemFilter_MatchesExpectedItems(string request, string[] expected)
    {
        // Act
        var ids = await RunAsync(request);

        // Assert
        Assert.Equal(expected, ids);
    }

    [Fact]
    public async Task QueryAsync_PageSizeAndContinuation_PagesThroughAllMatches()
    {
        // Arrange
        var first = await _items.QueryAsync(FilterCompiler.Compile("""{"filter": {"tags": "pet"}, "sort": [{"field": "name"}], "pageSize": 2}""", FieldCatalogs.Items).ToDocumentQuery(Pk));
        var next = $$"""{"filter": {"tags": "pet"}, "sort": [{"field": "name"}], "pageSize": 2, "continuation": "{{first.ContinuationToken}}"}""";

        // Act
        var second = await _items.QueryAsync(FilterCompiler.Compile(next, FieldCatalogs.Items).ToDocumentQuery(Pk));

        // Assert
        Assert.Equal(["i2", "i4"], first.Items.Select(i => i.Id));
        Assert.Equal(["i1"], second.Items.Select(i => i.Id));
        Assert.Null(second.ContinuationToken);
    }
}
