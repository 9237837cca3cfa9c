using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Tests.Documents;

/// <summary>Atomic batches: all operations apply, or none does and the error names the failing one.</summary>
public abstract class DocumentBatchConformanceTests : DocumentConformanceBase
{
    [Fact]
    public async Task ExecuteBatch_AllSucceed_AppliesEveryOperationInOrder()
    {
        var container = await NewContainerAsync();
        var existing = await container.CreateAsync("p1", "old", Json("""{"v":1}"""));
        await container.CreateAsync("p1", "doomed", Json("{}"));

        var results = await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("new", Json("""{"v":1}""")),
            BatchOperation.Replace("old", Json("""{"v":2}"""), existing.ETag),
            BatchOperation.Upsert("new", Json("""{"v":3}""")),
            BatchOperation.Delete("doomed"),
        ]);

        Assert.Equal(4, results.Count);
        Assert.Null(results[3]);
        Assert.Equal(3, (long?)(await container.ReadAsync("p1", "new"))!.Body["v"]);
        Assert.Equal(results[2]!.ETag, (await container.ReadAsync("p1", "new"))!.ETag);
        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "old"))!.Body["v"]);
        Assert.Null(await container.ReadAsync("p1", "doomed"));
    }

    [Fact]
    public async Task ExecuteBatch_RawCreate_StoresTheBytesAsADocumentAndReturnsNull()
    {
        var container = await NewContainerAsync("size");

        var results = await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.CreateRaw("raw", """{"id":"raw","size":7,"tags":["a"],"pk":"p1"}"""u8.ToArray()),
            BatchOperation.Create("tree", Json("""{"size":8}""")),
        ]);

        Assert.Null(results[0]);
        Assert.NotNull(results[1]);
        var raw = await container.ReadAsync("p1", "raw");
        Assert.True(JsonNode.DeepEquals(Json("""{"id":"raw","size":7,"tags":["a"],"pk":"p1"}"""), raw!.Body), raw.Body.ToJsonString());
        var page = await container.QueryAsync(new DocumentQuery("p1", Filter.Lt("size", 8)));
        Assert.Equal(["raw"], page.Items.Select(d => d.Id));
    }

    [Theory]
    [InlineData("""{"id":"raw","pk":"p2"}""")]
    [InlineData("""{"id":"other","pk":"p1"}""")]
    [InlineData("""{"pk":"p1"}""")]
    [InlineData("""{"id":"raw","id":"raw","pk":"p1"}""")]
    [InlineData("""{"id":"raw","pk":"p1"} {}""")]
    [InlineData("""["id","raw"]""")]
    [InlineData("""{"id":"raw","pk":"p1",""")]
    public async Task ExecuteBatch_RawCreateNotMatchingItsKeys_FailsAndAppliesNothing(string body)
    {
        var container = await NewContainerAsync();

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("first", Json("{}")),
            BatchOperation.CreateRaw("raw", System.Text.Encoding.UTF8.GetBytes(body)),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<InvalidDocumentException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "first"));
        Assert.Null(await container.ReadAsync("p1", "raw"));
    }

    [Fact]
    public async Task ExecuteBatch_RawUpsertAndReplace_WriteTheBytesMoveIndexedValuesAndReturnNull()
    {
        var container = await NewContainerAsync("size");
        var old = await container.CreateAsync("p1", "old", Json("""{"size":1}"""));

        var results = await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.UpsertRaw("new", """{"pk":"p1","id":"new","size":5}"""u8.ToArray()),
            BatchOperation.ReplaceRaw("old", """{"id":"old","pk":"p1","size":9}"""u8.ToArray(), old.ETag),
            BatchOperation.UpsertRaw("new", """{"pk":"p1","id":"new","size":6}"""u8.ToArray()),
        ]);

        Assert.Equal([null, null, null], results);
        Assert.Equal(6, (long?)(await container.ReadAsync("p1", "new"))!.Body["size"]);
        var replaced = await container.ReadAsync("p1", "old");
        Assert.True(JsonNode.DeepEquals(Json("""{"id":"old","pk":"p1","size":9}"""), replaced!.Body), replaced.Body.ToJsonString());
        Assert.NotEqual(old.ETag, replaced.ETag);
        var page = await container.QueryAsync(new DocumentQuery("p1", Filter.Gt("size", 5)));
        Assert.Equal(["new", "old"], page.Items.Select(d => d.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ExecuteBatch_RawReplaceAtAStaleETagOrOfAMissingDocument_FailsAndAppliesNothing()
    {
        var container = await NewContainerAsync();
        var stale = await container.CreateAsync("p1", "doc", Json("""{"v":1}"""));
        await container.ReplaceAsync("p1", "doc", Json("""{"v":2}"""));

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.UpsertRaw("first", """{"id":"first","pk":"p1"}"""u8.ToArray()),
            BatchOperation.ReplaceRaw("doc", """{"id":"doc","pk":"p1","v":3}"""u8.ToArray(), stale.ETag),
        ]));
        var missing = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.ReplaceRaw("nobody", """{"id":"nobody","pk":"p1"}"""u8.ToArray()),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<DocumentPreconditionFailedException>(error.InnerException);
        Assert.IsType<DocumentNotFoundException>(missing.InnerException);
        Assert.Null(await container.ReadAsync("p1", "first"));
        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc"))!.Body["v"]);
    }

    [Theory]
    [InlineData("create", typeof(DocumentConflictException))]
    [InlineData("upsertOfAnotherPartition", typeof(InvalidDocumentException))]
    public async Task ExecuteBatch_RawWriteRefused_FailsAndLeavesTheDocument(string write, Type error)
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "taken", Json("""{"v":1}"""));
        var operation = write == "create"
            ? BatchOperation.CreateRaw("taken", """{"id":"taken","pk":"p1","v":2}"""u8.ToArray())
            : BatchOperation.UpsertRaw("taken", """{"id":"taken","pk":"p2","v":2}"""u8.ToArray());

        var failure = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1", [operation]));

        Assert.Equal(0, failure.OperationIndex);
        Assert.IsType(error, failure.InnerException);
        Assert.Equal(1, (long?)(await container.ReadAsync("p1", "taken"))!.Body["v"]);
    }

    [Fact]
    public async Task ExecuteBatch_ConflictInTheMiddle_AppliesNothingAndNamesTheOperation()
    {
        var container = await NewContainerAsync();
        var existing = await container.CreateAsync("p1", "taken", Json("""{"v":1}"""));

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("first", Json("{}")),
            BatchOperation.Upsert("taken", Json("""{"v":2}""")),
            BatchOperation.Create("taken", Json("""{"v":3}""")),
            BatchOperation.Create("last", Json("{}")),
        ]));

        Assert.Equal(2, error.OperationIndex);
        Assert.IsType<DocumentConflictException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "first"));
        Assert.Null(await container.ReadAsync("p1", "last"));
        var taken = await container.ReadAsync("p1", "taken");
        Assert.Equal(existing.ETag, taken!.ETag);
        Assert.Equal(1, (long?)taken.Body["v"]);
    }

    [Fact]
    public async Task ExecuteBatch_StaleIfMatch_FailsWithPreconditionAndAppliesNothing()
    {
        var container = await NewContainerAsync();
        var stale = await container.CreateAsync("p1", "doc", Json("""{"v":1}"""));
        await container.ReplaceAsync("p1", "doc", Json("""{"v":2}"""));

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("other", Json("{}")),
            BatchOperation.Replace("doc", Json("""{"v":3}"""), stale.ETag),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<DocumentPreconditionFailedException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "other"));
        Assert.Equal(2, (long?)(await container.ReadAsync("p1", "doc"))!.Body["v"]);
    }

    [Fact]
    public async Task ExecuteBatch_DeleteOfMissingDocument_FailsWithNotFound()
    {
        var container = await NewContainerAsync();

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("a", Json("{}")),
            BatchOperation.Delete("missing"),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<DocumentNotFoundException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "a"));
    }

    [Fact]
    public async Task ExecuteBatch_InvalidIdInAnOperation_FailsBeforeApplyingAnything()
    {
        var container = await NewContainerAsync();

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("a", Json("{}")),
            BatchOperation.Create("b/c", Json("{}")),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<InvalidDocumentException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "a"));
    }

    [Fact]
    public async Task ExecuteBatch_MoreThanLimit_ThrowsInvalidAndAppliesNothing()
    {
        var container = await NewContainerAsync();
        var operations = Enumerable.Range(0, DocumentLimits.MaxBatchOperations + 1)
            .Select(i => BatchOperation.Create($"d{i}", Json("{}"))).ToList();

        await Assert.ThrowsAsync<InvalidDocumentException>(() => container.ExecuteBatchAsync("p1", operations));

        Assert.Equal(0, await container.CountAsync("p1", null));
    }

    [Fact]
    public async Task ExecuteBatch_HundredCreates_AllVisible()
    {
        var container = await NewContainerAsync();
        var operations = Enumerable.Range(0, DocumentLimits.MaxBatchOperations)
            .Select(i => BatchOperation.Create($"d{i}", Json($$"""{"n":{{i}}}"""))).ToList();

        var results = await container.ExecuteBatchAsync("p1", operations);

        Assert.Equal(100, results.Count(r => r is not null));
        Assert.Equal(100, await container.CountAsync("p1", null));
    }

    [Fact]
    public async Task ExecuteBatch_ConcurrentBatchesSomeFailing_AppliesExactlyTheSucceedingOnes()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "taken", Json("{}"));

        // Odd batches end with a conflicting create, so each of them must leave nothing behind.
        var batches = Enumerable.Range(0, 16).Select(b => Task.Run(async () =>
        {
            var operations = Enumerable.Range(0, 10).Select(i => BatchOperation.Create($"b{b}-{i}", Json("{}"))).ToList();
            if (b % 2 == 1)
            {
                operations.Add(BatchOperation.Create("taken", Json("{}")));
            }

            try
            {
                await container.ExecuteBatchAsync("p1", operations);
                return true;
            }
            catch (DocumentBatchFailedException e) when (e.OperationIndex == 10)
            {
                return false;
            }
        })).ToList();
        var outcomes = await Task.WhenAll(batches);

        Assert.Equal(Enumerable.Range(0, 16).Select(b => b % 2 == 0), outcomes);
        Assert.Equal(81, await container.CountAsync("p1", null));
        Assert.Equal(0, await container.CountAsync("p1", Filter.StartsWith("id", "b1-")));
        Assert.Equal(10, await container.CountAsync("p1", Filter.StartsWith("id", "b2-")));
    }

    [Fact]
    public async Task ExecuteBatch_PatchWithCreate_IncrementsAndReturnsThePatchedDocument()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "counter", Json("""{"n":1,"keep":"x"}"""));

        var results = await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("child", Json("{}")),
            BatchOperation.PatchOf("counter", [PatchOperation.Increment("n", 2), PatchOperation.Set("flag", true)]),
        ]);

        var counter = (await container.ReadAsync("p1", "counter"))!;
        Assert.Equal(3, (long?)counter.Body["n"]);
        Assert.Equal("x", (string?)counter.Body["keep"]);
        Assert.True(counter.Body["flag"]!.GetValue<bool>());
        Assert.Equal(counter.ETag, results[1]!.ETag);
        Assert.Equal("3", results[1]!.Body["n"]!.ToJsonString());
    }

    [Fact]
    public async Task ExecuteBatch_PatchOfMissingDocument_FailsAndAppliesNothing()
    {
        var container = await NewContainerAsync();

        var error = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("child", Json("{}")),
            BatchOperation.PatchOf("missing", [PatchOperation.Increment("n", 1)]),
        ]));

        Assert.Equal(1, error.OperationIndex);
        Assert.IsType<DocumentNotFoundException>(error.InnerException);
        Assert.Null(await container.ReadAsync("p1", "child"));
    }

    [Fact]
    public async Task ExecuteBatch_ConcurrentPatchIncrements_NoneLost()
    {
        var container = await NewContainerAsync();
        await container.CreateAsync("p1", "counter", Json("""{"n":0}"""));

        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create($"c{i}", Json("{}")),
            BatchOperation.PatchOf("counter", [PatchOperation.Increment("n", 1)]),
        ]))));

        Assert.Equal(40, (long?)(await container.ReadAsync("p1", "counter"))!.Body["n"]);
    }

    [Fact]
    public async Task ExecuteBatch_PatchWithoutResult_SetsAndRemovesReturnsNullAndChangesTheETag()
    {
        var container = await NewContainerAsync("kind");
        var before = await container.CreateAsync("p1", "item", Json("""{"kind":"item","status":{"t1":"DONE","t2":"OLD"},"meta":{"n":1.50}}"""));

        var results = await container.ExecuteBatchAsync("p1",
        [
            BatchOperation.PatchWithoutResult("item", [PatchOperation.Set("status.t3", "NEW"), PatchOperation.Remove("status.t2"), PatchOperation.Set("extra", Json("""{"a":[1,"é\"q"],"b":null}"""))], before.ETag),
            BatchOperation.PatchWithoutResult("item", [PatchOperation.Set("status.t1", null)]),
        ]);

        Assert.Equal([null, null], results);
        var after = (await container.ReadAsync("p1", "item"))!;
        Assert.True(JsonNode.DeepEquals(
            Json("""{"id":"item","pk":"p1","kind":"item","status":{"t1":null,"t3":"NEW"},"meta":{"n":1.50},"extra":{"a":[1,"é\"q"],"b":null}}"""), after.Body), after.Body.ToJsonString());
        Assert.NotEqual(before.ETag, after.ETag);
        Assert.Equal(["item"], (await container.QueryAsync(new DocumentQuery("p1", Filter.Eq("status.t3", "NEW")))).Items.Select(d => d.Id));
        Assert.Equal(["item"], (await container.QueryAsync(new DocumentQuery("p1", Filter.Eq("kind", "item")))).Items.Select(d => d.Id));
    }

    [Fact]
    public async Task ExecuteBatch_PatchWithoutResultOfAnIndexedPath_MovesTheDocumentInItsIndex()
    {
        var container = await NewContainerAsync("size", "meta.kind");
        await container.CreateAsync("p1", "doc", Json("""{"size":1,"meta":{"kind":"a"}}"""));

        await container.ExecuteBatchAsync("p1", [BatchOperation.PatchWithoutResult("doc", [PatchOperation.Set("size", 7), PatchOperation.Set("meta", Json("""{"kind":"b"}"""))])]);

        Assert.Equal(["doc"], (await container.QueryAsync(new DocumentQuery("p1", Filter.And(Filter.Gt("size", 5), Filter.Eq("meta.kind", "b"))))).Items.Select(d => d.Id));
        Assert.Empty((await container.QueryAsync(new DocumentQuery("p1", Filter.Eq("meta.kind", "a")))).Items);
    }

    public static TheoryData<string, Type> FailingPatches => new()
    {
        { "parent", typeof(InvalidDocumentException) },
        { "parentNotObject", typeof(InvalidDocumentException) },
        { "removeMissing", typeof(InvalidDocumentException) },
        { "staleETag", typeof(DocumentPreconditionFailedException) },
        { "missing", typeof(DocumentNotFoundException) },
    };

    [Theory]
    [MemberData(nameof(FailingPatches))]
    public async Task ExecuteBatch_PatchWithoutResultBreakingARule_FailsWithTheErrorOfAPatchAndAppliesNothing(string rule, Type error)
    {
        var container = await NewContainerAsync();
        var stale = await container.CreateAsync("p1", "doc", Json("""{"v":0,"status":{}}"""));
        var current = await container.ReplaceAsync("p1", "doc", Json("""{"v":1,"status":{},"flat":"x"}"""));
        var (id, operation, ifMatch) = rule switch
        {
            "parent" => ("doc", PatchOperation.Set("nothing.t1", "A"), null),
            "parentNotObject" => ("doc", PatchOperation.Set("flat.t1", "A"), null),
            "removeMissing" => ("doc", PatchOperation.Remove("status.t1"), null),
            "staleETag" => ("doc", PatchOperation.Set("status.t1", "A"), stale.ETag),
            _ => ("nobody", PatchOperation.Set("status.t1", "A"), (string?)null),
        };

        var failure = await Assert.ThrowsAsync<DocumentBatchFailedException>(() => container.ExecuteBatchAsync("p1",
        [
            BatchOperation.Create("first", Json("{}")),
            BatchOperation.PatchWithoutResult(id, [operation], ifMatch),
        ]));

        Assert.Equal(1, failure.OperationIndex);
        Assert.IsType(error, failure.InnerException);
        Assert.Null(await container.ReadAsync("p1", "first"));
        Assert.Equal(current.ETag, (await container.ReadAsync("p1", "doc"))!.ETag);
    }
}
