using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
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
        var a = (await client.GetFromJsonAsync<Item>($"{scene.Items}/{result.Results[0].Id}", IdentityApp.Json))!;
        var link = await client.GetFromJsonAsync<SignedLink>($"{scene.Items}/{a.Id}/download-url", IdentityApp.Json);
        using var raw = new HttpClient();
        var stored = await raw.GetStringAsync(link!.Url);
        var claim = await _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(DatasetContainers.Items)
            .ReadAsync(DatasetContainers.ItemPartition(scene.DatasetId), PathClaims.Id("/texts/a.json"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, result.Created);
        Assert.Equal(6, result.Failed);
        Assert.Equal([201, 400, 409, 409, 400, 400, 201, 400], result.Results.Select(r => r.Status));
        Assert.Equal(Enumerable.Range(0, 8), result.Results.Select(r => r.Index));
        Assert.Equal(["/texts/a.json", null, "/texts/a.json", "/taken.json", null, null, "/texts/d.json", "/texts/e.json"], result.Results.Select(r => r.Path));
        Assert.All(result.Results.Where(r => r.Status != 201), r => Assert.False(string.IsNullOrWhiteSpace(r.Error)));
        Assert.All(result.Results, r => Assert.Equal(r.Status == 201, r.Id is not null));
        Assert.Equal("/texts/a.json", a.Path);
        Assert.Equal("text", a.Type);
        Assert.Equal("unit", a.Metadata["user"]!["source"]!.GetValue<string>());
        Assert.Equal("{\"text\":\"hello\"}", stored);
        Assert.Equal(3, dataset.GetProperty("itemCount").GetInt64());

        // The claim is read by id only; without "kind" and "itemId" it stays out of the container's indexes of those.
        Assert.Equal(a.Id, PathClaims.ItemIdOf(claim!));
        Assert.Null(claim!.Body["kind"]);
        Assert.Null(claim.Body["itemId"]);
    }

    [Fact]
    public async Task Bulk_MaxEntries_AllCreatedAndCounted()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkmax");
        using var client = _app.Client(scene.Owner.Key);
        var entries = Enumerable.Range(0, ItemStore.MaxBulkEntries).Select(i => new { path = $"/bulk/{i:D4}.json", content = new { i } }).ToArray();

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var result = (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);
        var listed = 0;
        string? token = null;
        do
        {
            var page = await ItemTests.QueryAsync(client, scene, JsonSerializer.Serialize(new { filter = new { type = "text", dir = "/bulk" }, pageSize = 1000, continuation = token }));
            listed += page.GetProperty("items").GetArrayLength();
            token = page.TryGetProperty("continuationToken", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (token is not null);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ItemStore.MaxBulkEntries, result.Created);
        Assert.Equal(ItemStore.MaxBulkEntries, dataset.GetProperty("itemCount").GetInt64());
        Assert.Equal(ItemStore.MaxBulkEntries, listed);
    }

    [Fact]
    public async Task Bulk_SameRequestTwice_SecondReports409PerEntryAndCountUnchanged()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulktwice");
        using var client = _app.Client(scene.Owner.Key);
        var entries = Enumerable.Range(0, 120).Select(i => new { path = $"/again/{i}.json", content = i }).ToArray();
        using var first = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });

        // Act
        using var second = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var result = (await second.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(0, result.Created);
        Assert.All(result.Results, r => Assert.Equal(409, r.Status));
        Assert.Equal(120, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Bulk_ContentOverInlineLimit_413ForThatEntryOnly()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkbig");
        using var client = _app.Client(scene.Owner.Key);
        var entries = new object[]
        {
            new { path = "/small.json", content = "s" },
            new { path = "/big.json", content = new string('x', ItemStore.MaxInlineContentBytes) },
        };

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = entries });
        var result = (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;

        // Assert
        Assert.Equal([201, 413], result.Results.Select(r => r.Status));
    }

    [Fact]
    public async Task Content_BulkItem_StreamsBytesAsAttachmentWithNosniff()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkcontent");
        using var client = _app.Client(scene.Owner.Key);
        using var created = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = new[] { new { path = "/t/note.json", content = new { text = "<b>hi</b>" } } } });
        var item = (await created.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!.Results[0];

        // Act
        using var response = await client.GetAsync(new Uri($"{scene.Items}/{item.Id}/content", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"text\":\"\\u003Cb\\u003Ehi\\u003C/b\\u003E\"}", body);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("note.json", response.Content.Headers.ContentDisposition.FileName);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
    }

    [Fact]
    public async Task DownloadUrl_BulkItem_BlobWrittenOnceAndServedAsAttachment()
    {
        // Arrange
        var scene = await _app.SceneAsync("bulklink");
        using var client = _app.Client(scene.Owner.Key);
        using var created = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = new[] { new { path = "/t/ünïcode note.json", content = 42 } } });
        var item = (await created.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!.Results[0];
        using var raw = new HttpClient();

        // Act: two links; the second finds the blob already written.
        var first = await client.GetFromJsonAsync<SignedLink>($"{scene.Items}/{item.Id}/download-url", IdentityApp.Json);
        var second = await client.GetFromJsonAsync<SignedLink>($"{scene.Items}/{item.Id}/download-url", IdentityApp.Json);
        using var response = await raw.GetAsync(second!.Url);
        var body = await response.Content.ReadAsStringAsync();
        using var streamed = await client.GetAsync(new Uri($"{scene.Items}/{item.Id}/content", UriKind.Relative));

        // Assert
        Assert.NotNull(first);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("42", body);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("ünïcode note.json", response.Content.Headers.ContentDisposition.FileNameStar);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("42", await streamed.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("X-Content-Type-Options"), "Azurite now sends X-Content-Type-Options: update the README's note on nosniff.");
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

    [Theory]
    [InlineData("{\"items\": [{\"path\": \"/a.json\", \"content\": 1}, ", "body")]
    [InlineData("{\"items\": \"all\"}", "items")]
    public async Task Bulk_UnreadableBody_400NamingTheFieldAndNothingWritten(string body, string field)
    {
        // Arrange
        var scene = await _app.SceneAsync("bulkbad");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsync(new Uri(scene.Items + "/bulk", UriKind.Relative), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
    }
}
