using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Items;

/// <summary>Tags on items in bulk, by id list and by filter with continuation.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class ItemTagTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task Tag_ByIds_TagsThoseItemsAndReportsUnknownIds()
    {
        // Arrange
        var scene = await _app.SceneAsync("tagids");
        using var client = _app.Client(scene.Owner.Key);
        var ids = await BulkAsync(client, scene, "/t", 3);
        const string unknown = "i_ffffffffffffffffffff";

        // Act
        var result = await TagAsync(client, scene, new { add = List("cat", "x:1"), ids = List(ids[0], ids[1], unknown) });
        var again = await TagAsync(client, scene, new { add = List("cat"), ids = List(ids[0]) });
        var cats = await ItemTests.QueryAsync(client, scene, """{"filter": {"tags": "cat"}}""");
        var item = await client.GetFromJsonAsync<Item>($"{scene.Items}/{ids[0]}", IdentityApp.Json);

        // Assert
        Assert.Equal((2, 2, null), (result.Matched, result.Updated, result.Continuation));
        Assert.Equal([unknown], result.NotFound);
        Assert.Equal(0, again.Updated);
        Assert.Equal(ids[..2].Order(), cats.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!).Order());
        Assert.Equal(["cat", "x:1"], item!.Tags);
    }

    [Fact]
    public async Task Tag_ByFilterWithContinuation_EveryMatchingItemOnceOthersUntouched()
    {
        // Arrange
        var scene = await _app.SceneAsync("tagfilter");
        using var client = _app.Client(scene.Owner.Key);
        await BulkAsync(client, scene, "/a", 250);
        await BulkAsync(client, scene, "/b", 10);

        // Act: pages of 100, each call continuing where the previous one stopped.
        var calls = 0;
        var updated = 0;
        string? continuation = null;
        do
        {
            var result = await TagAsync(client, scene, new { add = List("batch"), query = new { filter = new { dir = "/a" }, pageSize = 100, continuation } });
            updated += result.Updated;
            continuation = result.Continuation;
            calls++;
        }
        while (continuation is not null);
        var tagged = await ItemTests.QueryAsync(client, scene, """{"filter": {"tags": {"$in": ["batch"]}}, "pageSize": 1000}""");
        var untagged = await ItemTests.QueryAsync(client, scene, """{"filter": {"dir": "/b", "tags": "batch"}}""");

        // Assert
        Assert.Equal(250, updated);
        Assert.InRange(calls, 3, 4);
        Assert.Equal(250, tagged.GetProperty("items").GetArrayLength());
        Assert.Equal(0, untagged.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Tag_RemoveByTagFilter_RemovesOnlyThatTag()
    {
        // Arrange
        var scene = await _app.SceneAsync("tagremove");
        using var client = _app.Client(scene.Owner.Key);
        var ids = await BulkAsync(client, scene, "/r", 4);
        await TagAsync(client, scene, new { add = List("keep", "drop"), ids });

        // Act
        var result = await TagAsync(client, scene, new { remove = List("drop"), query = new { filter = new { tags = "drop" } } });
        var item = await client.GetFromJsonAsync<Item>($"{scene.Items}/{ids[3]}", IdentityApp.Json);

        // Assert
        Assert.Equal(4, result.Updated);
        Assert.Null(result.Continuation);
        Assert.Equal(["keep"], item!.Tags);
    }

    [Theory]
    [InlineData("""{"add": ["bad\u0001tag"], "ids": ["i_ffffffffffffffffffff"]}""", "add")]
    [InlineData("""{"add": [" lead"], "ids": ["i_ffffffffffffffffffff"]}""", "add")]
    [InlineData("""{"add": ["a"], "remove": ["a"], "ids": ["i_ffffffffffffffffffff"]}""", "remove")]
    [InlineData("""{"ids": ["i_ffffffffffffffffffff"]}""", "add")]
    [InlineData("""{"add": ["a"]}""", "ids")]
    [InlineData("""{"add": ["a"], "ids": [], "query": {}}""", "ids")]
    [InlineData("""{"add": ["a"], "ids": []}""", "ids")]
    [InlineData("""{"add": ["a"], "query": {"filter": {"nosuchfield": 1}}}""", "/query/filter/nosuchfield")]
    public async Task Tag_BadRequest_400NamingTheField(string body, string field)
    {
        // Arrange
        var scene = await _app.SceneAsync("tagbad");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsync(new Uri(scene.Items + "/tags", UriKind.Relative), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
    }

    [Fact]
    public async Task Tag_TooManyIds_400()
    {
        // Arrange
        var scene = await _app.SceneAsync("tagmany");
        using var client = _app.Client(scene.Owner.Key);
        var ids = Enumerable.Range(0, ItemStore.MaxTagBatch + 1).Select(i => $"i_{i:D20}").ToArray();

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/tags", new { add = List("a"), ids });

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "ids");
    }

    private static string[] List(params string[] values) => values;

    private static async Task<string[]> BulkAsync(HttpClient client, Scene scene, string folder, int count)
    {
        var entries = Enumerable.Range(0, count).Select(i => new { path = $"{folder}/{i:D4}.json", content = i }).ToArray();
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var result = (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
        Assert.Equal(count, result.Created);
        return [.. result.Results.Select(r => r.Id!)];
    }

    private static async Task<TagItemsResponse> TagAsync(HttpClient client, Scene scene, object body)
    {
        using var response = await client.PostAsJsonAsync(scene.Items + "/tags", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonSerializer.Deserialize<TagItemsResponse>(text, IdentityApp.Json)!;
    }
}
