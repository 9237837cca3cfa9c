using Serverless.Functions.Hosting;
using Serverless.Functions.Local;

namespace Serverless.Functions.Tests;

/// <summary>Settings validation names the key to fix.</summary>
public sealed class OptionsTests
{
    [Fact]
    public void DocumentStore_SqliteWithPath_Valid()
    {
        // Act
        var errors = new DocumentStoreOptions { Provider = "sqlite", SqlitePath = "x.db" }.Validate();

        // Assert
        Assert.Empty(errors);
    }

    [Fact]
    public void DocumentStore_CosmosWithoutEndpointOrDatabase_TwoErrors()
    {
        // Act
        var errors = new DocumentStoreOptions { Provider = "Cosmos", CosmosConnectionMode = "Tcp" }.Validate();

        // Assert
        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("DocumentStore:CosmosEndpoint", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("DocumentStore:CosmosDatabase", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("DocumentStore:CosmosConnectionMode", StringComparison.Ordinal));
    }

    [Fact]
    public void DocumentStore_UnknownProvider_Rejected()
    {
        // Act
        var errors = new DocumentStoreOptions { Provider = "Mongo" }.Validate();

        // Assert
        Assert.Contains("Sqlite or Cosmos", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_EndpointsWithoutConnectionString_Valid()
    {
        // Act
        var errors = new StorageOptions { BlobEndpoint = "https://a.blob.core.windows.net", QueueEndpoint = "https://a.queue.core.windows.net" }.Validate();

        // Assert
        Assert.Empty(errors);
    }

    [Fact]
    public void Storage_NothingSet_ErrorNamesBothWays()
    {
        // Act
        var errors = new StorageOptions().Validate();

        // Assert
        Assert.Contains("Storage:ConnectionString", errors[0], StringComparison.Ordinal);
        Assert.Contains("Storage:BlobEndpoint", errors[0], StringComparison.Ordinal);
    }

    [Fact]
    public void LocalHost_BatchSizeAbove32_Rejected()
    {
        // Act
        var errors = new LocalHostOptions { QueueBatchSize = 64 }.Validate();

        // Assert
        Assert.Contains("LocalHost:QueueBatchSize", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void LocalHost_NoContainersConfigured_WatchesUploads()
    {
        // Act
        var containers = new LocalHostOptions().EffectiveUploadContainers;

        // Assert
        Assert.Equal([LocalHostOptions.DefaultUploadContainer], containers);
    }
}
