using System.Net;
using System.Text.Json;
using Serverless.Functions.Health;
using Serverless.Testing;

namespace Serverless.Functions.Tests;

/// <summary>The health endpoint with the real adapters: SQLite on a temp file and Azurite.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class HealthOnRealStackTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string _dbPath = Path.Combine(Path.GetTempPath(), $"health-{Guid.NewGuid():N}", "platform.db");

    [Fact]
    public async Task GetHealth_SqliteAndAzuriteUp_200WithEveryStoreUp()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.Standalone(new()
        {
            ["DocumentStore:SqlitePath"] = _dbPath,
            ["Storage:ConnectionString"] = azurite.ConnectionString,
        });
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync(new Uri("/api/health", UriKind.Relative));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var components = body.RootElement.GetProperty("components");
        foreach (var name in new[] { StorageHealthProbe.DocumentStore, StorageHealthProbe.BlobStore, StorageHealthProbe.QueueStore })
        {
            Assert.Equal("up", components.GetProperty(name).GetProperty("status").GetString());
        }

        Assert.True(File.Exists(_dbPath), "the SQLite file is created where the settings say");
    }

    [Fact]
    public async Task GetHealth_StorageNotListening_503WithBlobAndQueueDownDocumentsUp()
    {
        // Arrange: a well-formed connection string to ports where nothing listens.
        var dead = LocalProcess.FreePorts(2);
        await using var factory = FunctionsAppFactory.Standalone(new()
        {
            ["DocumentStore:SqlitePath"] = _dbPath,
            ["Storage:ConnectionString"] = azurite.ConnectionString
                .Replace($":{azurite.BlobPort}/", $":{dead[0]}/", StringComparison.Ordinal)
                .Replace($":{azurite.QueuePort}/", $":{dead[1]}/", StringComparison.Ordinal),
        });
        using var client = factory.CreateClient();

        // Act
        using var response = await client.GetAsync(new Uri("/api/health", UriKind.Relative));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        // Assert
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var components = body.RootElement.GetProperty("components");
        Assert.Equal("up", components.GetProperty(StorageHealthProbe.DocumentStore).GetProperty("status").GetString());
        Assert.Equal("down", components.GetProperty(StorageHealthProbe.BlobStore).GetProperty("status").GetString());
        Assert.Equal("down", components.GetProperty(StorageHealthProbe.QueueStore).GetProperty("status").GetString());
    }

    public void Dispose()
    {
        var dir = Path.GetDirectoryName(_dbPath)!;
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
