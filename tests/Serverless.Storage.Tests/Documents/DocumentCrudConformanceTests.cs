using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Tests.Documents;

/// <summary>CRUD, ETag, patch and concurrency behaviour every document store adapter must show.</summary>
public abstract class DocumentCrudConformanceTests : DocumentConformanceBase
{
    [Fact]
    public async Task Create_NewDocument_ReadReturnsBodyWithSystemFields()
    {
        var container = await NewContainerAsync();

        var created = await container.CreateAsync("p1", "doc1", Json("""{"name":"a","n":1}"""));
        var read = await container.ReadAsync("p1", "doc1");

        Assert.NotNull(read);
        Assert.Equal(created.ETag, read.ETag);
        Assert.Equal("a", (string?)read.Body["name"]);
        Assert.Equal(1, (long?)read.Body["n"]);
        Assert.Equal("doc1", (string?)read.Body["id"]);
        Assert.Equal("p1", (string?)read.Body["pk"]);
        Assert.Equal(("p1", "doc1"), (read.PartitionKey, read.Id));
    }

    [Fact]
    public async Task Create_ExistingId_ThrowsConflict()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));

        await Assert.ThrowsAsync<DocumentConflictException>(() => container.CreateAsync("p1", "doc1", Json("""{"v":2}""")));

        Assert.Equal(1, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["v"]);
    }

    [Fact]
    public async Task Create_SameIdInOtherPartition_IsSeparateDocument()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));

        await container.CreateAsync("p2", "doc1", Json("""{"v":2}"""));

        Assert.Equal(1, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["v"]);
        Assert.Equal(2, (long?)(await container.ReadAsync("p2", "doc1"))!.Body["v"]);
    }

    [Fact]
    public async Task Read_MissingDocument_ReturnsNull()
    {
        var container = await NewContainerAsync();

        var read = await container.ReadAsync("p1", "nope");

        Assert.Null(read);
    }

    [Fact]
    public async Task Replace_MissingDocument_ThrowsNotFound()
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<DocumentNotFoundException>(() => container.ReplaceAsync("p1", "nope", Json("{}")));
    }

    [Fact]
    public async Task Replace_CurrentETag_ReplacesWithNewETag()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));

        var replaced = await container.ReplaceAsync("p1", "doc1", Json("""{"v":2}"""), created.ETag);

        Assert.NotEqual(created.ETag, replaced.ETag);
        var read = await container.ReadAsync("p1", "doc1");
        Assert.Equal(2, (long?)read!.Body["v"]);
        Assert.Equal(replaced.ETag, read.ETag);
    }

    [Fact]
    public async Task Replace_StaleETag_ThrowsPreconditionFailedAndKeepsDocument()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));
        await container.ReplaceAsync("p1", "doc1", Json("""{"v":2}"""));

        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.ReplaceAsync("p1", "doc1", Json("""{"v":3}"""), created.ETag));

        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["v"]);
    }

    [Fact]
    public async Task Writes_EachWrite_ReturnsADistinctETag()
    {
        var container = await NewContainerAsync();

        var etags = new List<string>
        {
            (await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""))).ETag,
            (await container.ReplaceAsync("p1", "doc1", Json("""{"v":1}"""))).ETag,
            (await container.UpsertAsync("p1", "doc1", Json("""{"v":1}"""))).ETag,
            (await container.PatchAsync("p1", "doc1", [PatchOperation.Set("v", 1)])).ETag,
        };

        Assert.Equal(etags.Count, etags.Distinct().Count());
    }

    [Fact]
    public async Task Upsert_MissingDocument_Creates()
    {
        var container = await NewContainerAsync();

        var upserted = await container.UpsertAsync("p1", "doc1", Json("""{"v":1}"""));

        Assert.Equal(upserted.ETag, (await container.ReadAsync("p1", "doc1"))!.ETag);
    }

    [Fact]
    public async Task Upsert_ExistingDocument_Replaces()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("""{"v":1,"old":true}"""));

        await container.UpsertAsync("p1", "doc1", Json("""{"v":2}"""));

        var read = await container.ReadAsync("p1", "doc1");
        Assert.Equal(2, (long?)read!.Body["v"]);
        Assert.False(read.Body.ContainsKey("old"));
    }

    [Fact]
    public async Task Upsert_CurrentIfMatch_Replaces()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));

        var upserted = await container.UpsertAsync("p1", "doc1", Json("""{"v":2}"""), created.ETag);

        Assert.Equal(2, (long?)upserted.Body["v"]);
        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["v"]);
    }

    [Fact]
    public async Task Upsert_StaleIfMatch_ThrowsPreconditionFailed()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"v":1}"""));
        await container.UpsertAsync("p1", "doc1", Json("""{"v":2}"""));

        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.UpsertAsync("p1", "doc1", Json("""{"v":3}"""), created.ETag));

        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["v"]);
    }

    [Fact]
    public async Task Delete_ExistingDocument_RemovesIt()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("{}"));

        await container.DeleteAsync("p1", "doc1");

        Assert.Null(await container.ReadAsync("p1", "doc1"));
    }

    [Fact]
    public async Task Delete_MissingDocument_ThrowsNotFound()
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<DocumentNotFoundException>(() => container.DeleteAsync("p1", "nope"));
    }

    [Fact]
    public async Task Delete_StaleETag_ThrowsPreconditionFailedAndKeepsDocument()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("{}"));
        await container.ReplaceAsync("p1", "doc1", Json("""{"v":2}"""));

        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.DeleteAsync("p1", "doc1", created.ETag));

        Assert.NotNull(await container.ReadAsync("p1", "doc1"));
    }

    [Fact]
    public async Task Patch_SetRemoveIncrement_AppliesAllAtomically()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"a":1,"gone":"x","stats":{"count":2}}"""));

        var patched = await container.PatchAsync("p1", "doc1",
        [
            PatchOperation.Set("a", "one"),
            PatchOperation.Set("stats.label", "new"),
            PatchOperation.Remove("gone"),
            PatchOperation.Increment("stats.count", 5),
            PatchOperation.Increment("fresh", 3),
        ], created.ETag);

        var read = await container.ReadAsync("p1", "doc1");
        Assert.Equal(patched.ETag, read!.ETag);
        Assert.NotEqual(created.ETag, patched.ETag);
        Assert.Equal("one", (string?)read.Body["a"]);
        Assert.Equal("new", (string?)read.Body["stats"]!["label"]);
        Assert.False(read.Body.ContainsKey("gone"));
        Assert.Equal(7, (long?)read.Body["stats"]!["count"]);
        Assert.Equal(3, (long?)read.Body["fresh"]);
    }

    [Fact]
    public async Task Patch_RemoveMissingField_ThrowsInvalidAndAppliesNothing()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"a":1}"""));

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.PatchAsync("p1", "doc1",
            [PatchOperation.Set("a", 2), PatchOperation.Remove("missing")]));

        var read = await container.ReadAsync("p1", "doc1");
        Assert.Equal(created.ETag, read!.ETag);
        Assert.Equal(1, (long?)read.Body["a"]);
    }

    [Fact]
    public async Task Patch_ElevenOperations_ThrowsInvalid()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("{}"));
        var operations = Enumerable.Range(0, 11).Select(i => PatchOperation.Set($"f{i}", i)).ToList();

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.PatchAsync("p1", "doc1", operations));

        Assert.False((await container.ReadAsync("p1", "doc1"))!.Body.ContainsKey("f0"));
    }

    [Fact]
    public async Task Patch_StaleETag_ThrowsPreconditionFailed()
    {
        var container = await NewContainerAsync();
        var created = await container.CreateAsync("p1", "doc1", Json("""{"a":1}"""));
        await container.PatchAsync("p1", "doc1", [PatchOperation.Set("a", 2)]);

        await Assert.ThrowsAsync<DocumentPreconditionFailedException>(() => container.PatchAsync("p1", "doc1", [PatchOperation.Set("a", 3)], created.ETag));

        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["a"]);
    }

    [Fact]
    public async Task Patch_MissingDocument_ThrowsNotFound()
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<DocumentNotFoundException>(() => container.PatchAsync("p1", "nope", [PatchOperation.Set("a", 1)]));
    }

    [Theory]
    [InlineData("a.b")]
    [InlineData("1abc")]
    [InlineData("a..b")]
    [InlineData("a-b")]
    public async Task Patch_InvalidPath_ThrowsInvalidDocument(string path)
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("""{"a":1}"""));

        // "a.b" is a valid path whose parent is a number, so it fails when applied; the others fail validation.
        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.PatchAsync("p1", "doc1", [PatchOperation.Set(path, 1)]));

        Assert.Equal(1, (long?)(await container.ReadAsync("p1", "doc1"))!.Body["a"]);
    }

    [Fact]
    public async Task Patch_IncrementOfString_ThrowsInvalidDocument()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "doc1", Json("""{"a":"text"}"""));

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.PatchAsync("p1", "doc1", [PatchOperation.Increment("a", 1)]));

        Assert.Equal("text", (string?)(await container.ReadAsync("p1", "doc1"))!.Body["a"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("a?b")]
    [InlineData("a#b")]
    [InlineData("a\nb")]
    public async Task Create_InvalidId_ThrowsInvalidDocument(string id)
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.CreateAsync("p1", id, Json("{}")));
    }

    [Fact]
    public async Task Create_IdLongerThan255_ThrowsInvalidDocument()
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.CreateAsync("p1", new string('x', 256), Json("{}")));
        await container.CreateAsync("p1", new string('x', 255), Json("{}"));

        Assert.NotNull(await container.ReadAsync("p1", new string('x', 255)));
    }

    [Fact]
    public async Task Create_InvalidPartitionKey_ThrowsInvalidDocument()
    {
        var container = await NewContainerAsync();

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.CreateAsync("p/1", "doc1", Json("{}")));
    }

    [Fact]
    public async Task Create_OversizedDocument_ThrowsInvalidAndStoresNothing()
    {
        var container = await NewContainerAsync();
        var body = new JsonObject { ["blob"] = new string('x', DocumentLimits.MaxDocumentBytes) };

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.CreateAsync("p1", "big", body));

        Assert.Null(await container.ReadAsync("p1", "big"));
    }

    [Fact]
    public async Task ReplaceWithIfMatch_ConcurrentIncrements_LoseNoUpdate()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "counter", Json("""{"n":0}"""));

        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                while (true)
                {
                    var current = (await container.ReadAsync("p1", "counter"))!;
                    var next = Json($$"""{"n":{{(long)current.Body["n"]! + 1}}}""");
                    try
                    {
                        await container.ReplaceAsync("p1", "counter", next, current.ETag);
                        break;
                    }
                    catch (DocumentPreconditionFailedException)
                    {
                        // Another worker won this round: read again and retry.
                    }
                }
            }
        }));
        await Task.WhenAll(workers);

        Assert.Equal(400, (long?)(await container.ReadAsync("p1", "counter"))!.Body["n"]);
    }
}
