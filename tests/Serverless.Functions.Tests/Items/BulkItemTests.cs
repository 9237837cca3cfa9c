using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Items;

/// <summary>Bulk creation of JSON text items: per-entry results, nothing half-written.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class BulkItemTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task Bulk_MixedEntries_PerEntryResultsAndOnlyGoodOnesWritten()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkmix");
        using var client = _app.Client(scene.Owner.Key);
        (await ItemTests.PutAsync(client, scene, "/taken.json", "{}"u8.ToArray(), null)).Dispose();
        var body = """
            {"items": [
              {"path": "/texts/a.json", "content": {"text": "hello"}, "metadata": {"source": "unit"}},
              {"path": "/texts/../b.json", "content": 1},
              {"path": "/texts/a.json", "content": 2},
              {"path": "/taken.json", "content": 3},
              {"path": "/texts/c.json"},
              null,
              {"path": "/texts/d.json", "content": [1, 2, 3]},
              {"path": "/texts/e.json", "content": 5, "metadata": {"big": "BIG"}}
            ]}
            """.Replace("BIG", new string('x', ItemStore.MaxUserMetadataBytes), StringComparison.Ordinal);

        // Act
        using var response = await client.PostAsync(new Uri(scene.Items + "/bulk", UriKind.Relative), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var result = (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);
        var a = result.Results[0].Item!;
        var link = await client.GetFromJsonAsync<SignedLink>($"{scene.Items}/{a.Id}/download-url", IdentityApp.Json);
        using var raw = new HttpClient();
        var stored = await raw.GetStringAsync(link!.Url);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, result.Created);
        Assert.Equal(6, result.Failed);
        Assert.Equal([201, 400, 409, 409, 400, 400, 201, 400], result.Results.Select(r => r.Status ?? 0));
        Assert.Equal(Enumerable.Range(0, 8), result.Results.Select(r => r.Index));
        Assert.All(result.Results.Where(r => r.Item is null), r => Assert.False(string.IsNullOrWhiteSpace(r.Error)));
        Assert.Equal("text", a.Type);
        Assert.Equal("unit", a.Metadata["user"]!["source"]!.GetValue<string>());
        Assert.Equal("{\"text\":\"hello\"}", stored);
        Assert.Equal(3, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Bulk_OneThousandEntries_AllCreatedAndCounted()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulk1000");
        using var client = _app.Client(scene.Owner.Key);
        var entries = Enumerable.Range(0, ItemStore.MaxBulkEntries).Select(i => new { path = $"/bulk/{i:D4}.json", content = new { i } }).ToArray();

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var result = (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);
        var texts = await ItemTests.QueryAsync(client, scene, """{"filter": {"type": "text", "dir": "/bulk"}, "pageSize": 1000}""");

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ItemStore.MaxBulkEntries, result.Created);
        Assert.Equal(ItemStore.MaxBulkEntries, dataset.GetProperty("itemCount").GetInt64());
        Assert.Equal(ItemStore.MaxBulkEntries, texts.GetProperty("items").GetArrayLength());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ItemStore.MaxBulkEntries + 1)]
    public async Task Bulk_TooFewOrTooMany_400NamingItems(int count)
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkcount");
        using var client = _app.Client(scene.Owner.Key);
        var entries = Enumerable.Range(0, count).Select(i => new { path = $"/{i}.json", content = i }).ToArray();

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "items");
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
    }
}
