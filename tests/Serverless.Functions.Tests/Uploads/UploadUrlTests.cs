using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Functions;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Functions.Tests.Items;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Uploads;

/// <summary>
/// Signed upload URLs and BlobCreated ingestion on real Azurite and SQLite: the client PUTs straight
/// to blob storage, the app's blob watcher (standalone mode) or a delivered event ingests the file.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class UploadUrlTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private static readonly TimeSpan IngestTimeout = TimeSpan.FromSeconds(30);

    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task UploadUrl_PutPngToBlobStorage_WatcherIngestsItemWithSniffedMetadata()
    {
        // Arrange
        var scene = await _app.SceneAsync("upurl");
        using var client = _app.Client(scene.Owner.Key);
        var png = TestImages.Png(37, 21);

        // Act
        var ticket = await RequestAsync(client, scene, "/photos/2026", "cat.png", "application/pdf", png.Length);
        using (var put = await PutToBlobAsync(ticket, png))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var status = await WaitForStateAsync(client, ticket, UploadStates.Ingested);
        var item = await client.GetFromJsonAsync<Item>($"{scene.Items}/{ticket.ItemId}", IdentityApp.Json);
        var staged = await azurite.BlobStore.GetPropertiesAsync(ItemStore.UploadContainer, UploadBlob(ticket));

        // Assert
        Assert.Equal("/photos/2026/cat.png", ticket.Path);
        Assert.Equal("PUT", ticket.Method);
        Assert.Equal("BlockBlob", ticket.Headers["x-ms-blob-type"]);
        Assert.Equal(ticket.ItemId, status.Item!.Id);
        Assert.Equal("image", item!.Type);
        Assert.Equal(png.Length, item.Size);
        Assert.Equal("/photos/2026", item.Dir);
        Assert.Equal("image/png", item.Metadata["system"]!["mimetype"]!.GetValue<string>());
        Assert.Equal(37, item.Metadata["system"]!["width"]!.GetValue<int>());
        Assert.Equal(21, item.Metadata["system"]!["height"]!.GetValue<int>());
        Assert.Equal(scene.Owner.Id, item.CreatedBy);
        Assert.Null(staged);
    }

    [Fact]
    public async Task Ingest_SameEventTwiceConcurrently_OneItemCountedOnce()
    {
        // Arrange
        var scene = await _app.SceneAsync("uptwice");
        using var client = _app.Client(scene.Owner.Key);
        var bytes = "plain text file"u8.ToArray();
        var ticket = await RequestAsync(client, scene, "/", "a.txt", "text/plain", bytes.Length);
        (await PutToBlobAsync(ticket, bytes)).Dispose();
        var store = _app.Factory.Services.GetRequiredService<ItemStore>();
        var blobCreated = new BlobCreatedEvent("evt-1", ItemStore.UploadContainer, UploadBlob(ticket), bytes.Length, "text/plain", null, null, DateTimeOffset.UtcNow);

        // Act: two deliveries of one event race each other (and possibly the app's own watcher), then a late third.
        var outcomes = await Task.WhenAll(store.IngestAsync(blobCreated, CancellationToken.None), store.IngestAsync(blobCreated, CancellationToken.None));
        var late = await store.IngestAsync(blobCreated, CancellationToken.None);
        await WaitForStateAsync(client, ticket, UploadStates.Ingested);
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);
        var listed = await ItemTests.QueryAsync(client, scene, """{"filter": {"name": "a.txt"}}""");

        // Assert
        Assert.True(outcomes.Count(o => o == IngestOutcome.Ingested) <= 1, string.Join(", ", outcomes));
        Assert.Equal(IngestOutcome.AlreadyDone, late);
        Assert.Equal(1, dataset.GetProperty("itemCount").GetInt64());
        var item = Assert.Single(listed.GetProperty("items").EnumerateArray());
        Assert.Equal(ticket.ItemId, item.GetProperty("id").GetString());
        Assert.Equal("text", item.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Ingest_FileLargerThanLimit_RejectedVisiblyAndDeleted()
    {
        // Arrange: the declared size passes; the bytes actually PUT do not.
        var scene = await _app.SceneAsync("upbig");
        using var client = _app.Client(scene.Owner.Key);
        var ticket = await RequestAsync(client, scene, "/", "big.bin", null, 10);
        (await PutToBlobAsync(ticket, new byte[ItemsApp.MaxUploadBytes + 1])).Dispose();

        // Act
        var status = await WaitForStateAsync(client, ticket, UploadStates.Rejected);
        using var item = await client.GetAsync(new Uri($"{scene.Items}/{ticket.ItemId}", UriKind.Relative));
        var staged = await azurite.BlobStore.GetPropertiesAsync(ItemStore.UploadContainer, UploadBlob(ticket));
        var dataset = await client.GetFromJsonAsync<JsonElement>(scene.Dataset);

        // Assert
        Assert.Contains($"the limit is {ItemsApp.MaxUploadBytes}", status.Reason, StringComparison.Ordinal);
        Assert.Null(status.Item);
        Assert.Equal(HttpStatusCode.NotFound, item.StatusCode);
        Assert.Null(staged);
        Assert.Equal(0, dataset.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Ingest_PathTakenMeanwhile_RejectedWithConflictReason()
    {
        // Arrange
        var scene = await _app.SceneAsync("uptaken");
        using var client = _app.Client(scene.Owner.Key);
        var ticket = await RequestAsync(client, scene, "/", "same.json", null, 2);
        (await ItemTests.PutAsync(client, scene, "/same.json", "{}"u8.ToArray(), null)).Dispose();

        // Act
        (await PutToBlobAsync(ticket, "[]"u8.ToArray())).Dispose();
        var status = await WaitForStateAsync(client, ticket, UploadStates.Rejected);

        // Assert
        Assert.Contains("already exists", status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadUrl_DeclaredSizeOverLimit_413()
    {
        // Arrange
        var scene = await _app.SceneAsync("updeclared");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/upload-url", new { name = "x.bin", size = ItemsApp.MaxUploadBytes + 1 });

        // Assert
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Theory]
    [InlineData("/a/../b", "x.bin", 1L, "folder")]
    [InlineData("/", "../x.bin", 1L, "name")]
    [InlineData("/", null, 1L, "name")]
    [InlineData("/", "x.bin", null, "size")]
    [InlineData("/", "x.bin", -1L, "size")]
    public async Task UploadUrl_BadField_400NamingIt(string folder, string? name, long? size, string field)
    {
        // Arrange
        var scene = await _app.SceneAsync("upbad");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/upload-url", new { folder, name, size });

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
    }

    [Fact]
    public async Task UploadUrl_PathTaken_409()
    {
        // Arrange
        var scene = await _app.SceneAsync("upconflict");
        using var client = _app.Client(scene.Owner.Key);
        (await ItemTests.PutAsync(client, scene, "/t.json", "{}"u8.ToArray(), null)).Dispose();

        // Act
        using var response = await client.PostAsJsonAsync(scene.Items + "/upload-url", new { name = "t.json", size = 2 });

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
    }

    [Fact]
    public async Task UploadStatus_UnknownOrOtherDataset_404()
    {
        // Arrange
        var scene = await _app.SceneAsync("upstatus");
        var other = await _app.SceneAsync("upstatus2");
        using var client = _app.Client(scene.Owner.Key);
        var ticket = await RequestAsync(client, scene, "/", "s.txt", null, 1);
        using var otherClient = _app.Client(other.Owner.Key);

        // Act
        using var unknown = await client.GetAsync(new Uri($"{scene.Items}/uploads/i_00000000000000000000", UriKind.Relative));
        using var elsewhere = await otherClient.GetAsync(new Uri($"{other.Items}/uploads/{ticket.ItemId}", UriKind.Relative));
        var pending = await client.GetFromJsonAsync<UploadStatus>($"{scene.Items}/uploads/{ticket.ItemId}", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.Equal(UploadStates.Pending, pending!.State);
    }

    [Fact]
    public async Task Ingest_BlobOutsideItemPrefixOrWithoutTicket_LeftAlone()
    {
        // Arrange
        var store = _app.Factory.Services.GetRequiredService<ItemStore>();
        await azurite.BlobStore.CreateContainerIfNotExistsAsync(ItemStore.UploadContainer);
        var forged = "items/p_00000000000000000000/d_00000000000000000000/i_00000000000000000000";
        await azurite.BlobStore.UploadAsync(ItemStore.UploadContainer, forged, new MemoryStream([1, 2, 3]));

        // Act
        var other = await store.IngestAsync(new BlobCreatedEvent("e", ItemStore.UploadContainer, "raw/data.zip", 1, null, null, null, DateTimeOffset.UtcNow), CancellationToken.None);
        var noTicket = await store.IngestAsync(new BlobCreatedEvent("e", ItemStore.UploadContainer, forged, 3, null, null, null, DateTimeOffset.UtcNow), CancellationToken.None);

        // Assert
        Assert.Equal(IngestOutcome.NotAnItemUpload, other);
        Assert.Equal(IngestOutcome.NoTicket, noTicket);
        Assert.NotNull(await azurite.BlobStore.GetPropertiesAsync(ItemStore.UploadContainer, forged));
    }

    private static string UploadBlob(UploadTicket ticket)
    {
        var segments = ticket.StatusUrl.Split('/');
        return ItemStore.UploadBlobName(segments[3], segments[5], ticket.ItemId);
    }

    private static async Task<UploadTicket> RequestAsync(HttpClient client, Scene scene, string folder, string name, string? contentType, long size)
    {
        using var response = await client.PostAsJsonAsync(scene.Items + "/upload-url", new { folder, name, contentType, size });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<UploadTicket>(IdentityApp.Json))!;
    }

    private static async Task<HttpResponseMessage> PutToBlobAsync(UploadTicket ticket, byte[] bytes)
    {
        using var raw = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Put, ticket.UploadUrl) { Content = new ByteArrayContent(bytes) };
        foreach (var (name, value) in ticket.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return await raw.SendAsync(request);
    }

    private static async Task<UploadStatus> WaitForStateAsync(HttpClient client, UploadTicket ticket, string state)
    {
        var deadline = DateTimeOffset.UtcNow + IngestTimeout;
        while (true)
        {
            var status = (await client.GetFromJsonAsync<UploadStatus>(ticket.StatusUrl, IdentityApp.Json))!;
            if (status.State == state || DateTimeOffset.UtcNow > deadline)
            {
                Assert.Equal(state, status.State);
                return status;
            }

            await Task.Delay(100);
        }
    }
}
