using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Durable;
using Serverless.Functions.RawZips;
using Serverless.Testing;

namespace Serverless.Functions.Tests.RawZips;

/// <summary>
/// The raw-data zip through HTTP on SQLite and Azurite: POST starts the build orchestration, GET reports it and
/// signs a download link; the zip read back through that link is checked entry by entry.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class RawZipTests(AzuriteFixture azurite, RawZipTests.World shared) : IClassFixture<RawZipTests.World>
{
    private readonly MediaTestApp _app = shared.App.Start(azurite.ConnectionString);

    [Fact]
    public async Task Build_HostileAndClashingNames_EntriesSanitizedUniqueWithTheirBytes()
    {
        // Arrange: names a careless extractor would mishandle, two that differ only in case, and an uploaded file.
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        await MediaTestApp.BulkAsync(client, projectId, datasetId, ["/a/bb:c.json", "/q/what?.json", "/dots./x.json", "/pipe|star*.json", "/A.json", "/a.json"]);
        var png = Png();
        await MediaTestApp.UploadAsync(client, projectId, datasetId, "/img/p.png", png);

        // Act
        var (accepted, status) = await BuildAsync(client, projectId, datasetId);
        var (zip, disposition) = await DownloadAsync(status);

        // Assert
        Assert.Equal(RawZipStates.Done, status.GetProperty("state").GetString());
        Assert.Equal(7, status.GetProperty("entries").GetInt32());
        Assert.Equal(ProjectInstance(projectId, datasetId), accepted);
        Assert.StartsWith("attachment;", disposition, StringComparison.Ordinal);
        Assert.Contains("d.zip", disposition, StringComparison.Ordinal);
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var names = archive.Entries.Select(e => e.FullName).ToList();
        Assert.Equal(7, names.Count);
        Assert.Equal(7, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(names, n =>
        {
            Assert.False(n.StartsWith('/'), n);
            Assert.DoesNotContain("..", n, StringComparison.Ordinal);
            Assert.Equal(-1, n.IndexOfAny([':', '?', '*', '|', '\\']));
            Assert.DoesNotContain("./", n, StringComparison.Ordinal);
        });
        Assert.Contains("a/bb_c.json", names);
        Assert.Contains("q/what_.json", names);
        Assert.Contains("dots/x.json", names);
        Assert.Contains("pipe_star_.json", names);
        Assert.Contains(names, n => n is "A.json" or "a.json");
        Assert.Contains(names, n => n is "A (2).json" or "a (2).json");
        using var image = archive.GetEntry("img/p.png")!.Open();
        using var copy = new MemoryStream();
        await image.CopyToAsync(copy);
        Assert.Equal(png, copy.ToArray());
        using var text = new StreamReader(archive.GetEntry("q/what_.json")!.Open());
        Assert.Equal("""{"path":"/q/what?.json"}""", await text.ReadToEndAsync());
    }

    [Fact]
    public async Task Build_WithFilter_OnlyMatchingItems_AndRebuildAfterAnUpdate_HoldsTheNewItem()
    {
        // Arrange
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        await MediaTestApp.BulkAsync(client, projectId, datasetId, ["/keep/1.json", "/keep/2.json", "/drop/3.json"]);

        // Act
        var (_, filtered) = await BuildAsync(client, projectId, datasetId, new { filter = new { dir = "/keep" } });
        await MediaTestApp.BulkAsync(client, projectId, datasetId, ["/keep/4.json"]);
        var (_, rebuilt) = await BuildAsync(client, projectId, datasetId, new { filter = new { dir = "/keep" } });
        var (zip, _) = await DownloadAsync(rebuilt);

        // Assert
        Assert.Equal(2, filtered.GetProperty("entries").GetInt32());
        Assert.Contains("\"/keep\"", filtered.GetProperty("filter").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, rebuilt.GetProperty("entries").GetInt32());
        Assert.True(rebuilt.GetProperty("builtAt").GetDateTimeOffset() >= filtered.GetProperty("builtAt").GetDateTimeOffset());
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        Assert.Equal(["keep/1.json", "keep/2.json", "keep/4.json"], archive.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Build_OverEntryCap_FailsWithTheReason_PreviousZipStaysComplete()
    {
        // Arrange: a good zip first, then more items than the cap.
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        await MediaTestApp.BulkAsync(client, projectId, datasetId, ["/first.json"]);
        await BuildAsync(client, projectId, datasetId);
        await MediaTestApp.BulkAsync(client, projectId, datasetId, Enumerable.Range(0, MediaTestApp.MaxEntries).Select(i => $"/many/{i}.json"));

        // Act
        var (_, status) = await BuildAsync(client, projectId, datasetId);
        await using var previous = await _app.Blobs.DownloadAsync(_app.ZipsContainer, RawZipBuilder.BlobName(projectId, datasetId));
        using var kept = new MemoryStream();
        await previous.Content.CopyToAsync(kept);

        // Assert
        Assert.Equal(RawZipStates.Failed, status.GetProperty("state").GetString());
        Assert.Contains($"at most {MediaTestApp.MaxEntries}", status.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("RawZips:MaxEntries", status.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, status.GetProperty("downloadUrl").ValueKind);
        using var archive = new ZipArchive(kept, ZipArchiveMode.Read);
        Assert.Equal("first.json", Assert.Single(archive.Entries).FullName);
    }

    [Fact]
    public async Task Build_OverByteCap_FailsWithTheReason_NothingPublished()
    {
        // Arrange: two incompressible files that together pass the byte cap.
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        foreach (var name in new[] { "/big/1.bin", "/big/2.bin" })
        {
            var bytes = new byte[(int)(MediaTestApp.MaxTotalBytes * 6 / 10)];
            Random.Shared.NextBytes(bytes);
            await MediaTestApp.UploadAsync(client, projectId, datasetId, name, bytes);
        }

        // Act
        var (_, status) = await BuildAsync(client, projectId, datasetId);

        // Assert
        Assert.Equal(RawZipStates.Failed, status.GetProperty("state").GetString());
        Assert.Contains("RawZips:MaxTotalBytes", status.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Null(await _app.Blobs.GetPropertiesAsync(_app.ZipsContainer, RawZipBuilder.BlobName(projectId, datasetId)));
    }

    [Fact]
    public async Task Get_NeverBuilt_StateNone_AndBadFilter_400_UnknownDataset_404()
    {
        // Arrange
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);

        // Act
        var none = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip");
        using var badFilter = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip", new { filter = new { nosuchfield = 1 } });
        using var unknown = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/d_nosuchdataset/raw-zip", new { });

        // Assert
        Assert.Equal(RawZipStates.None, none.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, badFilter.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Post_TwiceInARow_AnswersTheSameInstance()
    {
        // Arrange
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        await MediaTestApp.BulkAsync(client, projectId, datasetId, ["/x.json"]);

        // Act
        using var first = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip", new { });
        using var second = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip", new { });
        var firstId = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var secondId = (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var state = await _app.WaitAsync(firstId);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal(firstId, secondId);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
    }

    private static string ProjectInstance(string projectId, string datasetId) => $"{projectId}.{RawZipsApi.Kind}.{datasetId}";

    private async Task<(string InstanceId, JsonElement Status)> BuildAsync(HttpClient client, string projectId, string datasetId, object? body = null)
    {
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip", body ?? new { });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var instanceId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var state = await _app.WaitAsync(instanceId);
        Assert.True(state.IsTerminal);
        var status = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip");
        return (instanceId, status);
    }

    private static async Task<(byte[] Zip, string Disposition)> DownloadAsync(JsonElement status)
    {
        Assert.Equal(RawZipStates.Done, status.GetProperty("state").GetString());
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(status.GetProperty("downloadUrl").GetString()!));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsByteArrayAsync(), response.Content.Headers.ContentDisposition?.ToString() ?? "");
    }

    /// <summary>A 1x1 PNG.</summary>
    private static byte[] Png() => Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    /// <summary>One app for the class.</summary>
    public sealed class World : IAsyncLifetime
    {
        public MediaTestApp App { get; } = new();

        public Task InitializeAsync() => Task.CompletedTask;

        public async Task DisposeAsync() => await App.DisposeAsync();
    }
}
