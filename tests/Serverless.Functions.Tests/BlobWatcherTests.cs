using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Local;

namespace Serverless.Functions.Tests;

/// <summary>Unit tests of the local Event Grid stand-in with a listing-only blob store double.</summary>
public sealed class BlobWatcherTests
{
    private static BlobWatcher Watcher(ListingBlobStore store, RecordingBlobHandler handler, params string[] containers) =>
        new(store, [handler], Options.Create(new LocalHostOptions { UploadContainers = containers, MaxDequeueCount = 3 }), NullLogger<BlobWatcher>.Instance);

    [Fact]
    public async Task ScanOnce_NewBlobs_RaisedOnceEach()
    {
        // Arrange
        var store = new ListingBlobStore();
        store.Put("uploads", "a.mp4", "e1");
        store.Put("uploads", "b.zip", "e2");
        var handler = new RecordingBlobHandler();
        var watcher = Watcher(store, handler, "uploads");

        // Act
        var first = await watcher.ScanOnceAsync(CancellationToken.None);
        var second = await watcher.ScanOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal((2, 0), (first, second));
        Assert.Equal(["a.mp4", "b.zip"], handler.Received.Select(e => e.BlobName).Order());
        Assert.All(handler.Received, e => Assert.Equal("uploads", e.Container));
        Assert.Contains("uploads", store.CreatedContainers);
    }

    [Fact]
    public async Task ScanOnce_BlobOverwrittenOrReuploaded_RaisedAgain()
    {
        // Arrange
        var store = new ListingBlobStore();
        store.Put("uploads", "a.mp4", "e1");
        var handler = new RecordingBlobHandler();
        var watcher = Watcher(store, handler, "uploads");
        await watcher.ScanOnceAsync(CancellationToken.None);

        // Act
        store.Put("uploads", "a.mp4", "e2");
        await watcher.ScanOnceAsync(CancellationToken.None);
        store.Remove("uploads", "a.mp4");
        await watcher.ScanOnceAsync(CancellationToken.None);
        store.Put("uploads", "a.mp4", "e2");
        await watcher.ScanOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal(["e1", "e2", "e2"], handler.Received.Select(e => e.ETag));
    }

    [Fact]
    public async Task ScanOnce_ManyPages_EveryBlobRaised()
    {
        // Arrange
        var store = new ListingBlobStore { PageSize = 2 };
        for (var i = 0; i < 5; i++)
        {
            store.Put("uploads", $"f{i}", "e");
        }

        var handler = new RecordingBlobHandler();

        // Act
        var raised = await Watcher(store, handler, "uploads").ScanOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal(5, raised);
        Assert.Equal(5, handler.Received.Select(e => e.BlobName).Distinct().Count());
    }

    [Fact]
    public async Task ScanOnce_HandlerFails_RetriedThenGivenUpAfterMaxAttempts()
    {
        // Arrange
        var store = new ListingBlobStore();
        store.Put("uploads", "bad.mp4", "e1");
        var handler = new RecordingBlobHandler(new InvalidOperationException("cannot convert"));
        var watcher = Watcher(store, handler, "uploads");

        // Act
        for (var scan = 0; scan < 5; scan++)
        {
            await watcher.ScanOnceAsync(CancellationToken.None);
        }

        // Assert: 3 attempts (MaxDequeueCount), then no more.
        Assert.Equal(3, handler.Received.Count);
    }

    [Fact]
    public async Task ScanOnce_HandlerRecovers_NotRaisedAfterSuccess()
    {
        // Arrange
        var store = new ListingBlobStore();
        store.Put("uploads", "a.mp4", "e1");
        var handler = new RecordingBlobHandler(new InvalidOperationException("transient"));
        var watcher = Watcher(store, handler, "uploads");
        await watcher.ScanOnceAsync(CancellationToken.None);

        // Act
        handler.FailWith = null;
        var retried = await watcher.ScanOnceAsync(CancellationToken.None);
        var after = await watcher.ScanOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal((1, 0), (retried, after));
        Assert.Equal(2, handler.Received.Count);
    }

    [Fact]
    public async Task ScanOnce_SeveralContainers_EachWatched()
    {
        // Arrange
        var store = new ListingBlobStore();
        store.Put("uploads", "a", "e");
        store.Put("imports", "b", "e");
        store.Put("other", "c", "e");
        var handler = new RecordingBlobHandler();

        // Act
        await Watcher(store, handler, "uploads", "imports").ScanOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal(["imports/b", "uploads/a"], handler.Received.Select(e => $"{e.Container}/{e.BlobName}").Order());
    }

    /// <summary>Only what the watcher uses: create container and list (paged).</summary>
    private sealed class ListingBlobStore : IBlobStore
    {
        private readonly SortedDictionary<string, SortedDictionary<string, string>> _containers = new(StringComparer.Ordinal);

        public int PageSize { get; init; } = 1000;

        public HashSet<string> CreatedContainers { get; } = [];

        public void Put(string container, string name, string etag) => Container(container)[name] = etag;

        public void Remove(string container, string name) => Container(container).Remove(name);

        public Task CreateContainerIfNotExistsAsync(string container, CancellationToken cancellationToken = default)
        {
            CreatedContainers.Add(container);
            Container(container);
            return Task.CompletedTask;
        }

        public Task<BlobPage> ListAsync(string container, string? prefix = null, int pageSize = 1000, string? continuationToken = null, CancellationToken cancellationToken = default)
        {
            var skip = continuationToken is null ? 0 : int.Parse(continuationToken, System.Globalization.CultureInfo.InvariantCulture);
            var all = Container(container).ToList();
            var items = all.Skip(skip).Take(PageSize)
                .Select(p => new BlobItem(p.Key, 10, "application/octet-stream", p.Value, DateTimeOffset.UnixEpoch)).ToList();
            var next = skip + items.Count < all.Count ? (skip + items.Count).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            return Task.FromResult(new BlobPage(items, next));
        }

        public Task<BlobProperties> UploadAsync(string container, string name, Stream content, BlobUploadOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task StageBlockAsync(string container, string name, string blockId, Stream content, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<BlobProperties> CommitBlocksAsync(string container, string name, IReadOnlyList<string> blockIds, BlobUploadOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<BlobDownload> DownloadAsync(string container, string name, BlobRange? range = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<BlobProperties?> GetPropertiesAsync(string container, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task SetMetadataAsync(string container, string name, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string container, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Uri> CreateSasUriAsync(string container, string name, BlobSasPermissions permissions, DateTimeOffset expiresOn, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> PingAsync(CancellationToken cancellationToken = default) => Task.FromResult(true);

        private SortedDictionary<string, string> Container(string name)
        {
            if (!_containers.TryGetValue(name, out var blobs))
            {
                blobs = new SortedDictionary<string, string>(StringComparer.Ordinal);
                _containers[name] = blobs;
            }

            return blobs;
        }
    }
}
