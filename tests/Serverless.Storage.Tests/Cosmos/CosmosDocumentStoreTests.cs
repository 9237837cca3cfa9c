using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Cosmos;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>CRUD, ETags, upsert, patch and errors through the real SDK against the npm Cosmos server.</summary>
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
    public async Task CreateAsync_NewDocument_ReadReturnsBodyWithSystemFieldsAndSameETag()
    {
        // Act
        var created = await _container.CreateAsync(Pk, "a", new JsonObject { ["status"] = "open", ["meta"] = new JsonObject { ["size"] = 3 } });
        var read = await _container.ReadAsync(Pk, "a");

        // Assert
        Assert.NotNull(read);
        Assert.False(string.IsNullOrEmpty(created.ETag));
        Assert.Equal(created.ETag, read.ETag);
        Assert.Equal("a", read.Body["id"]!.GetValue<string>());
        Assert.Equal(Pk, read.Body["pk"]!.GetValue<string>());
        Assert.Equal(3, read.Body["meta"]!["size"]!.GetValue<int>());
        Assert.False(read.Body.ContainsKey("_rid"));
        Assert.False(read.Body.ContainsKey("_etag"));
    }

    [Fact]
    public async Task ReadAsync_Missing_ReturnsNull()
    {
        // Act
        var read = await _container.ReadAsync(Pk, "nope");

        // Assert
        Assert.Null(read);
    }

    [Fact]
    public async Task ReadAsync_SameIdOtherPartition_ReturnsNull()
    {
        // Arrange
        await _container.CreateAsync(Pk, "a", []);

        // Act
        var read = await _container.ReadAsync("project:2", "a");

        // Assert
        Assert.Null(read);
    }

    [Fact]
    public async Task CreateAsync_ExistingId_ThrowsConflict()
    {
        // Arrange
        await _container.CreateAsync(Pk, "a", []);

        // Act and Assert
        await Assert.ThrowsAsync<DocumentConflictException>(() => _container.CreateAsync(Pk, "a", []));
    }

    [Fact]
    public async Task ReplaceAsync_CurrentETag_ReplacesAndChangesETag()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "a", new JsonObject { ["n"] = 1 });

        // Act
        var replaced = await _container.ReplaceAsync(Pk, "a", new JsonObject { ["n"] = 2 }, created.ETag);

        // Assert
        Assert.NotEqual(created.ETag, replaced.ETag);
        Assert.Equal(2, (await _container.ReadAsync(Pk, "a"))!.Body["n"]!.GetValue<int>());
    }

    [Fact]
    public async Task ReplaceAsync_StaleETag_ThrowsPreconditionFailedAndKeepsDocument()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "a", new JsonObject { ["n"] = 1 });
        await _container.ReplaceAsync(Pk, "a", new JsonObject { ["n"] = 2 });

        // Act
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => _container.ReplaceAsync(Pk, "a", new JsonObject { ["n"] = 3 }, created.ETag));

        // Assert
        Assert.Equal(2, (await _container.ReadAsync(Pk, "a"))!.Body["n"]!.GetValue<int>());
    }

    [Fact]
    public async Task ReplaceAsync_Missing_ThrowsNotFound()
    {
        // Act and Assert
        await Assert.ThrowsAsync<DocumentNotFoundException>(() => _container.ReplaceAsync(Pk, "nope", []));
    }

    [Fact]
    public async Task UpsertAsync_MissingThenExisting_CreatesThenReplaces()
    {
        // Act
        var first = await _container.UpsertAsync(Pk, "u", new JsonObject { ["n"] = 1 });
        var second = await _container.UpsertAsync(Pk, "u", new JsonObject { ["n"] = 2 });

        // Assert
        Assert.NotEqual(first.ETag, second.ETag);
        Assert.Equal(2, (await _container.ReadAsync(Pk, "u"))!.Body["n"]!.GetValue<int>());
    }

    [Fact]
    public async Task UpsertAsync_StaleETag_ThrowsPreconditionFailed()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "u", new JsonObject { ["n"] = 1 });
        await _container.UpsertAsync(Pk, "u", new JsonObject { ["n"] = 2 });

        // Act and Assert
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => _container.UpsertAsync(Pk, "u", new JsonObject { ["n"] = 3 }, created.ETag));
    }

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
    public async Task DeleteAsync_Existing_RemovesDocument()
    {
        // Arrange
        await _container.CreateAsync(Pk, "d", []);

        // Act
        await _container.DeleteAsync(Pk, "d");

        // Assert
        Assert.Null(await _container.ReadAsync(Pk, "d"));
    }

    [Fact]
    public async Task DeleteAsync_Missing_ThrowsNotFound()
    {
        // Act and Assert
        await Assert.ThrowsAsync<DocumentNotFoundException>(() => _container.DeleteAsync(Pk, "nope"));
    }

    [Fact]
    public async Task DeleteAsync_StaleETag_ThrowsPreconditionFailedAndKeepsDocument()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "d", new JsonObject { ["n"] = 1 });
        await _container.ReplaceAsync(Pk, "d", new JsonObject { ["n"] = 2 });

        // Act
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => _container.DeleteAsync(Pk, "d", created.ETag));

        // Assert
        Assert.NotNull(await _container.ReadAsync(Pk, "d"));
    }

    [Fact]
    public async Task PatchAsync_SetIncrementRemove_AppliesAllAndReturnsNewBody()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "p", new JsonObject
        {
            ["status"] = "open",
            ["stats"] = new JsonObject { ["count"] = 2 },
            ["old"] = true,
        });

        // Act
        var patched = await _container.PatchAsync(Pk, "p",
        [
            PatchOperation.Set("status", "done"),
            PatchOperation.Set("stats.label", "x"),
            PatchOperation.Increment("stats.count", 5),
            PatchOperation.Increment("stats.fresh", 3),
            PatchOperation.Remove("old"),
        ]);

        // Assert
        var read = (await _container.ReadAsync(Pk, "p"))!;
        Assert.NotEqual(created.ETag, patched.ETag);
        Assert.Equal(read.ETag, patched.ETag);
        Assert.Equal("done", read.Body["status"]!.GetValue<string>());
        Assert.Equal("x", read.Body["stats"]!["label"]!.GetValue<string>());
        Assert.Equal(7, read.Body["stats"]!["count"]!.GetValue<int>());
        Assert.Equal(3, read.Body["stats"]!["fresh"]!.GetValue<int>());
        Assert.False(read.Body.ContainsKey("old"));
        Assert.Equal(read.Body.ToJsonString(), patched.Body.ToJsonString());
    }

    [Fact]
    public async Task PatchAsync_StaleETag_ThrowsPreconditionFailed()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "p", new JsonObject { ["n"] = 1 });
        await _container.PatchAsync(Pk, "p", [PatchOperation.Increment("n", 1)]);

        // Act and Assert
        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => _container.PatchAsync(Pk, "p", [PatchOperation.Increment("n", 1)], created.ETag));
        Assert.Equal(2, (await _container.ReadAsync(Pk, "p"))!.Body["n"]!.GetValue<int>());
    }

    [Fact]
    public async Task PatchAsync_Missing_ThrowsNotFound()
    {
        // Act and Assert
        await Assert.ThrowsAsync<DocumentNotFoundException>(() => _container.PatchAsync(Pk, "nope", [PatchOperation.Set("a", 1)]));
    }

    [Fact]
    public async Task PatchAsync_RemoveAbsentField_ThrowsInvalidDocumentAndChangesNothing()
    {
        // Arrange
        var created = await _container.CreateAsync(Pk, "p", new JsonObject { ["n"] = 1 });

        // Act
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _container.PatchAsync(Pk, "p", [PatchOperation.Set("n", 5), PatchOperation.Remove("absent")]));

        // Assert
        var read = (await _container.ReadAsync(Pk, "p"))!;
        Assert.Equal(created.ETag, read.ETag);
        Assert.Equal(1, read.Body["n"]!.GetValue<int>());
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
    public async Task PatchAsync_TooManyOperations_ThrowsInvalidDocument()
    {
        // Arrange
        var operations = Enumerable.Range(0, DocumentLimits.MaxPatchOperations + 1).Select(i => PatchOperation.Set($"f{i}", i)).ToList();

        // Act and Assert
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _container.PatchAsync(Pk, "p", operations));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("a#b")]
    [InlineData("")]
    public async Task CreateAsync_InvalidId_ThrowsInvalidDocumentAndStoresNothing(string id)
    {
        // Act
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _container.CreateAsync(Pk, id, []));

        // Assert
        Assert.Equal(0, await _container.CountAsync(Pk, null));
    }

    [Fact]
    public async Task CreateAsync_OversizedBody_ThrowsInvalidDocument()
    {
        // Arrange
        var body = new JsonObject { ["blob"] = new string('x', DocumentLimits.MaxDocumentBytes) };

        // Act and Assert
        await Assert.ThrowsAsync<InvalidDocumentException>(() => _container.CreateAsync(Pk, "big", body));
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
