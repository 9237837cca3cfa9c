using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Media;
using Serverless.Durable;
using Serverless.Functions.Functions;
using Serverless.Functions.Items;
using Serverless.Functions.Media;
using Serverless.Functions.Tests.RawZips;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Media;

/// <summary>
/// Video items on SQLite, Azurite and the real ffmpeg: an upload (API or BlobCreated) marks the item pending and
/// starts its ConvertVideo orchestration, which records source and converted metadata, or the reason it failed.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class VideoConversionTests(AzuriteFixture azurite, VideoConversionTests.World shared) : IClassFixture<VideoConversionTests.World>
{
    private readonly MediaTestApp _app = shared.App.Start(azurite.ConnectionString);

    [Fact]
    public async Task Upload_ShortTestsrcVideo_PendingThenConvertedVerifiedWithWebmLink()
    {
        // Arrange
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        var mp4 = await shared.ClipAsync();

        // Act
        var item = await MediaTestApp.UploadAsync(client, projectId, datasetId, "/videos/clip.mp4", mp4);
        var itemId = item.GetProperty("id").GetString()!;
        var state = await WaitForConversionAsync(projectId, itemId);
        var video = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video");
        var stored = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}");
        using var http = new HttpClient();
        using var webm = await http.GetAsync(new Uri(video.GetProperty("url").GetString()!));
        var bytes = await webm.Content.ReadAsByteArrayAsync();

        // Assert
        Assert.Equal("video", item.GetProperty("type").GetString());
        Assert.Equal(VideoStates.Pending, item.GetProperty("metadata").GetProperty("system").GetProperty("video").GetProperty("state").GetString());
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.True(video.GetProperty("state").GetString() == VideoStates.Done, video.GetRawText());
        var source = video.GetProperty("source");
        var converted = video.GetProperty("converted");
        Assert.Equal(25, source.GetProperty("frames").GetInt64());
        Assert.Equal(25, converted.GetProperty("frames").GetInt64());
        Assert.Equal(25, source.GetProperty("fps").GetDouble(), 3);
        Assert.Equal(25, converted.GetProperty("fps").GetDouble(), 1);
        Assert.Equal(160, converted.GetProperty("width").GetInt32());
        Assert.Equal("vp9", converted.GetProperty("videoCodec").GetString());
        Assert.Equal("h264", source.GetProperty("videoCodec").GetString());
        Assert.Equal(VideoStates.Done, stored.GetProperty("metadata").GetProperty("system").GetProperty("video").GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, webm.StatusCode);
        Assert.Equal("video/webm", webm.Content.Headers.ContentType?.MediaType);
        Assert.Equal([0x1A, 0x45, 0xDF, 0xA3], bytes[..4]);
        Assert.Equal(converted.GetProperty("sizeBytes").GetInt64(), bytes.Length);
    }

    [Fact]
    public async Task Upload_CorruptVideo_FailsCleanlyWithTheReason_AndConvertAgainFailsTheSameWay()
    {
        // Arrange: an mp4 signature (so it is sniffed as a video) followed by garbage.
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        var corrupt = new byte[4096];
        Random.Shared.NextBytes(corrupt);
        byte[] header = [0, 0, 0, 0x18, .. "ftypisom"u8, 0, 0, 2, 0, .. "isomiso2"u8];
        header.CopyTo(corrupt, 0);

        // Act
        var item = await MediaTestApp.UploadAsync(client, projectId, datasetId, "/broken.mp4", corrupt);
        var itemId = item.GetProperty("id").GetString()!;
        var state = await WaitForConversionAsync(projectId, itemId);
        var video = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video");
        using var again = await client.PostAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/convert", UriKind.Relative), null);
        var againId = (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var secondState = await _app.WaitAsync(againId);
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video");

        // Assert
        Assert.Equal("video", item.GetProperty("type").GetString());
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(VideoStates.Failed, state.ReadOutputAs<VideoConversionOutcome>()!.State);
        Assert.Equal(VideoStates.Failed, video.GetProperty("state").GetString());
        Assert.Equal(nameof(VideoFailureKind.Unreadable), video.GetProperty("failureKind").GetString());
        Assert.Contains("ffprobe", video.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, video.GetProperty("url").ValueKind);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, secondState.Status);
        Assert.Equal(VideoStates.Failed, after.GetProperty("state").GetString());
        Assert.Null(await _app.Blobs.GetPropertiesAsync(_app.ItemsContainer, VideoConversions.ConvertedBlobName(ItemStore.BlobName(projectId, datasetId, itemId))));
    }

    [Fact]
    public async Task BlobCreated_VideoUpload_IngestedPendingThenConverted_DeleteRemovesTheWebm()
    {
        // Arrange: a signed upload, the file PUT straight into blob storage, the BlobCreated event delivered.
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        var mp4 = await shared.ClipAsync();
        using var ticketResponse = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/items/upload-url", new { folder = "/v", name = "c.mp4", size = mp4.Length });
        var ticket = (await ticketResponse.Content.ReadFromJsonAsync<UploadTicket>(Identity.IdentityApp.Json))!;
        using (var put = new HttpRequestMessage(HttpMethod.Put, ticket.UploadUrl) { Content = new ByteArrayContent(mp4) })
        {
            put.Headers.Add("x-ms-blob-type", "BlockBlob");
            using var http = new HttpClient();
            using var response = await http.SendAsync(put);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        // Act
        var outcome = await _app.Factory.Services.GetRequiredService<ItemStore>().IngestAsync(
            new BlobCreatedEvent("e1", ItemStore.UploadContainer, ItemStore.UploadBlobName(projectId, datasetId, ticket.ItemId), mp4.Length, null, null, null, DateTimeOffset.UtcNow),
            CancellationToken.None);
        var state = await WaitForConversionAsync(projectId, ticket.ItemId);
        var video = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{ticket.ItemId}/video");
        var webmBlob = VideoConversions.ConvertedBlobName(ItemStore.BlobName(projectId, datasetId, ticket.ItemId));
        var webmBefore = await _app.Blobs.GetPropertiesAsync(_app.ItemsContainer, webmBlob);
        using var deleted = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/{ticket.ItemId}", UriKind.Relative));
        var webmAfter = await _app.Blobs.GetPropertiesAsync(_app.ItemsContainer, webmBlob);

        // Assert
        Assert.True(outcome is IngestOutcome.Ingested or IngestOutcome.AlreadyDone, outcome.ToString()); // the app's own watcher may be first
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.True(video.GetProperty("state").GetString() == VideoStates.Done, video.GetRawText());
        Assert.Equal(25, video.GetProperty("converted").GetProperty("frames").GetInt64());
        Assert.NotNull(webmBefore);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Null(webmAfter);
    }

    [Fact]
    public async Task Video_OfANonVideoItem_404()
    {
        // Arrange
        var (owner, projectId, datasetId) = await _app.SceneAsync();
        using var client = _app.Client(owner.Key);
        var item = await MediaTestApp.UploadAsync(client, projectId, datasetId, "/t.txt", "hello"u8.ToArray());
        var itemId = item.GetProperty("id").GetString()!;

        // Act
        using var get = await client.GetAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video", UriKind.Relative));
        using var convert = await client.PostAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/convert", UriKind.Relative), null);

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, convert.StatusCode);
        Assert.False(item.GetProperty("metadata").GetProperty("system").TryGetProperty("video", out _));
    }

    /// <summary>Waits for the item's conversion instance to appear and end.</summary>
    private async Task<OrchestrationState> WaitForConversionAsync(string projectId, string itemId)
    {
        var instanceId = $"{projectId}.{VideoConversions.Kind}.{itemId}";
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (await _app.Durable.GetInstanceAsync(instanceId) is null)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"conversion {instanceId} never started");
            await Task.Delay(50);
        }

        return await _app.WaitAsync(instanceId);
    }

    /// <summary>One app and one generated clip for the class.</summary>
    public sealed class World : IAsyncLifetime
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), $"clips-{Guid.NewGuid():N}");
        private byte[]? _clip;

        public MediaTestApp App { get; } = new();

        /// <summary>1 s of ffmpeg's testsrc, 160x120 at 25 fps, H.264 in MP4.</summary>
        public async Task<byte[]> ClipAsync()
        {
            if (_clip is null)
            {
                Directory.CreateDirectory(_dir);
                var path = Path.Combine(_dir, "clip.mp4");
                var run = await MediaProcess.RunAsync("ffmpeg", ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-pix_fmt", "yuv420p", "-c:v", "libx264", path], TimeSpan.FromSeconds(60));
                Assert.True(run.ExitCode == 0, run.StandardErrorTail);
                _clip = await File.ReadAllBytesAsync(path);
            }

            return _clip;
        }

        public Task InitializeAsync() => Task.CompletedTask;

        public async Task DisposeAsync()
        {
            await App.DisposeAsync();
            if (Directory.Exists(_dir))
            {
                Directory.Delete(_dir, recursive: true);
            }
        }
    }
}
