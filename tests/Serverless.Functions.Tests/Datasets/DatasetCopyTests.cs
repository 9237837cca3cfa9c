using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Functions.Annotations;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>
/// Clone and merge through HTTP on SQLite and Azurite: each starts an orchestration (202), which copies pages of
/// items (documents and files) into a new dataset and reports progress as custom status.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class DatasetCopyTests(AzuriteFixture azurite, DatasetCopyTests.World shared) : IClassFixture<DatasetCopyTests.World>
{
    private const int SourceItems = 2500;

    private readonly World _world = shared.Start(azurite.ConnectionString);

    private DurableApp App => _world.App;

    [Fact]
    public async Task Clone_2500ItemsWithFilter_ExactlyTheMatchingItemsWithEqualMetadataAndFiles()
    {
        // Arrange
        var (owner, projectId, sourceId) = await _world.SourceAsync();
        using var client = App.Client(owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new
        {
            name = "evens",
            filter = new Dictionary<string, object> { ["metadata.user.group"] = "even" },
        });
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        var instanceId = accepted.GetProperty("id").GetString()!;
        var state = await App.WaitAsync(instanceId);
        var result = state.ReadOutputAs<DatasetCopyProgress>()!;
        var target = await client.GetFromJsonAsync<Dataset>($"/api/projects/{projectId}/datasets/{result.TargetDatasetId}", IdentityApp.Json);
        var copied = await App.AllItemsAsync(owner, projectId, result.TargetDatasetId);
        var source = (await App.AllItemsAsync(owner, projectId, sourceId)).ToDictionary(i => i.GetProperty("path").GetString()!, StringComparer.Ordinal);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(accepted.GetProperty("statusQueryGetUri").GetString(), response.Headers.Location?.ToString());
        Assert.StartsWith($"{projectId}.CloneDataset.", instanceId, StringComparison.Ordinal);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(new DatasetCopyProgress(result.TargetDatasetId, "completed", SourceItems / 2, SourceItems / 2, 0, 0, 1, null), result);
        Assert.Equal(result, state.ReadCustomStatusAs<DatasetCopyProgress>());
        Assert.Equal(SourceItems / 2, target!.ItemCount);
        Assert.Equal(DatasetStates.Ready, target.State);
        Assert.Equal("evens", target.Name);
        Assert.Equal(SourceItems / 2, copied.Count);
        Assert.Equal(SourceItems / 2, copied.Select(i => i.GetProperty("path").GetString()).Distinct(StringComparer.Ordinal).Count());
        Assert.All(copied, item =>
        {
            var original = source[item.GetProperty("path").GetString()!];
            Assert.Equal("even", item.GetProperty("metadata").GetProperty("user").GetProperty("group").GetString());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(original.GetProperty("metadata").GetRawText()), JsonNode.Parse(item.GetProperty("metadata").GetRawText())));
            Assert.Equal(original.GetProperty("size").GetInt64(), item.GetProperty("size").GetInt64());
            Assert.Equal(result.TargetDatasetId, item.GetProperty("datasetId").GetString());
            Assert.NotEqual(original.GetProperty("id").GetString(), item.GetProperty("id").GetString());
        });

        // The copy has its own file with the same bytes.
        var sample = copied[17];
        var copiedText = await DownloadAsync(client, projectId, result.TargetDatasetId, sample.GetProperty("id").GetString()!);
        var originalText = await DownloadAsync(client, projectId, sourceId, source[sample.GetProperty("path").GetString()!].GetProperty("id").GetString()!);
        Assert.Equal(originalText, copiedText);
        Assert.Contains(sample.GetProperty("metadata").GetProperty("user").GetProperty("n").GetInt32().ToString(CultureInfo.InvariantCulture), copiedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clone_WithoutMetadata_UserMetadataAndTagsEmptySystemMetadataKept()
    {
        // Arrange
        var (owner, projectId, _) = await _world.SourceAsync();
        var small = await App.CreateDatasetAsync(owner, projectId, "small");
        await App.BulkAsync(owner, projectId, small, [.. Enumerable.Range(0, 5).Select(i => new { path = $"/s/{i}.json", content = new { i }, metadata = new { keep = "no" } })]);
        using var client = App.Client(owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{small}/clone", new { name = "bare", withMetadata = false, withAnnotations = true });
        var state = await App.WaitAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        var result = state.ReadOutputAs<DatasetCopyProgress>()!;
        var copied = await App.AllItemsAsync(owner, projectId, result.TargetDatasetId);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(5, copied.Count);
        Assert.All(copied, item =>
        {
            Assert.Empty(item.GetProperty("metadata").GetProperty("user").EnumerateObject());
            Assert.Equal("application/json", item.GetProperty("metadata").GetProperty("system").GetProperty("mimetype").GetString());
            Assert.False(item.GetProperty("annotated").GetBoolean());
        });
    }

    [Fact]
    public async Task Clone_WithAnnotations_EachItemsAnnotationsOnItsCopyOnceCountedAndTheRecipeKept()
    {
        // Arrange: three items under a recipe; two annotations on the first, one on the second, none on the third.
        var (owner, projectId, _) = await _world.SourceAsync();
        using var client = App.Client(owner.Key);
        var sourceId = await App.CreateDatasetAsync(owner, projectId, "annotated");
        await App.BulkAsync(owner, projectId, sourceId, World.Entries(3));
        using var recipe = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", new
        {
            name = "scene",
            classes = new object[] { new { name = "Day", color = "#ffff00", shape = "classification" }, new { name = "Rain", color = "#0000ff", shape = "classification" } },
        });
        var recipeId = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var attached = await client.PutAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/recipe", new { recipeId });
        var sources = (await App.AllItemsAsync(owner, projectId, sourceId)).OrderBy(i => i.GetProperty("path").GetString(), StringComparer.Ordinal).ToList();
        string Annotations(string datasetId, JsonElement item) => $"/api/projects/{projectId}/datasets/{datasetId}/items/{item.GetProperty("id").GetString()}/annotations";
        using var first = await client.PostAsJsonAsync(Annotations(sourceId, sources[0]), new { annotations = new[] { new { label = "Day" }, new { label = "Rain" } } });
        using var second = await client.PostAsJsonAsync(Annotations(sourceId, sources[1]), new { annotations = new[] { new { label = "Day" } } });
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);

        // Act: a clone with annotations and one without.
        async Task<DatasetCopyProgress> CloneAsync(string name, bool withAnnotations)
        {
            using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new { name, withAnnotations });
            var state = await App.WaitAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
            Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
            return state.ReadOutputAs<DatasetCopyProgress>()!;
        }

        var with = await CloneAsync("with", withAnnotations: true);
        var without = await CloneAsync("without", withAnnotations: false);
        async Task<List<(JsonElement Item, List<JsonElement> Annotations)>> ReadAsync(string datasetId)
        {
            var copies = new List<(JsonElement, List<JsonElement>)>();
            foreach (var item in (await App.AllItemsAsync(owner, projectId, datasetId)).OrderBy(i => i.GetProperty("path").GetString(), StringComparer.Ordinal))
            {
                var page = await client.GetFromJsonAsync<JsonElement>(Annotations(datasetId, item));
                copies.Add((item, [.. page.GetProperty("items").EnumerateArray()]));
            }

            return copies;
        }

        var copied = await ReadAsync(with.TargetDatasetId);
        var plain = await ReadAsync(without.TargetDatasetId);

        // A page delivered again (a retried activity) finds everything there and creates nothing.
        var again = await App.Factory.Services.GetRequiredService<DatasetCopier>().CopyPageAsync(
            new CopyPageInput(projectId, sourceId, with.TargetDatasetId, null, null, true, owner.Id, WithAnnotations: true), CancellationToken.None);
        var counted = await App.Factory.Services.GetRequiredService<AnnotationStore>().CountAsync(with.TargetDatasetId, CancellationToken.None);

        // Assert
        Assert.Equal(3, with.AnnotationsCopied);
        Assert.Equal(0, without.AnnotationsCopied);
        Assert.Equal([["Day", "Rain"], ["Day"], []], copied.Select(c => c.Annotations.Select(a => a.GetProperty("label").GetString()).Order(StringComparer.Ordinal).ToList()));
        Assert.Equal([true, true, false], copied.Select(c => c.Item.GetProperty("annotated").GetBoolean()));
        Assert.All(copied, c => Assert.All(c.Annotations, a =>
        {
            Assert.Equal(with.TargetDatasetId, a.GetProperty("datasetId").GetString());
            Assert.Equal(c.Item.GetProperty("id").GetString(), a.GetProperty("itemId").GetString());
            Assert.Equal(owner.Id, a.GetProperty("createdBy").GetString());
        }));
        Assert.All(plain, c => Assert.Empty(c.Annotations));
        Assert.All(plain, c => Assert.False(c.Item.GetProperty("annotated").GetBoolean()));
        Assert.Equal((3, 0), (again.Copied, again.AnnotationsCopied));
        Assert.Equal(3, counted);
        foreach (var target in new[] { with, without })
        {
            var dataset = await client.GetFromJsonAsync<Dataset>($"/api/projects/{projectId}/datasets/{target.TargetDatasetId}", IdentityApp.Json);
            Assert.Equal(recipeId, dataset!.RecipeId);
        }
    }

    [Fact]
    public async Task Merge_ThreeDatasets_AllItemsOnceAndADuplicatePathSkippedAndCounted()
    {
        // Arrange
        var owner = await App.CreateUserAsync("merger");
        var projectId = await App.CreateProjectAsync(owner);
        var ids = new List<string>();
        for (var d = 0; d < 3; d++)
        {
            var id = await App.CreateDatasetAsync(owner, projectId, $"part{d}");
            var entries = Enumerable.Range(0, 40).Select(i => (object)new { path = $"/part{d}/{i}.json", content = new { d, i }, metadata = new { d } }).ToList();
            if (d == 1)
            {
                entries.Add(new { path = "/part0/0.json", content = new { clash = true }, metadata = new { d } }); // same path as an item of part0
            }

            await App.BulkAsync(owner, projectId, id, entries);
            ids.Add(id);
        }

        using var client = App.Client(owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/merge", new { name = "all", datasetIds = ids });
        var instanceId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var state = await App.WaitAsync(instanceId);
        var result = state.ReadOutputAs<DatasetCopyProgress>()!;
        var merged = await App.AllItemsAsync(owner, projectId, result.TargetDatasetId);
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets");

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.StartsWith($"{projectId}.MergeDatasets.", instanceId, StringComparison.Ordinal);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(new DatasetCopyProgress(result.TargetDatasetId, "completed", 121, 120, 1, 0, 3, null), result);
        Assert.Equal(120, merged.Count);
        Assert.Equal(120, merged.Select(i => i.GetProperty("path").GetString()).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(0, merged.Single(i => i.GetProperty("path").GetString() == "/part0/0.json").GetProperty("metadata").GetProperty("user").GetProperty("d").GetInt32());
        foreach (var d in new[] { 0, 1, 2 })
        {
            Assert.Equal(40, merged.Count(i => i.GetProperty("metadata").GetProperty("user").GetProperty("d").GetInt32() == d));
        }

        var listed = list.GetProperty("items").EnumerateArray().Single(d => d.GetProperty("id").GetString() == result.TargetDatasetId);
        Assert.Equal(120, listed.GetProperty("itemCount").GetInt64());
        Assert.Equal("ready", listed.GetProperty("state").GetString());
    }

    [Fact]
    public async Task CloneAndMerge_BadRequests_400Or404AndNothingStarted()
    {
        // Arrange
        var (owner, projectId, sourceId) = await _world.SourceAsync();
        var otherOwner = await App.CreateUserAsync("copyother");
        var otherProject = await App.CreateProjectAsync(otherOwner);
        var otherDataset = await App.CreateDatasetAsync(otherOwner, otherProject);
        using var client = App.Client(owner.Key);
        var before = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets?pageSize=200");

        // Act
        using var badFilter = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new { name = "x", filter = new { nope = 1 } });
        using var noName = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new { filter = new { } });
        using var unknown = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/d_nothere/clone", new { name = "x" });
        using var foreign = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{otherDataset}/clone", new { name = "x" });
        using var one = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/merge", new { name = "x", datasetIds = new[] { sourceId } });
        using var twice = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/merge", new { name = "x", datasetIds = new[] { sourceId, sourceId } });
        using var mergeForeign = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/merge", new { name = "x", datasetIds = new[] { sourceId, otherDataset } });
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets?pageSize=200");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(badFilter, "filter/nope");
        await IdentityApp.AssertFieldErrorAsync(noName, "name");
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(foreign, HttpStatusCode.NotFound);
        await IdentityApp.AssertFieldErrorAsync(one, "datasetIds");
        await IdentityApp.AssertFieldErrorAsync(twice, "datasetIds");
        await IdentityApp.AssertProblemAsync(mergeForeign, HttpStatusCode.NotFound);
        Assert.Equal(before.GetProperty("items").GetArrayLength(), after.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Clone_Annotator_403()
    {
        // Arrange
        var (owner, projectId, sourceId) = await _world.SourceAsync();
        var annotator = await App.CreateUserAsync("copyannotator");
        using (var ownerClient = App.Client(owner.Key))
        using (var add = await ownerClient.PutAsJsonAsync($"/api/projects/{projectId}/members/{annotator.Id}", new { role = "Annotator" }))
        {
            Assert.True(add.IsSuccessStatusCode);
        }

        using var client = App.Client(annotator.Key);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new { name = "x" });

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task CopyProject_IncludeDatasets_202AndEveryDatasetCopiedWithItemsCountsAndFiles()
    {
        // Arrange: a project with two datasets (30 items with metadata, 7 items) and an empty third.
        var owner = await App.CreateUserAsync("pcopyowner");
        var projectId = await App.CreateProjectAsync(owner);
        var first = await App.CreateDatasetAsync(owner, projectId, "first");
        var second = await App.CreateDatasetAsync(owner, projectId, "second");
        var empty = await App.CreateDatasetAsync(owner, projectId, "empty");
        await App.BulkAsync(owner, projectId, first, World.Entries(30));
        await App.BulkAsync(owner, projectId, second, World.Entries(7));
        using var client = App.Client(owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/copy", new { name = "with data", includeDatasets = true });
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        var copyId = accepted.GetProperty("project").GetProperty("id").GetString()!;
        var instanceId = accepted.GetProperty("datasets").GetProperty("id").GetString()!;
        var state = await App.WaitAsync(instanceId);
        var datasets = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{copyId}/datasets?pageSize=100");
        var status = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{copyId}/orchestrations/{Uri.EscapeDataString(instanceId)}");

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(accepted.GetProperty("datasets").GetProperty("statusQueryGetUri").GetString(), response.Headers.Location?.ToString());
        Assert.Equal("with data", accepted.GetProperty("project").GetProperty("name").GetString());
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal("Completed", status.GetProperty("runtimeStatus").GetString());
        var copied = datasets.GetProperty("items").EnumerateArray().ToDictionary(d => d.GetProperty("name").GetString()!, StringComparer.Ordinal);
        Assert.Equal(["empty", "first", "second"], copied.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(30, copied["first"].GetProperty("itemCount").GetInt64());
        Assert.Equal(7, copied["second"].GetProperty("itemCount").GetInt64());
        Assert.Equal(0, copied["empty"].GetProperty("itemCount").GetInt64());
        Assert.All(copied.Values, d => Assert.Equal(DatasetStates.Ready, d.GetProperty("state").GetString()));
        var result = state.ReadOutputAs<Serverless.Functions.Projects.ProjectDatasetsCopyProgress>()!;
        Assert.Equal(3, result.Datasets);
        Assert.Equal([30L, 7L, 0L], result.Copies.Select(c => c.Copied));
        Assert.All(result.Copies, c => Assert.Equal("completed", c.Phase));

        var firstCopy = copied["first"].GetProperty("id").GetString()!;
        var items = await App.AllItemsAsync(owner, copyId, firstCopy);
        var originals = (await App.AllItemsAsync(owner, projectId, first)).ToDictionary(i => i.GetProperty("path").GetString()!, StringComparer.Ordinal);
        Assert.Equal(originals.Keys.Order(StringComparer.Ordinal), items.Select(i => i.GetProperty("path").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(items, i =>
        {
            Assert.Equal(copyId, i.GetProperty("projectId").GetString());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(originals[i.GetProperty("path").GetString()!].GetProperty("metadata").GetRawText()), JsonNode.Parse(i.GetProperty("metadata").GetRawText())));
        });
        var sample = items[3];
        Assert.Equal(
            await DownloadAsync(client, projectId, first, originals[sample.GetProperty("path").GetString()!].GetProperty("id").GetString()!),
            await DownloadAsync(client, copyId, firstCopy, sample.GetProperty("id").GetString()!));

        // The source is untouched.
        var sourceDatasets = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets?pageSize=100");
        Assert.Equal(3, sourceDatasets.GetProperty("items").GetArrayLength());
        Assert.NotEqual(empty, copied["empty"].GetProperty("id").GetString());
        Assert.NotEqual(second, copied["second"].GetProperty("id").GetString());
    }

    private static async Task<string> DownloadAsync(HttpClient client, string projectId, string datasetId, string itemId)
    {
        var link = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/download-url");
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(link.GetProperty("url").GetString()!));
    }

    /// <summary>The app and a source dataset of 2,500 JSON items (half in group "even"), built once for the class.</summary>
    public sealed class World : IAsyncDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private (TestUser Owner, string ProjectId, string DatasetId)? _source;

        public DurableApp App { get; } = new();

        public World Start(string connectionString)
        {
            App.Start(connectionString);
            return this;
        }

        public async Task<(TestUser Owner, string ProjectId, string DatasetId)> SourceAsync()
        {
            await _gate.WaitAsync();
            try
            {
                if (_source is null)
                {
                    var owner = await App.CreateUserAsync("copyowner");
                    var projectId = await App.CreateProjectAsync(owner);
                    var datasetId = await App.CreateDatasetAsync(owner, projectId, "source");
                    await App.BulkAsync(owner, projectId, datasetId, Entries(SourceItems));
                    _source = (owner, projectId, datasetId);
                }

                return _source.Value;
            }
            finally
            {
                _gate.Release();
            }
        }

        public static List<object> Entries(int count) =>
        [
            .. Enumerable.Range(0, count).Select(i => (object)new
            {
                path = $"/{(i % 2 == 0 ? "even" : "odd")}/item-{i:D5}.json",
                content = new { n = i, text = $"item {i}" },
                metadata = new { n = i, group = i % 2 == 0 ? "even" : "odd", nested = new { flag = i % 3 == 0 } },
            }),
        ];

        public async ValueTask DisposeAsync()
        {
            _gate.Dispose();
            await App.DisposeAsync();
        }
    }
}
