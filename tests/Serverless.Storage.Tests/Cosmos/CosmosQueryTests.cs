using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Cosmos;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>Single-partition queries, paging and counts through the real SDK against the npm Cosmos server.</summary>
[Collection(CosmosServer.Name)]
public sealed class CosmosQueryTests(CosmosServerFixture server) : IAsyncLifetime, IDisposable
{
    private const string Pk = "dataset:1";
    private readonly CosmosDocumentStore _store = new(CosmosServer.Options(server));
    private IDocumentContainer _container = null!;

    public async Task InitializeAsync()
    {
        var name = CosmosServer.NewContainerName();
        await _store.EnsureContainerAsync(new ContainerSpec(name, ["status", "n"]));
        _container = _store.Container(name);
        await _container.CreateAsync(Pk, "a", new JsonObject { ["status"] = "open", ["n"] = 1, ["name"] = "Cat photo", ["tags"] = new JsonArray("cat", "pet") });
        await _container.CreateAsync(Pk, "b", new JsonObject { ["status"] = "done", ["n"] = 2, ["name"] = "dog", ["owner"] = null });
        await _container.CreateAsync(Pk, "c", new JsonObject { ["status"] = "open", ["n"] = "2", ["name"] = "catalog" });
        await _container.CreateAsync(Pk, "d", new JsonObject { ["n"] = 3, ["meta"] = new JsonObject { ["size"] = 10 } });
        await _container.CreateAsync("dataset:2", "x", new JsonObject { ["status"] = "open", ["n"] = 1 });
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _store.Dispose();

    public static TheoryData<string, Filter, string[]> Filters => new()
    {
        { "eq matches only same type", Filter.Eq("n", 2), ["b"] },
        { "eq string", Filter.Eq("n", "2"), ["c"] },
        { "eq null", Filter.Eq("owner", null), ["b"] },
        { "ne skips missing, keeps other types", Filter.Ne("status", "open"), ["b"] },
        { "ne number keeps strings", Filter.Ne("n", 2), ["a", "c", "d"] },
        { "gt numbers only", Filter.Gt("n", 1), ["b", "d"] },
        { "gte", Filter.Gte("n", 2), ["b", "d"] },
        { "lt", Filter.Lt("n", 2), ["a"] },
        { "lte strings only", Filter.Lte("n", "2"), ["c"] },
        { "contains substring case-sensitive", Filter.Contains("name", "cat"), ["c"] },
        { "contains array element", Filter.Contains("tags", "pet"), ["a"] },
        { "starts with case-sensitive", Filter.StartsWith("name", "Cat"), ["a"] },
        { "ends with case-sensitive", Filter.EndsWith("name", "og"), ["b", "c"] },
        { "in", Filter.In("status", "done", "none"), ["b"] },
        { "not in skips missing", Filter.NotIn("status", "done"), ["a", "c"] },
        { "exists counts null", Filter.Exists("owner"), ["b"] },
        { "not exists", Filter.Exists("status", exists: false), ["d"] },
        { "nested path", Filter.Gte("meta.size", 10), ["d"] },
        { "and/or", Filter.Or(Filter.And(Filter.Eq("status", "open"), Filter.Eq("n", 1)), Filter.Eq("name", "dog")), ["a", "b"] },
    };

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task QueryAsync_Filter_ReturnsMatchingIdsInPartition(string name, Filter filter, string[] expected)
    {
        // Act
        var page = await _container.QueryAsync(new DocumentQuery(Pk, filter));

        // Assert
        Assert.False(string.IsNullOrEmpty(name));
        Assert.Equal(expected, page.Items.Select(i => i.Id));
        Assert.Null(page.ContinuationToken);
    }

    [Fact]
    public async Task QueryAsync_Results_CarryETagAndPartition()
    {
        // Arrange
        var read = await _container.ReadAsync(Pk, "a");

        // Act
        var page = await _container.QueryAsync(new DocumentQuery(Pk, Filter.Eq("name", "Cat photo")));

        // Assert
        var item = Assert.Single(page.Items);
        Assert.Equal(read!.ETag, item.ETag);
        Assert.Equal(Pk, item.PartitionKey);
        Assert.False(item.Body.ContainsKey("_rid"));
    }

    [Fact]
    public async Task QueryAsync_OrderByIndexedPathDescending_SortsWithIdTieBreaker()
    {
        // Act
        var page = await _container.QueryAsync(new DocumentQuery(Pk, Filter.Exists("status"), [new SortField("status", Descending: true)]));

        // Assert
        Assert.Equal(["a", "c", "b"], page.Items.Select(i => i.Id));
    }

    [Fact]
    public async Task QueryAsync_TokenBoundToAnotherQuery_ThrowsInvalidQuery()
    {
        // Arrange: a well-formed token of our format whose shape hash belongs to no query here.
        var json = """{"v":1,"h":"000000000000000000000000","c":"{}"}""";
        var token = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        // Act
        var ex = await Assert.ThrowsAsync<InvalidQueryException>(() => _container.QueryAsync(new DocumentQuery(Pk, PageSize: 1, ContinuationToken: token)));

        // Assert
        Assert.Contains("different query", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a token")]
    [InlineData("eyJ2IjoxfQ")]
    [InlineData("")]
    public async Task QueryAsync_MalformedToken_ThrowsInvalidQuery(string token)
    {
        // Act
        var ex = await Assert.ThrowsAsync<InvalidQueryException>(() => _container.QueryAsync(new DocumentQuery(Pk, ContinuationToken: token)));

        // Assert
        Assert.Equal("continuationToken", ex.Path);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public async Task QueryAsync_PageSizeOutOfRange_ThrowsInvalidQuery(int pageSize)
    {
        // Act and Assert
        await Assert.ThrowsAsync<InvalidQueryException>(() => _container.QueryAsync(new DocumentQuery(Pk, PageSize: pageSize)));
    }

    [Fact]
    public async Task CountAsync_PartitionWithFilter_CountsMatches()
    {
        // Act
        var all = await _container.CountAsync(Pk, null);
        var open = await _container.CountAsync(Pk, Filter.Eq("status", "open"));

        // Assert
        Assert.Equal(4, all);
        Assert.Equal(2, open);
    }
}
