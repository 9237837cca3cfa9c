using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Cosmos;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>Cosmos-specific behaviour against the npm Cosmos server; the shared CRUD suite runs in <see cref="CosmosDocumentCrudTests"/>.</summary>
[Collection(CosmosServer.Name)]
public sealed class CosmosDocumentStoreTests(CosmosServerFixture server) : IAsyncLifetime, IDisposable
{
    private const string Pk = "project:1";
    private readonly CosmosDocumentStore _store = new(CosmosServer.Options(server));
    private IDocumentContainer _container = null!;

    public async Task InitializeAsync()
    {
        var name = CosmosServer.NewContainerName();
        await _store.EnsureContainerAsync(new ContainerSpec(name, ["status"]));
        _container = _store.Container(name);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task UpsertAsync_ETagOfDeletedDocument_ThrowsPreconditionFailedAndCreatesNothing()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "u", []);
        await _container.DeleteAsync(Pk, "u");

        // Act
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => _container.UpsertAsync(Pk, "u", [], created.ETag));

        // Assert
        Assert.Null(await _container.ReadAsync(Pk, "u"));
    }

    [Fact]
    public async Task ExecuteBatchAsync_RawBodyOfAnotherPartition_FailsBeforeAnyRequest()
    {
        // Arrange: the server cannot run batches, so this pins the check that runs before the batch is sent.
        var body = """{"id":"r","pk":"project:2"}"""u8.ToArray();

        // Act
        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => _container.ExecuteBatchAsync(Pk, [BatchOperation.CreateRaw("r", body)]));

        // Assert
        Assert.Equal(0, error.OperationIndex);
        Assert.IsType<InvalidDocumentException>(error.InnerException);
    }

    [Theory]
    [InlineData("id")]
    [InlineData("pk")]
    [InlineData("a..b")]
    [InlineData("a/b")]
    public async Task PatchAsync_BadPath_ThrowsInvalidDocument(string path)
    {
        // Arrange
        await _container.CreateAsync(Pk, "p", []);

        // Act and Assert
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _container.PatchAsync(Pk, "p", [PatchOperation.Set(path, 1)]));
    }

    [Fact]
    public async Task EnsureContainerAsync_Twice_IsIdempotentAndKeepsData()
    {
        // Arrange
        await _container.CreateAsync(Pk, "a", []);

        // Act
        await _store.EnsureContainerAsync(new ContainerSpec(_container.Name, ["status"]));

        // Assert
        Assert.NotNull(await _container.ReadAsync(Pk, "a"));
    }

    [Fact]
    public async Task EnsureContainerAsync_InvalidName_ThrowsInvalidDocument()
    {
        // Act and Assert
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _store.EnsureContainerAsync(new ContainerSpec("Bad_Name")));
    }

    [Fact]
    public async Task PingAsync_ServerUp_ReturnsTrue()
    {
        // Act
        var ok = await _store.PingAsync();

        // Assert
        Assert.True(ok);
    }

    [Fact]
    public async Task PingAsync_NothingListening_ReturnsFalse()
    {
        // Arrange
        var port = LocalProcess.FreePorts(1)[0];
        using var store = new CosmosDocumentStore(CosmosServer.Options(server) with { Endpoint = new Uri($"https://127.0.0.1:{port}/") });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // Act
        var ok = await store.PingAsync(timeout.Token);

        // Assert
        Assert.False(ok);
    }
}
