using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Queues;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Azure;

/// <summary>Uses its own Azurite so stopping it does not disturb the shared one.</summary>
public sealed class AzuriteStoppedTests : IAsyncLifetime
{
    private readonly AzuriteFixture _azurite = new();

    public Task InitializeAsync() => _azurite.InitializeAsync();

    public Task DisposeAsync() => _azurite.DisposeAsync();

    [Fact]
    public async Task Stores_AzuriteStopped_ThrowUnreachableWithUrlThenRecoverAfterRestart()
    {
        // Arrange
        await _azurite.BlobStore.CreateContainerIfNotExistsAsync("kept");
        await _azurite.StopAsync();

        // Act
        var blobError = await Assert.ThrowsAsync<BlobStoreException>(() => _azurite.BlobStore.CreateContainerIfNotExistsAsync("kept"));
        var queueError = await Assert.ThrowsAsync<QueueStoreException>(() => _azurite.QueueStore.GetApproximateCountAsync("anything"));
        var pingWhileDown = await _azurite.BlobStore.PingAsync();
        await _azurite.StartAsync();
        var pingAfterRestart = await _azurite.BlobStore.PingAsync();

        // Assert
        Assert.Equal(0, blobError.Status);
        Assert.Contains("unreachable", blobError.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{_azurite.BlobPort}", blobError.Message, StringComparison.Ordinal);
        Assert.Equal(0, queueError.Status);
        Assert.Contains($"127.0.0.1:{_azurite.QueuePort}", queueError.Message, StringComparison.Ordinal);
        Assert.False(pingWhileDown);
        Assert.True(pingAfterRestart);
    }
}
