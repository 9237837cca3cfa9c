using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Functions.Health;

namespace Serverless.Functions.Tests;

/// <summary>The health endpoint and its probe.</summary>
public sealed class HealthTests
{
    private static StorageHealthProbe Probe(Action<IServiceCollection> register, TimeSpan? timeout = null)
    {
        var services = new ServiceCollection();
        register(services);
        return new StorageHealthProbe(services.BuildServiceProvider(), Options.Create(new HealthOptions { PingTimeout = timeout ?? TimeSpan.FromSeconds(2) }));
    }

    [Fact]
    public async Task Check_AllPortsAnswer_UpWithLatency()
    {
        // Arrange
        var queues = new InMemoryQueueStore();
        var probe = Probe(s => s.AddSingleton<IQueueStore>(queues).AddSingleton<IDocumentStore>(new PingOnlyDocumentStore(() => Task.FromResult(true)))
            .AddSingleton<Serverless.Core.Storage.Blobs.IBlobStore>(new PingOnlyBlobStore(() => Task.FromResult(true))));

        // Act
        var report = await probe.CheckAsync(CancellationToken.None);

        // Assert
        Assert.True(report.IsUp);
        Assert.All(report.Components.Values, c => Assert.True(c.IsUp && c.LatencyMs >= 0 && c.Error is null));
        Assert.Equal(3, report.Components.Count);
    }

    [Fact]
    public async Task Check_OneThrowsOneHangs_BothDownWithinTheTimeout()
    {
        // Arrange
        var probe = Probe(
            s => s.AddSingleton<IQueueStore>(new InMemoryQueueStore())
                .AddSingleton<IDocumentStore>(new PingOnlyDocumentStore(() => throw new DocumentStoreUnavailable("connection refused")))
                .AddSingleton<Serverless.Core.Storage.Blobs.IBlobStore>(new PingOnlyBlobStore(() => new TaskCompletionSource<bool>().Task)),
            TimeSpan.FromMilliseconds(200));
        var started = DateTime.UtcNow;

        // Act
        var report = await probe.CheckAsync(CancellationToken.None);

        // Assert
        Assert.False(report.IsUp);
        Assert.Contains("connection refused", report.Components[StorageHealthProbe.DocumentStore].Error, StringComparison.Ordinal);
        Assert.Contains("no answer within 200 ms", report.Components[StorageHealthProbe.BlobStore].Error, StringComparison.Ordinal);
        Assert.True(report.Components[StorageHealthProbe.QueueStore].IsUp);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    private sealed class DocumentStoreUnavailable(string message) : Exception(message);

    private sealed class PingOnlyDocumentStore(Func<Task<bool>> ping) : IDocumentStore
    {
        public Task EnsureContainerAsync(ContainerSpec spec, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public IDocumentContainer Container(string name) => throw new NotSupportedException();

        public Task<bool> PingAsync(CancellationToken cancellationToken = default) => ping();
    }

    private sealed class PingOnlyBlobStore(Func<Task<bool>> ping) : Serverless.Core.Storage.Blobs.IBlobStore
    {
        public Task CreateContainerIfNotExistsAsync(string container, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Serverless.Core.Storage.Blobs.BlobProperties> UploadAsync(string container, string name, Stream content, Serverless.Core.Storage.Blobs.BlobUploadOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task StageBlockAsync(string container, string name, string blockId, Stream content, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Serverless.Core.Storage.Blobs.BlobProperties> CommitBlocksAsync(string container, string name, IReadOnlyList<string> blockIds, Serverless.Core.Storage.Blobs.BlobUploadOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Serverless.Core.Storage.Blobs.BlobDownload> DownloadAsync(string container, string name, Serverless.Core.Storage.Blobs.BlobRange? range = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Serverless.Core.Storage.Blobs.BlobProperties?> GetPropertiesAsync(string container, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task SetMetadataAsync(string container, string name, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Serverless.Core.Storage.Blobs.BlobPage> ListAsync(string container, string? prefix = null, int pageSize = 1000, string? continuationToken = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string container, string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<Uri> CreateSasUriAsync(string container, string name, Serverless.Core.Storage.Blobs.BlobSasPermissions permissions, DateTimeOffset expiresOn, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<bool> PingAsync(CancellationToken cancellationToken = default) => ping();
    }
}
