using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Items;

/// <summary>Items through HTTP on SQLite and Azurite: streaming upload, get, query, delete, download links.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class ItemTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task Upload_Png_201WithSniffedTypeSizeAndDimensions_FileUnderServerName()
    {
        // Arrange
        var scene = await _app.SceneAsync("upng");
        using var client = _app.Client(scene.Owner.Key);
        var png = TestImages.Png(37, 21);

        // Act
        using var response = await PutAsync(client, scene, "/animals/cats/tom.png", png, "text/plain");
        var item = (await response.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;
        var fetched = await client.GetFromJsonAsync<Item>($"{scene.Items}/{item.Id}", IdentityApp.Json);
        var link = await client.GetFromJsonAsync<SignedLink>($"{scene.Items}/{item.Id}/download-url?minutes=5", IdentityApp.Json);
        using var raw = new HttpClient();
        var downloaded = await raw.GetByteArrayAsync(link!.Url);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("image", item.Type);
        Assert.Equal("tom.png", item.Name);
        Assert.Equal("/animals/cats", item.Dir);
        Assert.Equal(png.Length, item.Size);
        Assert.Equal("image/png", item.Metadata["system"]!["mimetype"]!.GetValue<string>());
        Assert.Equal(37, item.Metadata["system"]!["width"]!.GetValue<int>());
        Assert.Equal(21, item.Metadata["system"]!["height"]!.GetValue<int>());
        Assert.Equal(item.Id, fetched!.Id);
        Assert.Equal(png, downloaded);
        Assert.DoesNotContain("tom.png", link.Url.AbsolutePath, StringComparison.Ordinal);
        Assert.Contains("sp=r", link.Url.Query, StringComparison.Ordinal);
        Assert.InRange(link.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(4), DateTimeOffset.UtcNow.AddMinutes(6));
    }

    [Fact]
    public async Task Upload_ClaimsPngButIsText_StoredAsText()
    {
        // Arrange
        var scene = await _app.SceneAsync("uclaim");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await PutAsync(client, scene, "/notes.png", "just words"u8.ToArray(), "image/png");
        var item = (await response.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("text", item.Type);
        Assert.False(item.Metadata["system"]!.AsObject().ContainsKey("width"));
    }

    [Theory]
    [InlineData("/a/../b.png")]
    [InlineData("relative.png")]
    [InlineData("/a//b.png")]
    [InlineData("/folder/")]
    [InlineData("")]
    public async Task Upload_BadPath_400NamingPathAndNothingStored(string path)
    {
        // Arrange
        var scene = await _app.SceneAsync("ubadpath");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PutAsync(new Uri($"{scene.Items}?path={Uri.EscapeDataString(path)}", UriKind.Relative), new ByteArrayContent([1, 2, 3]));
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "path");
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Upload_OverLimitWithContentLength_413AndNothingStored()
    {
        // Arrange
        var scene = await _app.SceneAsync("ubig");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await PutAsync(client, scene, "/big.bin", new byte[ItemsApp.MaxUploadBytes + 1], null);
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Upload_OverLimitChunkedWithoutLength_413AndNothingStored()
    {
        // Arrange: a body of unknown length, so the limit is enforced while streaming.
        var scene = await _app.SceneAsync("ubigchunked");
        using var client = _app.Client(scene.Owner.Key);
        using var content = new StreamContent(new UnknownLengthStream(new byte[ItemsApp.MaxUploadBytes * 2]));

        // Act
        using var response = await client.PutAsync(new Uri($"{scene.Items}?path=/big.bin", UriKind.Relative), content);
        var query = await QueryAsync(client, scene, "{}");
        var blobs = await azurite.BlobStore.ListAsync(BlobContainerOf(), $"{scene.ProjectId}/{scene.DatasetId}/");

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(0, query.GetProperty("items").GetArrayLength());
        Assert.Empty(blobs.Items);
    }

    [Fact]
    public async Task Upload_ExactlyAtLimit_201()
    {
        // Arrange
        var scene = await _app.SceneAsync("uexact");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await PutAsync(client, scene, "/exact.bin", new byte[ItemsApp.MaxUploadBytes], null);
        var item = (await response.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(ItemsApp.MaxUploadBytes, item.Size);
        Assert.Equal("other", item.Type);
    }

    [Fact]
    public async Task Upload_DuplicatePath_409AndCountUnchanged()
    {
        // Arrange
        var scene = await _app.SceneAsync("udup");
        using var client = _app.Client(scene.Owner.Key);
        using var first = await PutAsync(client, scene, "/x/same.txt", "one"u8.ToArray(), null);

        // Act
        using var second = await PutAsync(client, scene, "/x/same.txt", "two"u8.ToArray(), null);
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        await IdentityApp.AssertProblemAsync(second, HttpStatusCode.Conflict);
        Assert.Equal(1, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Upload_ConcurrentSamePath_OneWinsAndNoOrphanBlobs()
    {
        // Arrange
        var scene = await _app.SceneAsync("urace");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => PutAsync(client, scene, "/race.txt", Encoding.UTF8.GetBytes($"body {i}"), null)));
        var blobs = await azurite.BlobStore.ListAsync(BlobContainerOf(), $"{scene.ProjectId}/{scene.DatasetId}/");
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.Created), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        Assert.Single(blobs.Items);
        Assert.Equal(1, dataset.GetProperty("itemCount").GetInt64());
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task Query_FiltersByTypeAndFolder_SortedAndPaged()
    {
        // Arrange
        var scene = await _app.SceneAsync("query");
        using var client = _app.Client(scene.Owner.Key);
        (await PutAsync(client, scene, "/cats/a.png", TestImages.Png(2, 2), null)).Dispose();
        (await PutAsync(client, scene, "/cats/b.png", TestImages.Png(3, 3), null)).Dispose();
        (await PutAsync(client, scene, "/cats/sub/c.png", TestImages.Png(4, 4), null)).Dispose();
        (await PutAsync(client, scene, "/cats/readme.txt", "text"u8.ToArray(), null)).Dispose();
        (await PutAsync(client, scene, "/dogs/d.png", TestImages.Png(5, 5), null)).Dispose();

        // Act
        var page1 = await QueryAsync(client, scene, """{"filter": {"type": "image", "dir": {"$glob": "/cats*"}}, "sort": [{"field": "name", "order": "desc"}], "pageSize": 2}""");
        var token = page1.GetProperty("continuationToken").GetString();
        var page2 = await QueryAsync(client, scene, JsonSerializer.Serialize(new { filter = new { type = "image", dir = new Dictionary<string, string> { ["$glob"] = "/cats*" } }, sort = new[] { new { field = "name", order = "desc" } }, pageSize = 2, continuation = token }));
        var wide = await QueryAsync(client, scene, """{"filter": {"metadata.system.width": {"$gte": 4}}}""");

        // Assert
        Assert.Equal(["c.png", "b.png"], page1.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(["a.png"], page2.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(["c.png", "d.png"], wide.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()).Order());
    }

    [Theory]
    [InlineData("""{"filter": {"nmae": "a"}}""", "/filter/nmae")]
    [InlineData("""{"filter": {"size": "10"}}""", "/filter/size")]
    [InlineData("""{"filter": {"$and": [{"dir": "/a"}, {"name": {"$regex": "a"}}]}}""", "/filter/$and/1/name/$regex")]
    [InlineData("""{"pageSize": 5000}""", "/pageSize")]
    [InlineData("""{"filter": """, "filter")]
    public async Task Query_BadFilter_400NamingThePath(string body, string path)
    {
        // Arrange
        var scene = await _app.SceneAsync("badfilter");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsync(new Uri(scene.Items + "/query", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, path);
    }

    [Fact]
    public async Task Delete_RemovesDocumentsAndBlob_PathReusable()
    {
        // Arrange
        var scene = await _app.SceneAsync("idelete");
        using var client = _app.Client(scene.Owner.Key);
        using var put = await PutAsync(client, scene, "/gone.txt", "bye"u8.ToArray(), null);
        var item = (await put.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;

        // Act
        using var deleted = await client.DeleteAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        using var get = await client.GetAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        using var again = await client.DeleteAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        var blob = await azurite.BlobStore.GetPropertiesAsync(BlobContainerOf(), ItemStore.BlobName(scene.ProjectId, scene.DatasetId, item.Id));
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);
        using var reused = await PutAsync(client, scene, "/gone.txt", "back"u8.ToArray(), null);

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await IdentityApp.AssertProblemAsync(get, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(again, HttpStatusCode.NotFound);
        Assert.Null(blob);
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
        Assert.Equal(HttpStatusCode.Created, reused.StatusCode);
    }

    [Fact]
    public async Task Annotator_CanReadButNotDeleteOrUpload_403()
    {
        // Arrange
        var scene = await _app.SceneAsync("iannot");
        var annotator = await _app.CreateUserAsync("annotator");
        await _app.AddMemberAsync(scene, annotator, ProjectRole.Annotator);
        using var owner = _app.Client(scene.Owner.Key);
        using var put = await PutAsync(owner, scene, "/keep.txt", "keep"u8.ToArray(), null);
        var item = (await put.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;
        using var client = _app.Client(annotator.Key);

        // Act
        using var read = await client.GetAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        using var delete = await client.DeleteAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        using var upload = await PutAsync(client, scene, "/new.txt", "x"u8.ToArray(), null);
        var dataset = await owner.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        await IdentityApp.AssertProblemAsync(delete, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(upload, HttpStatusCode.Forbidden);
        Assert.Equal(1, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task OtherProjectsMember_EveryItemRoute_404()
    {
        // Arrange
        var scene = await _app.SceneAsync("iowner");
        var stranger = await _app.SceneAsync("istranger");
        using var owner = _app.Client(scene.Owner.Key);
        using var put = await PutAsync(owner, scene, "/secret.txt", "secret"u8.ToArray(), null);
        var item = (await put.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;
        using var client = _app.Client(stranger.Owner.Key);
        var viaOwnProject = $"/api/projects/{stranger.ProjectId}/datasets/{scene.DatasetId}/items";

        // Act
        var responses = new List<HttpResponseMessage>
        {
            await client.GetAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative)),
            await client.GetAsync(new Uri($"{scene.Items}/{item.Id}/download-url", UriKind.Relative)),
            await client.DeleteAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative)),
            await client.GetAsync(new Uri($"{viaOwnProject}/{item.Id}", UriKind.Relative)),
            await client.GetAsync(new Uri($"{viaOwnProject}/{item.Id}/download-url", UriKind.Relative)),
            await client.DeleteAsync(new Uri($"{viaOwnProject}/{item.Id}", UriKind.Relative)),
            await client.PostAsync(new Uri($"{viaOwnProject}/query", UriKind.Relative), new StringContent("{}")),
            await client.PutAsync(new Uri($"{viaOwnProject}?path=/x.txt", UriKind.Relative), new ByteArrayContent([1])),
        };
        var stillThere = await owner.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        foreach (var response in responses)
        {
            await IdentityApp.AssertProblemAsync(response, HttpStatusCode.NotFound);
            response.Dispose();
        }

        Assert.Equal(1, stillThere.GetProperty("itemCount").GetInt64());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100000)]
    public async Task DownloadUrl_MinutesOutOfRange_400(int minutes)
    {
        // Arrange
        var scene = await _app.SceneAsync("ilink");
        using var client = _app.Client(scene.Owner.Key);
        using var put = await PutAsync(client, scene, "/l.txt", "l"u8.ToArray(), null);
        var item = (await put.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;

        // Act
        using var response = await client.GetAsync(new Uri($"{scene.Items}/{item.Id}/download-url?minutes={minutes}", UriKind.Relative));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "minutes");
    }

    internal static Task<HttpResponseMessage> PutAsync(HttpClient client, Scene scene, string path, byte[] body, string? contentType)
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        return client.PutAsync(new Uri($"{scene.Items}?path={Uri.EscapeDataString(path)}", UriKind.Relative), content);
    }

    internal static async Task<JsonElement> QueryAsync(HttpClient client, Scene scene, string body)
    {
        using var response = await client.PostAsync(new Uri(scene.Items + "/query", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement;
    }

    private string BlobContainerOf() =>
        _app.Factory.Services.GetService(typeof(Microsoft.Extensions.Options.IOptions<ItemsOptions>)) is Microsoft.Extensions.Options.IOptions<ItemsOptions> o
            ? o.Value.BlobContainer
            : throw new InvalidOperationException("ItemsOptions not registered");


    /// <summary>A readable stream that reports no length, so the client sends it chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;
    }
}
