using System.Net;
using System.Security.Cryptography;
using System.Text;
using Serverless.Core.Storage.Blobs;
using Serverless.Storage.Azure;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Azure;

[Collection(AzuriteFixture.Collection)]
public sealed class AzureBlobStoreTests(AzuriteFixture azurite)
{
    private readonly AzureBlobStore _store = azurite.BlobStore;

    [Fact]
    public async Task UploadAsync_SmallStream_RoundTripsContentTypeAndMetadata()
    {
        // Arrange
        var container = await NewContainerAsync();
        var metadata = new Dictionary<string, string> { ["owner"] = "alice", ["kind"] = "image" };

        // Act
        var uploaded = await _store.UploadAsync(container, "folder/a b.txt", Text("hello blob"), new BlobUploadOptions("text/plain", metadata));
        await using var download = await _store.DownloadAsync(container, "folder/a b.txt");
        var text = await new StreamReader(download.Content).ReadToEndAsync();

        // Assert
        Assert.Equal("hello blob", text);
        Assert.Equal(10, uploaded.Length);
        Assert.Equal("text/plain", download.Properties.ContentType);
        Assert.Equal(10, download.Properties.Length);
        Assert.Equal("alice", download.Properties.Metadata["owner"]);
        Assert.Equal(uploaded.ETag, download.Properties.ETag);
    }

    [Fact]
    public async Task UploadAsync_TwentyMegabytesInFourMegabyteBlocks_DownloadHasSameSha256()
    {
        // Arrange
        var container = await NewContainerAsync();
        var data = RandomNumberGenerator.GetBytes((20 * 1024 * 1024) + 123);
        using var source = new ForwardOnlyStream(new MemoryStream(data));

        // Act
        var uploaded = await _store.UploadAsync(container, "big.bin", source, new BlobUploadOptions(BlockSize: 4 * 1024 * 1024));
        await using var download = await _store.DownloadAsync(container, "big.bin");
        var hash = await SHA256.HashDataAsync(download.Content);

        // Assert
        Assert.Equal(data.Length, uploaded.Length);
        Assert.Equal(data.Length, download.Properties.Length);
        Assert.Equal(SHA256.HashData(data), hash);
    }

    [Fact]
    public async Task DownloadAsync_Range_ReturnsOnlyThoseBytesAndWholeLength()
    {
        // Arrange
        var container = await NewContainerAsync();
        var data = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        await _store.UploadAsync(container, "r.bin", new MemoryStream(data));

        // Act
        await using var middle = await _store.DownloadAsync(container, "r.bin", new BlobRange(100, 50));
        var middleBytes = await ReadAllAsync(middle.Content);
        await using var tail = await _store.DownloadAsync(container, "r.bin", new BlobRange(990));
        var tailBytes = await ReadAllAsync(tail.Content);

        // Assert
        Assert.Equal(data[100..150], middleBytes);
        Assert.Equal(data[990..], tailBytes);
        Assert.Equal(1000, middle.Properties.Length);
    }

    [Fact]
    public async Task ListAsync_PrefixAndSmallPages_WalksEveryMatchOnce()
    {
        // Arrange
        var container = await NewContainerAsync();
        for (var i = 0; i < 7; i++)
        {
            await _store.UploadAsync(container, $"items/{i:D2}.json", Text("{}"), new BlobUploadOptions("application/json"));
        }

        await _store.UploadAsync(container, "other/x.json", Text("{}"));

        // Act
        var names = new List<string>();
        var pages = 0;
        string? token = null;
        do
        {
            var page = await _store.ListAsync(container, "items/", 3, token);
            names.AddRange(page.Items.Select(i => i.Name));
            Assert.All(page.Items, i => Assert.Equal("application/json", i.ContentType));
            token = page.ContinuationToken;
            pages++;
        }
        while (token is not null);

        // Assert
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"items/{i:D2}.json"), names);
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task SetMetadataAsync_ExistingBlob_ReplacesMetadata()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "m.txt", Text("x"), new BlobUploadOptions(Metadata: new Dictionary<string, string> { ["old"] = "1" }));

        // Act
        await _store.SetMetadataAsync(container, "m.txt", new Dictionary<string, string> { ["state"] = "done" });
        var properties = await _store.GetPropertiesAsync(container, "m.txt");

        // Assert
        Assert.NotNull(properties);
        Assert.Equal("done", properties.Metadata["state"]);
        Assert.False(properties.Metadata.ContainsKey("old"));
    }

    [Fact]
    public async Task DeleteAsync_ExistingThenMissing_ReturnsTrueThenFalse()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "d.txt", Text("x"));

        // Act
        var first = await _store.DeleteAsync(container, "d.txt");
        var second = await _store.DeleteAsync(container, "d.txt");

        // Assert
        Assert.True(first);
        Assert.False(second);
        Assert.Null(await _store.GetPropertiesAsync(container, "d.txt"));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => _store.DownloadAsync(container, "d.txt"));
    }

    [Fact]
    public async Task UploadAsync_IfNoneMatchOnExistingBlob_ThrowsConflictAndKeepsContent()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "once.txt", Text("first"));

        // Act
        var error = await Assert.ThrowsAsync<BlobConflictException>(() => _store.UploadAsync(container, "once.txt", Text("second"), new BlobUploadOptions(IfNoneMatchAny: true)));
        await using var download = await _store.DownloadAsync(container, "once.txt");

        // Assert
        Assert.True(error.Status is 409 or 412, $"status {error.Status}");
        Assert.Equal("first", await new StreamReader(download.Content).ReadToEndAsync());
    }

    [Fact]
    public async Task CreateSasUriAsync_ReadPermission_PlainHttpClientDownloads()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "shared/my file+1.txt", Text("via sas"));
        using var http = new HttpClient();

        // Act
        var sas = await _store.CreateSasUriAsync(container, "shared/my file+1.txt", BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(10));
        var body = await http.GetStringAsync(sas);

        // Assert
        Assert.Equal("via sas", body);
        Assert.Contains("sr=b", sas.Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateSasUriAsync_ResponseHeaderOverrides_ServiceAnswersWithThem()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "i/abc", Text("<html>not for the browser</html>"), new BlobUploadOptions("text/html"));
        using var http = new HttpClient();
        var headers = new BlobSasResponseHeaders(BlobSasResponseHeaders.Attachment("café \"report\".html"), "application/octet-stream");

        // Act
        var sas = await _store.CreateSasUriAsync(container, "i/abc", BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(10), headers);
        using var response = await http.GetAsync(sas);
        var body = await response.Content.ReadAsStringAsync();

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("<html>not for the browser</html>", body);
        Assert.Equal("attachment; filename=\"caf_ _report_.html\"; filename*=UTF-8''caf%C3%A9%20%22report%22.html", response.Content.Headers.ContentDisposition!.ToString());
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task CreateSasUriAsync_TamperedOverride_ServiceAnswers403()
    {
        // Arrange: the overrides are part of the signature, so a link holder cannot swap them.
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "i/abc", Text("x"));
        using var http = new HttpClient();
        var sas = await _store.CreateSasUriAsync(container, "i/abc", BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(10), new BlobSasResponseHeaders("attachment", "text/plain"));

        // Act
        using var response = await http.GetAsync(new Uri(sas.AbsoluteUri.Replace("rsct=text%2Fplain", "rsct=text%2Fhtml", StringComparison.Ordinal)));

        // Assert
        Assert.Contains("rsct=text%2Fplain", sas.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task CreateSasUriAsync_Expired_ServiceAnswers403()
    {
        // Arrange
        var container = await NewContainerAsync();
        await _store.UploadAsync(container, "file.txt", Text("secret"));
        using var http = new HttpClient();

        // Act
        var sas = await _store.CreateSasUriAsync(container, "file.txt", BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(-1));
        using var response = await http.GetAsync(sas);

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task UploadAsync_WrongAccountKey_ThrowsTyped403()
    {
        // Arrange
        var wrong = new AzureBlobStore(azurite.Options with { AccountKey = Convert.ToBase64String(new byte[64]) });

        // Act
        var error = await Assert.ThrowsAsync<BlobStoreException>(() => wrong.CreateContainerIfNotExistsAsync(AzuriteFixture.UniqueName("wrong")));

        // Assert
        Assert.Equal(403, error.Status);
        Assert.NotNull(error.ErrorCode);
        Assert.False(await wrong.PingAsync());
    }

    [Fact]
    public async Task PingAsync_Running_ReturnsTrue()
    {
        // Act
        var ok = await _store.PingAsync();

        // Assert
        Assert.True(ok);
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Upper")]
    [InlineData("has--double")]
    [InlineData("-leading")]
    public async Task CreateContainerIfNotExistsAsync_InvalidName_ThrowsBeforeSending(string name)
    {
        // Act
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _store.CreateContainerIfNotExistsAsync(name));

        // Assert
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadAsync_BlobNameWithControlCharacter_ThrowsArgumentException()
    {
        // Arrange
        var container = await NewContainerAsync();

        // Act
        var error = await Assert.ThrowsAsync<ArgumentException>(() => _store.UploadAsync(container, "bad\nname", Text("x")));

        // Assert
        Assert.Contains("blob name", error.Message, StringComparison.Ordinal);
    }

    private async Task<string> NewContainerAsync()
    {
        var name = AzuriteFixture.UniqueName("blobs");
        await _store.CreateContainerIfNotExistsAsync(name);
        await _store.CreateContainerIfNotExistsAsync(name); // idempotent
        return name;
    }

    private static MemoryStream Text(string value) => new(Encoding.UTF8.GetBytes(value));

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory);
        return memory.ToArray();
    }

    /// <summary>A non-seekable source, like a request body, so the upload cannot peek at its length.</summary>
    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 100_000));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
