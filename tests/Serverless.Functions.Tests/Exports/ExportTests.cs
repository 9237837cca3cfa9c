using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Annotations;
using Serverless.Functions.Datasets;
using Serverless.Functions.Exports;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Exports;

/// <summary>Exports through HTTP on SQLite and Azurite: COCO against an expected file, JSON contents and filters, label versions, the list and its changes.</summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1861", Justification = "Request bodies are built once per test.")]
public sealed class ExportTests(AzuriteFixture azurite, ExportsApp shared) : IClassFixture<ExportsApp>
{
    private readonly ExportsApp _app = shared.Start(azurite.ConnectionString, pageSize: 2);

    private static object Recipe => new
    {
        name = "traffic",
        classes = new object[]
        {
            new { name = "Car", color = "#ff0000", shape = "box" },
            new { name = "Road", color = "#00ff00", shape = "polygon" },
            new { name = "Pin", color = "#0000ff", shape = "point" },
            new { name = "Stain", color = "#00ffff", shape = "mask" },
            new { name = "Daytime", color = "#ffff00", shape = "classification" },
        },
    };

    [Fact]
    public async Task Coco_KnownDataset_MatchesExpectedFileFieldByField()
    {
        // Arrange: two images over two pages (page size 2 with a text item between), five drawable labels and one image-level label.
        var s = await SceneAsync("golden");

        // Act
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { name = "golden", format = "coco", scope = new { datasetId = s.DatasetId } });
        var export = await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId);
        var (bytes, response) = await _app.DownloadAsync(s.Owner, $"/api/projects/{s.ProjectId}/exports/{exportId}/download");
        using (response)
        {
            // Assert
            Assert.Equal(ExportFormats.Done, export.State);
            Assert.Equal(new ExportCounts(2, 5, 1, 1, 0), export.Counts);
            Assert.Equal(bytes.Length, export.SizeBytes);
            Assert.Equal(new ExportProgress(3, 3), export.Progress);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
            Assert.Equal("golden.coco.json", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
            var expected = JsonNode.Parse((await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "tests/Serverless.Functions.Tests/Exports/expected-coco.json")))
                .Replace("$PROJECT", s.ProjectId, StringComparison.Ordinal).Replace("$USER", s.Owner.Id, StringComparison.Ordinal));
            var actual = JsonNode.Parse(bytes);
            var differences = new List<string>();
            Compare("$", expected, actual, differences);
            Assert.True(differences.Count == 0, string.Join("\n", differences));
        }
    }

    [Theory]
    [InlineData("box", "{\"x\":1,\"y\":2,\"width\":\"wide\",\"height\":3}", "has annotation 'a_bad' whose geometry does not match its shape")]
    [InlineData("polygon", "{\"points\":[[1,2],[3]]}", "has annotation 'a_bad' whose geometry does not match its shape")]
    [InlineData("cuboid", "{}", "has an annotation of shape 'cuboid', which COCO export does not know")]
    public async Task Coco_StoredAnnotationCocoCannotWrite_FailsNamingImage(string shape, string geometry, string reason)
    {
        // Arrange: an annotation the API would refuse, written straight into the store (as an older version might have left it).
        var owner = await _app.CreateUserAsync("broken-" + shape);
        var (projectId, datasetId, _) = await _app.ProjectAsync(owner, Recipe);
        await _app.AddItemAsync(projectId, datasetId, "i_one", "/cam/one.png", "image", 100, 50);
        var now = StoredTimestamp.Format(ExportsApp.CreatedAt);
        await _app.Store.Container(DatasetContainers.Items).CreateAsync(DatasetContainers.ItemPartition(datasetId), "a_bad", new JsonObject
        {
            ["kind"] = "annotation", ["id"] = "a_bad", ["projectId"] = projectId, ["datasetId"] = datasetId, ["itemId"] = "i_one",
            ["label"] = "Car", ["shape"] = shape, ["geometry"] = JsonNode.Parse(geometry), ["attributes"] = new JsonObject(),
            ["createdBy"] = owner.Id, ["createdAt"] = now, ["updatedBy"] = owner.Id, ["updatedAt"] = now,
        });

        // Act
        var exportId = await _app.StartExportAsync(owner, projectId, new { format = "coco", scope = new { datasetId } });
        var export = await _app.WaitExportAsync(owner, projectId, exportId);

        // Assert
        Assert.Equal(ExportFormats.Failed, export.State);
        Assert.Equal($"Image 'cam/one.png' {reason}.", export.Error);
    }

    [Fact]
    public async Task Json_DatasetWithStatusesAndIssues_HoldsEveryLabelAsTheApiListsIt()
    {
        // Arrange
        var s = await SceneAsync("json");
        var qaTaskId = await QaTaskWithIssueAsync(s, "i_a1");
        await SetStatusAsync(s, "i_a1", new JsonObject { ["t_annotate"] = "COMPLETED", [qaTaskId] = "APPROVED" });
        using var client = _app.Client(s.Owner.Key);

        // Act
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "json", scope = new { datasetId = s.DatasetId } });
        var export = await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId);
        var (bytes, response) = await _app.DownloadAsync(s.Owner, $"/api/projects/{s.ProjectId}/exports/{exportId}/download");
        response.Dispose();
        var file = JsonNode.Parse(bytes)!;
        var listed = new Dictionary<string, Page<Annotation>>();
        foreach (var itemId in new[] { "i_a1", "i_b2", "i_c3" })
        {
            listed[itemId] = (await client.GetFromJsonAsync<Page<Annotation>>($"/api/projects/{s.ProjectId}/datasets/{s.DatasetId}/items/{itemId}/annotations", IdentityApp.Json))!;
        }

        // Assert
        Assert.Equal(ExportFormats.Done, export.State);
        Assert.Equal("labels-json", file["format"]!.GetValue<string>());
        Assert.Equal("traffic", file["recipes"]![0]!["name"]!.GetValue<string>());
        var items = file["items"]!.AsArray();
        Assert.Equal(["i_a1", "i_b2", "i_c3"], items.Select(i => i!["id"]!.GetValue<string>()));
        foreach (var item in items)
        {
            var id = item!["id"]!.GetValue<string>();
            var exported = item["annotations"]!.AsArray();
            Assert.Equal(listed[id].Items.Select(a => a.Id), exported.Select(a => a!["id"]!.GetValue<string>()));
            foreach (var (a, e) in listed[id].Items.Zip(exported))
            {
                Assert.Equal(a.Label, e!["label"]!.GetValue<string>());
                Assert.Equal(a.Shape, e["shape"]!.GetValue<string>());
                Assert.True(JsonNode.DeepEquals(a.Geometry, e["geometry"]), $"geometry of {a.Id}");
                Assert.True(JsonNode.DeepEquals(a.Attributes, e["attributes"]), $"attributes of {a.Id}");
                Assert.Equal(a.CreatedBy, e["createdBy"]!.GetValue<string>());
            }
        }

        Assert.Equal("COMPLETED", items[0]!["statuses"]!["t_annotate"]!.GetValue<string>());
        Assert.Equal("needs a tighter box", items[0]!["issues"]![0]!["comment"]!.GetValue<string>());
        Assert.Empty(items[1]!["issues"]!.AsArray());
        Assert.Equal(100, items[0]!["width"]!.GetValue<int>());
        Assert.Equal(6, file["counts"]!["annotations"]!.GetValue<int>());
        Assert.Equal(1, file["counts"]!["issues"]!.GetValue<int>());
        Assert.Equal(new ExportCounts(3, 6, 0, 0, 1), export.Counts);
    }

    [Fact]
    public async Task Json_OnlyStatusesAndLabels_KeepsCompletedItemsAndChosenClasses()
    {
        // Arrange
        var s = await SceneAsync("filtered");
        await SetStatusAsync(s, "i_b2", new JsonObject { ["t_annotate"] = "COMPLETED" });
        await SetStatusAsync(s, "i_a1", new JsonObject { ["t_annotate"] = "DISCARDED" });

        // Act
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "json", onlyStatuses = new[] { "COMPLETED", "APPROVED" }, labels = new[] { "car" } });
        var export = await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId);
        var (bytes, response) = await _app.DownloadAsync(s.Owner, $"/api/projects/{s.ProjectId}/exports/{exportId}/download");
        response.Dispose();
        var items = JsonNode.Parse(bytes)!["items"]!.AsArray();

        // Assert: project scope (no datasetId) reads the one dataset; only b is completed; of its labels only the car.
        Assert.Equal(ExportFormats.Done, export.State);
        Assert.Equal(3, export.Progress.ItemsTotal);
        Assert.Equal(["i_b2"], items.Select(i => i!["id"]!.GetValue<string>()));
        Assert.Equal(["Car"], items[0]!["annotations"]!.AsArray().Select(a => a!["label"]!.GetValue<string>()));
    }

    [Fact]
    public async Task LabelVersion_SavedListedDownloadableImmutable_NameReuse409()
    {
        // Arrange
        var s = await SceneAsync("versions");
        using var client = _app.Client(s.Owner.Key);

        // Act
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "json", scope = new { datasetId = s.DatasetId }, saveAsVersion = "v1" });
        await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId);
        using var reuse = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/exports", new { format = "coco", saveAsVersion = "V1" }, IdentityApp.Json);
        var plainId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "coco", name = "plain" });
        await _app.WaitExportAsync(s.Owner, s.ProjectId, plainId);
        var versions = (await client.GetFromJsonAsync<Page<Export>>($"/api/projects/{s.ProjectId}/label-versions", IdentityApp.Json))!;
        var all = (await client.GetFromJsonAsync<Page<Export>>($"/api/projects/{s.ProjectId}/exports", IdentityApp.Json))!;
        var version = (await client.GetFromJsonAsync<Export>($"/api/projects/{s.ProjectId}/label-versions/v1", IdentityApp.Json))!;
        var (bytes, response) = await _app.DownloadAsync(s.Owner, $"/api/projects/{s.ProjectId}/label-versions/v1/download");
        response.Dispose();
        using var rename = await client.PatchAsJsonAsync($"/api/projects/{s.ProjectId}/exports/{exportId}", new { name = "other" }, IdentityApp.Json);
        using var delete = await client.DeleteAsync($"/api/projects/{s.ProjectId}/exports/{exportId}");
        using var missing = await client.GetAsync($"/api/projects/{s.ProjectId}/label-versions/v2");

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, reuse.StatusCode);
        Assert.Equal([exportId], versions.Items.Select(e => e.Id));
        Assert.Equal(new[] { plainId, exportId }.Order(StringComparer.Ordinal), all.Items.Select(e => e.Id).Order(StringComparer.Ordinal));
        Assert.Equal("v1", version.Version);
        Assert.Equal("v1", version.Name);
        Assert.Equal(3, JsonNode.Parse(bytes)!["items"]!.AsArray().Count);
        Assert.Equal(HttpStatusCode.Conflict, rename.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task RenameAndDelete_PlainExport_RenamedThenGoneWithItsFile()
    {
        // Arrange
        var s = await SceneAsync("manage");
        using var client = _app.Client(s.Owner.Key);
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "json" });
        await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId);
        var link = (await client.GetFromJsonAsync<ExportDownload>($"/api/projects/{s.ProjectId}/exports/{exportId}/download", IdentityApp.Json))!;

        // Act
        using var rename = await client.PatchAsJsonAsync($"/api/projects/{s.ProjectId}/exports/{exportId}", new { name = "renamed" }, IdentityApp.Json);
        var renamed = await rename.Content.ReadFromJsonAsync<Export>(IdentityApp.Json);
        using var delete = await client.DeleteAsync($"/api/projects/{s.ProjectId}/exports/{exportId}");
        using var after = await client.GetAsync($"/api/projects/{s.ProjectId}/exports/{exportId}");
        using var plain = new HttpClient();
        using var file = await plain.GetAsync(link.Url);

        // Assert
        Assert.Equal(HttpStatusCode.OK, rename.StatusCode);
        Assert.Equal("renamed", renamed!.Name);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, file.StatusCode);
        Assert.InRange(link.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(55), DateTimeOffset.UtcNow.AddMinutes(61));
    }

    [Fact]
    public async Task Create_BadRequests_400NamingFields_UnknownDatasetOrTask404()
    {
        // Arrange
        var s = await SceneAsync("invalid");
        using var client = _app.Client(s.Owner.Key);

        // Act
        using var bad = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/exports",
            new { format = "xml", scope = new { taskId = "t_1", qaTaskId = "t_2" }, onlyStatuses = Array.Empty<string>(), labels = new[] { " " } }, IdentityApp.Json);
        var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
        using var badFilter = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/exports", new { format = "json", scope = new { datasetId = s.DatasetId, filter = new { nosuchfield = 1 } } }, IdentityApp.Json);
        using var dataset = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/exports", new { format = "json", scope = new { datasetId = "d_missing" } }, IdentityApp.Json);
        using var task = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/exports", new { format = "json", scope = new { taskId = "t_missing" } }, IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(["format", "labels", "onlyStatuses", "scope"], problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, badFilter.StatusCode);
        Assert.Contains("scope.filter", await badFilter.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, dataset.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, task.StatusCode);
    }

    /// <summary>
    /// A project, a dataset with the traffic recipe, images a (100×50) and b (64×48) and a text item c, and labels
    /// created one request each so that their order (by creation time) is known.
    /// </summary>
    private async Task<Scene> SceneAsync(string name)
    {
        var owner = await _app.CreateUserAsync(name);
        var (projectId, datasetId, _) = await _app.ProjectAsync(owner, Recipe);
        await _app.AddItemAsync(projectId, datasetId, "i_a1", "/cam/a.png", "image", 100, 50);
        await _app.AddItemAsync(projectId, datasetId, "i_b2", "/cam/b.png", "image", 64, 48);
        await _app.AddItemAsync(projectId, datasetId, "i_c3", "/notes/c.json", "text");
        var scene = new Scene(owner, projectId, datasetId);
        await AnnotateAsync(scene, "i_a1", new { label = "Car", geometry = new { x = 10, y = 5, width = 20, height = 10 } });
        await AnnotateAsync(scene, "i_a1", new { label = "Road", geometry = new { points = new[] { new[] { 0, 0 }, new[] { 100, 0 }, new[] { 50, 50 } } } });
        await AnnotateAsync(scene, "i_a1", new { label = "Daytime" });
        await AnnotateAsync(scene, "i_b2", new { label = "Pin", geometry = new { x = 3, y = 4 } });
        await AnnotateAsync(scene, "i_b2", new { label = "Stain", geometry = new { rle = new { size = new[] { 48, 64 }, counts = new[] { 100, 20, 2952 } } } });
        await AnnotateAsync(scene, "i_b2", new { label = "Car", geometry = new { x = 1.5, y = 2.5, width = 10, height = 20 } });
        return scene;
    }

    private async Task AnnotateAsync(Scene s, string itemId, object annotation)
    {
        using var client = _app.Client(s.Owner.Key);
        using var response = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/datasets/{s.DatasetId}/items/{itemId}/annotations", new { annotations = new[] { annotation } }, IdentityApp.Json);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Stands in for the tasks feature, which records an item's status per task on the item.</summary>
    private async Task SetStatusAsync(Scene s, string itemId, JsonObject statuses) =>
        await _app.Store.Container(DatasetContainers.Items).PatchAsync(DatasetContainers.ItemPartition(s.DatasetId), itemId, [PatchOperation.Set("status", statuses)]);

    /// <summary>A QA task over the dataset (written through the store) with one issue on <paramref name="itemId"/>.</summary>
    private async Task<string> QaTaskWithIssueAsync(Scene s, string itemId)
    {
        var qaTaskId = Ids.New("t");
        var now = Serverless.Core.Filters.StoredTimestamp.Format(DateTimeOffset.UtcNow);
        await _app.Factory.Services.GetRequiredService<TaskStore>().CreateAsync(
            new LabelingTask(qaTaskId, s.ProjectId, s.DatasetId, "qa", "qa", "medium", null, TasksApi.DefaultActions, [new TaskAssignee(s.Owner.Id, 0)], [], "open", null, s.Owner.Id, now, now, "t_annotate"),
            CancellationToken.None);
        await _app.Factory.Services.GetRequiredService<IssueStore>().OpenAsync(qaTaskId, "t_annotate", itemId, null, "needs a tighter box", "box", s.Owner.Id, s.Owner.Id, CancellationToken.None);
        return qaTaskId;
    }

    /// <summary>Walks both trees and records every path where they differ (names, kinds, values, lengths).</summary>
    private static void Compare(string path, JsonNode? expected, JsonNode? actual, List<string> differences)
    {
        switch (expected)
        {
            case JsonObject e when actual is JsonObject a:
                foreach (var key in e.Select(p => p.Key).Union(a.Select(p => p.Key)))
                {
                    if (!e.ContainsKey(key) || !a.ContainsKey(key))
                    {
                        differences.Add($"{path}.{key}: {(e.ContainsKey(key) ? "missing" : "unexpected")}");
                        continue;
                    }

                    Compare($"{path}.{key}", e[key], a[key], differences);
                }

                break;
            case JsonArray e when actual is JsonArray a:
                if (e.Count != a.Count)
                {
                    differences.Add($"{path}: {e.Count} elements expected, {a.Count} found");
                }

                for (var i = 0; i < Math.Min(e.Count, a.Count); i++)
                {
                    Compare($"{path}[{i}]", e[i], a[i], differences);
                }

                break;
            default:
                if (!JsonNode.DeepEquals(expected, actual))
                {
                    differences.Add($"{path}: expected {expected?.ToJsonString() ?? "null"}, found {actual?.ToJsonString() ?? "null"}");
                }

                break;
        }
    }

    private sealed record Scene(TestUser Owner, string ProjectId, string DatasetId);
}
