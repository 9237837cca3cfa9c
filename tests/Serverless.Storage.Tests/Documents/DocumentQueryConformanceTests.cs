using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Tests.Documents;

/// <summary>
/// Filter, sort, paging and count semantics every adapter must share: comparisons match only values of
/// the same JSON type, missing fields match no comparison (so <c>ne</c>/<c>nin</c> need the field to
/// exist), sorting orders missing &lt; null &lt; numbers &lt; strings &lt; booleans, id breaks ties.
/// </summary>
public abstract class DocumentQueryConformanceTests : DocumentConformanceBase
{
    private async Task<IDocumentContainer> SeedAsync()
    {
        var container = await NewContainerAsync("status", "size");
        await container.CreateAsync("p1", "a", Json("""{"status":"open","size":5,"tags":["x","y"],"name":"Alpha","flag":true,"meta":{"level":1}}"""));
        await container.CreateAsync("p1", "b", Json("""{"status":"closed","size":10,"tags":["y"],"name":"beta","flag":false,"meta":{"level":2}}"""));
        await container.CreateAsync("p1", "c", Json("""{"status":"open","size":"5","name":"Alphabet","nul":null,"tags":"xy"}"""));
        await container.CreateAsync("p1", "d", Json("""{"status":null,"size":7.5}"""));
        await container.CreateAsync("p1", "e", Json("""{"size":1}"""));
        await container.CreateAsync("p2", "f", Json("""{"status":"open","size":5}"""));
        return container;
    }

    private static async Task<string[]> IdsAsync(IDocumentContainer container, Filter? where, string? partitionKey = "p1", params SortField[] orderBy)
    {
        var page = await container.QueryAsync(new DocumentQuery(partitionKey, where, orderBy, PageSize: 1000));
        return page.Items.Select(d => d.Id).ToArray();
    }

    public static TheoryData<string, Filter, string[]> Filters() => new()
    {
        { "eq string", Filter.Eq("status", "open"), ["a", "c"] },
        { "eq number skips string '5'", Filter.Eq("size", 5), ["a"] },
        { "eq string skips number 5", Filter.Eq("size", "5"), ["c"] },
        { "eq null", Filter.Eq("status", null), ["d"] },
        { "eq true", Filter.Eq("flag", true), ["a"] },
        { "eq 1 is not true", Filter.Eq("flag", 1), [] },
        { "eq nested", Filter.Eq("meta.level", 2), ["b"] },
        { "ne needs the field", Filter.Ne("status", "open"), ["b", "d"] },
        { "ne null", Filter.Ne("status", null), ["a", "b", "c"] },
        { "gt number skips strings", Filter.Gt("size", 5), ["b", "d"] },
        { "gte number", Filter.Gte("size", 5), ["a", "b", "d"] },
        { "lt number skips strings", Filter.Lt("size", 7.5), ["a", "e"] },
        { "lte number", Filter.Lte("size", 1), ["e"] },
        { "gt string", Filter.Gt("name", "Alpha"), ["b", "c"] },
        { "lt string skips numbers", Filter.Lt("size", "9"), ["c"] },
        { "gt false", Filter.Gt("flag", false), ["a"] },
        { "gt null matches nothing", Filter.Gt("status", null), [] },
        { "contains substring", Filter.Contains("name", "lph"), ["a", "c"] },
        { "contains is case-sensitive", Filter.Contains("name", "ALP"), [] },
        { "contains array element", Filter.Contains("tags", "y"), ["a", "b", "c"] },
        { "contains array needs whole element", Filter.Contains("tags", "xy"), ["c"] },
        { "hasElement", Filter.HasElement("tags", "y"), ["a", "b"] },
        { "hasElement skips strings", Filter.HasElement("tags", "xy"), [] },
        { "startsWith", Filter.StartsWith("name", "Alph"), ["a", "c"] },
        { "startsWith is case-sensitive", Filter.StartsWith("name", "alph"), [] },
        { "endsWith", Filter.EndsWith("name", "ha"), ["a"] },
        { "endsWith is case-sensitive", Filter.EndsWith("name", "HA"), [] },
        { "endsWith whole string", Filter.EndsWith("name", "beta"), ["b"] },
        { "endsWith longer than the value", Filter.EndsWith("name", "xbeta"), [] },
        { "endsWith skips non-strings", Filter.EndsWith("size", "5"), ["c"] },
        { "endsWith takes LIKE wildcards literally", Filter.EndsWith("name", "%"), [] },
        { "endsWith empty suffix matches every string", Filter.EndsWith("name", ""), ["a", "b", "c"] },
        { "in strings", Filter.In("status", "open", "closed"), ["a", "b", "c"] },
        { "in mixed types", Filter.In("size", 5, "5"), ["a", "c"] },
        { "in null", Filter.In("status", (JsonNode?)null), ["d"] },
        { "nin needs the field", Filter.NotIn("status", "open"), ["b", "d"] },
        { "exists", Filter.Exists("status"), ["a", "b", "c", "d"] },
        { "exists false", Filter.Exists("status", false), ["e"] },
        { "exists json null", Filter.Exists("nul"), ["c"] },
        { "and", Filter.And(Filter.Eq("status", "open"), Filter.Eq("size", 5)), ["a"] },
        { "or", Filter.Or(Filter.Eq("status", "closed"), Filter.Eq("size", 1)), ["b", "e"] },
        { "nested and/or", Filter.Or(Filter.And(Filter.Eq("status", "open"), Filter.Gt("size", 1)), Filter.And(Filter.Exists("status", false), Filter.Lt("size", 2))), ["a", "e"] },
    };

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task Query_Filter_MatchesExpectedDocuments(string because, Filter filter, string[] expected)
    {
        var container = await SeedAsync();

        var ids = await IdsAsync(container, filter);

        Assert.True(expected.SequenceEqual(ids), $"{because}: expected [{string.Join(',', expected)}], got [{string.Join(',', ids)}]");
    }

    [Fact]
    public async Task Query_WithoutPartition_SpansPartitions()
    {
        var container = await SeedAsync();

        var ids = await IdsAsync(container, Filter.Eq("status", "open"), partitionKey: null);

        Assert.Equal(["a", "c", "f"], ids);
    }

    [Fact]
    public async Task Query_FilterDeeperThanLimit_ThrowsInvalidQuery()
    {
        var container = await SeedAsync();
        var filter = Filter.Eq("status", "open");
        for (var i = 0; i < DocumentLimits.MaxFilterDepth; i++)
        {
            filter = Filter.And(filter);
        }

        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(new DocumentQuery("p1", filter)));
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("a'b")]
    [InlineData("a.")]
    [InlineData("$.a")]
    public async Task Query_InvalidPath_ThrowsInvalidQuery(string path)
    {
        var container = await SeedAsync();

        var error = await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(new DocumentQuery("p1", Filter.Eq(path, 1))));

        Assert.Equal(path, error.Path);
    }

    [Fact]
    public async Task Query_NonScalarValue_ThrowsInvalidQuery()
    {
        var container = await SeedAsync();

        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(new DocumentQuery("p1", Filter.Eq("tags", new JsonArray("x")))));
    }

    [Fact]
    public async Task Query_SortAscendingOverMixedTypes_OrdersMissingNullNumbersStrings()
    {
        var container = await SeedAsync();

        var bySize = await IdsAsync(container, null, "p1", new SortField("size"));
        var byStatus = await IdsAsync(container, null, "p1", new SortField("status"));

        Assert.Equal(["e", "a", "d", "b", "c"], bySize);
        Assert.Equal(["e", "d", "b", "a", "c"], byStatus);
    }

    [Fact]
    public async Task Query_SortDescending_ReversesOrderButKeepsIdTieBreak()
    {
        var container = await SeedAsync();

        var bySize = await IdsAsync(container, null, "p1", new SortField("size", Descending: true));
        var byStatus = await IdsAsync(container, null, "p1", new SortField("status", Descending: true));

        Assert.Equal(["c", "b", "d", "a", "e"], bySize);
        Assert.Equal(["a", "c", "b", "d", "e"], byStatus);
    }

    [Fact]
    public async Task Query_SortByTwoKeys_UsesSecondForTies()
    {
        var container = await SeedAsync();

        var ids = await IdsAsync(container, Filter.Exists("status"), "p1", new SortField("status"), new SortField("name", Descending: true));

        Assert.Equal(["d", "b", "c", "a"], ids);
    }

    [Fact]
    public async Task Query_NoSort_OrdersById()
    {
        var container = await NewContainerAsync();
        foreach (var id in new[] { "m", "b", "z", "a" })
        {
            await container.CreateAsync("p1", id, Json("{}"));
        }

        var ids = await IdsAsync(container, null);

        Assert.Equal(["a", "b", "m", "z"], ids);
    }

    public static TheoryData<string, SortField[], Filter?> PagingCases() => new()
    {
        { "by id", [], null },
        { "by group desc then id", [new SortField("group", Descending: true)], null },
        { "mixed-type field, two keys", [new SortField("mixed"), new SortField("group", Descending: true)], null },
        { "filtered on indexed path", [], Filter.Eq("group", 3) },
        { "filtered and sorted", [new SortField("mixed", Descending: true)], Filter.In("group", 1, 2) },
    };

    [Theory]
    [MemberData(nameof(PagingCases))]
    public async Task Query_PagingWithContinuation_ReturnsEveryMatchOnceInSortOrder(string because, SortField[] orderBy, Filter? where)
    {
        var container = await NewContainerAsync("group");
        var operations = new List<BatchOperation>();
        for (var i = 0; i < 300; i++)
        {
            JsonNode? mixed = (i % 6) switch
            {
                0 => i,
                1 => $"s{i % 17}",
                2 => null,
                3 => i % 2 == 0,
                4 => i / 10.0,
                _ => JsonValue.Create("same"),
            };
            var body = new JsonObject { ["group"] = i % 5 };
            if (i % 11 != 0)
            {
                body["mixed"] = mixed;
            }

            operations.Add(BatchOperation.Create($"d{i:D4}", body));
            if (operations.Count == 100)
            {
                await container.ExecuteBatchAsync("p1", operations);
                operations.Clear();
            }
        }

        var query = new DocumentQuery("p1", where, orderBy, PageSize: 1000);
        var expected = (await container.QueryAsync(query)).Items.Select(d => d.Id).ToList();

        var paged = (await QueryAllAsync(container, query with { PageSize = 7 })).Select(d => d.Id).ToList();

        Assert.True(expected.Count > 50, because);
        Assert.Equal(expected.Count, paged.Distinct().Count());
        Assert.Equal(expected, paged);
    }

    [Fact]
    public async Task Query_CrossPartitionPagingOverSameIds_ReturnsEachDocumentOnce()
    {
        var container = await NewContainerAsync();
        foreach (var partition in new[] { "p3", "p1", "p2" })
        {
            await container.CreateAsync(partition, "same", Json("{}"));
            await container.CreateAsync(partition, "other", Json("{}"));
        }

        var all = await QueryAllAsync(container, new DocumentQuery(PageSize: 1));

        Assert.Equal(6, all.Select(d => (d.PartitionKey, d.Id)).Distinct().Count());
        Assert.Equal(["other", "other", "other", "same", "same", "same"], all.Select(d => d.Id));
    }

    [Fact]
    public async Task Query_WritesBetweenPages_CauseNoDuplicatesOrGaps()
    {
        var container = await NewContainerAsync();
        await container.ExecuteBatchAsync("p1", Enumerable.Range(0, 50).Select(i => BatchOperation.Create($"m{i:D2}", Json("{}"))).ToList());
        var query = new DocumentQuery("p1", PageSize: 10);

        var first = await container.QueryAsync(query);
        await container.CreateAsync("p1", "a-before-cursor", Json("{}"));
        await container.CreateAsync("p1", "z-after-cursor", Json("{}"));
        var rest = await QueryAllAsync(container, query with { ContinuationToken = first.ContinuationToken });

        var ids = first.Items.Concat(rest).Select(d => d.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m{i:D2}").Append("z-after-cursor"), ids);
    }

    [Fact]
    public async Task Query_LastPageExactlyFull_HasNoContinuationToken()
    {
        var container = await SeedAsync();

        var first = await container.QueryAsync(new DocumentQuery("p1", PageSize: 3));
        var second = await container.QueryAsync(new DocumentQuery("p1", PageSize: 2, ContinuationToken: first.ContinuationToken));

        Assert.NotNull(first.ContinuationToken);
        Assert.Equal(["d", "e"], second.Items.Select(d => d.Id));
        Assert.Null(second.ContinuationToken);
    }

    [Theory]
    [InlineData("not a token!")]
    [InlineData("e30")]
    [InlineData("eyJoIjoiMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIiwiayI6WyJhIl19")]
    [InlineData("AAAA")]
    public async Task Query_MalformedContinuationToken_ThrowsInvalidQuery(string token)
    {
        var container = await SeedAsync();

        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(new DocumentQuery("p1", PageSize: 2, ContinuationToken: token)));
    }

    [Fact]
    public async Task Query_TokenFromAnotherQuery_ThrowsInvalidQuery()
    {
        var container = await SeedAsync();
        var first = await container.QueryAsync(new DocumentQuery("p1", Filter.Exists("size"), PageSize: 2));

        var differentFilter = new DocumentQuery("p1", Filter.Exists("status"), PageSize: 2, ContinuationToken: first.ContinuationToken);
        var differentSort = new DocumentQuery("p1", Filter.Exists("size"), [new SortField("size")], PageSize: 2, ContinuationToken: first.ContinuationToken);

        Assert.NotNull(first.ContinuationToken);
        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(differentFilter));
        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(differentSort));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public async Task Query_PageSizeOutOfRange_ThrowsInvalidQuery(int pageSize)
    {
        var container = await SeedAsync();

        await Assert.ThrowsAsync<InvalidQueryException>(() => container.QueryAsync(new DocumentQuery("p1", PageSize: pageSize)));
    }

    [Fact]
    public async Task Count_WithFilterAndPartition_CountsMatches()
    {
        var container = await SeedAsync();

        var open = await container.CountAsync("p1", Filter.Eq("status", "open"));
        var all = await container.CountAsync(null, null);
        var openEverywhere = await container.CountAsync(null, Filter.Eq("status", "open"));

        Assert.Equal(2, open);
        Assert.Equal(6, all);
        Assert.Equal(3, openEverywhere);
    }

    [Fact]
    public async Task CountBy_Field_GroupsMissingWithNull()
    {
        var container = await SeedAsync();

        var groups = await container.CountByAsync("p1", null, "status");

        var counts = groups.ToDictionary(g => g.Value?.ToJsonString() ?? "null", g => g.Count);
        Assert.Equal(3, counts.Count);
        Assert.Equal(2, counts["null"]);
        Assert.Equal(1, counts["\"closed\""]);
        Assert.Equal(2, counts["\"open\""]);
    }

    [Fact]
    public async Task CountBy_WithFilter_CountsOnlyMatches()
    {
        var container = await SeedAsync();

        var groups = await container.CountByAsync(null, Filter.Eq("status", "open"), "size");

        var counts = groups.ToDictionary(g => g.Value!.ToJsonString(), g => g.Count);
        Assert.Equal(2, counts["5"]);
        Assert.Equal(1, counts["\"5\""]);
        Assert.Equal(2, counts.Count);
    }
}
