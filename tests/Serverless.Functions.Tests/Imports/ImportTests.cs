using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Annotations;
using Serverless.Functions.Exports;
using Serverless.Functions.Http;
using Serverless.Functions.Imports;
using Serverless.Functions.Tests.Exports;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Imports;

/// <summary>Imports through HTTP on SQLite and Azurite: a JSON export round trip, COCO with one bad entry of each kind, the size cap, a broken file, a repeated run.</summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1861", Justification = "Request bodies are built once per test.")]
public sealed class ImportTests : IClassFixture<ExportsApp>
{
    /// <summary>The upload cap these tests run with (the files they import are far smaller).</summary>
    private const long Cap = 64 * 1024;

    private readonly ExportsApp _app;

    public ImportTests(AzuriteFixture azurite, ExportsApp shared)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        ArgumentNullException.ThrowIfNull(shared);
        _app = shared.Start(azurite.ConnectionString, pageSize: 2);
        _app.Factory.Services.GetRequiredService<IOptions<ImportsOptions>>().Value.MaxUploadBytes = Cap;
    }

    private static object Recipe => new
    {
        name = "traffic",
        classes = new object[]
        {
            new { name = "Car", color = "#ff0000", shape = "box", attributes = new object[] { new { key = "occluded", kind = "boolean" } } },
            new { name = "Road", color = "#00ff00", shape = "polygon" },
            new { name = "Pin", color = "#0000ff", shape = "point" },
            new { name = "Stain", color = "#00ffff", shape = "mask" },
            new { name = "Daytime", color = "#ffff00", shape = "classification" },
        },
    };

    [Fact]
    public async Task Json_ExportImportedIntoFreshDatasetOfSameItems_IdenticalLabels()
    {
        // Arrange: labels of every shape on dataset A, exported as JSON; dataset B with the same recipe and item paths.
        var s = await SceneAsync("roundtrip");
        await AnnotateAsync(s, s.DatasetId, "i_a1", new { label = "Car", geometry = new { x = 10, y = 5, width = 20, height = 10 }, attributes = new { occluded = true } });
        await AnnotateAsync(s, s.DatasetId, "i_a1", new { label = "Road", geometry = new { points = new[] { new[] { 0, 0 }, new[] { 100, 0 }, new[] { 50, 50 } } } });
        await AnnotateAsync(s, s.DatasetId, "i_a1", new { label = "Daytime" });
        await AnnotateAsync(s, s.DatasetId, "i_b2", new { label = "Pin", geometry = new { x = 3, y = 4 } });
        await AnnotateAsync(s, s.DatasetId, "i_b2", new { label = "Stain", geometry = new { rle = new { size = new[] { 48, 64 }, counts = new[] { 100, 20, 2952 } } } });
        await AnnotateAsync(s, s.DatasetId, "i_b2", new { label = "Car", geometry = new { x = 1.5, y = 2.5, width = 10, height = 20 } });
        var exportId = await _app.StartExportAsync(s.Owner, s.ProjectId, new { format = "json", scope = new { datasetId = s.DatasetId } });
        Assert.Equal(ExportFormats.Done, (await _app.WaitExportAsync(s.Owner, s.ProjectId, exportId)).State);
        var (file, response) = await _app.DownloadAsync(s.Owner, $"/api/projects/{s.ProjectId}/exports/{exportId}/download");
        response.Dispose();
        var target = await DatasetWithItemsAsync(s, "copy", "i_x1", "i_y2", "i_z3");

        // Act
        var import = await ImportAsync(s, target, "json", file);

        // Assert
        Assert.Equal(ImportFormats.Done, import.State);
        Assert.Equal(new ImportCounts(3, 0, 6, 6, 0), import.Counts);
        Assert.Empty(import.Errors);
        foreach (var (source, copy) in new[] { ("i_a1", "i_x1"), ("i_b2", "i_y2"), ("i_c3", "i_z3") })
        {
            var expected = (await ListAsync(s, s.DatasetId, source)).Select(Comparable).ToList();
            var actual = (await ListAsync(s, target, copy)).Select(Comparable).ToList();
            Assert.Equal(expected.Count, actual.Count);
            foreach (var e in expected)
            {
                Assert.Contains(actual, a => JsonNode.DeepEquals(a, e));
            }
        }
    }

    [Fact]
    public async Task Coco_OneBadEntryOfEachKind_PerEntryErrorsAndGoodOnesCreated()
    {
        // Arrange
        var s = await SceneAsync("coco");
        var coco = new
        {
            images = new object[] { new { id = 1, file_name = "cam/a.png", width = 100, height = 50 }, new { id = 2, file_name = "cam/missing.png", width = 10, height = 10 } },
            categories = new object[] { new { id = 1, name = "Car" }, new { id = 2, name = "Road" }, new { id = 3, name = "Pin" }, new { id = 9, name = "Ghost" } },
            annotations = new object[]
            {
                new { id = 1, image_id = 1, category_id = 1, bbox = new[] { 10, 5, 20, 10 }, iscrowd = 0 },
                new { id = 2, image_id = 1, category_id = 7, bbox = new[] { 10, 5, 20, 10 }, iscrowd = 0 },
                new { id = 3, image_id = 1, category_id = 1, bbox = new[] { 90, 40, 20, 20 }, iscrowd = 0 },
                new { id = 4, image_id = 2, category_id = 1, bbox = new[] { 1, 1, 2, 2 }, iscrowd = 0 },
                new { id = 5, image_id = 1, category_id = 2, segmentation = new[] { new[] { 0, 0, 100, 0, 50, 50 } }, iscrowd = 0 },
                new { id = 6, image_id = 1, category_id = 3, keypoints = new[] { 3, 4, 2 }, num_keypoints = 1 },
                new { id = 7, image_id = 1, category_id = 9, bbox = new[] { 1, 1, 2, 2 }, iscrowd = 0 },
            },
        };

        // Act
        var import = await ImportAsync(s, s.DatasetId, "coco", JsonSerializer.SerializeToUtf8Bytes(coco));
        var created = await ListAsync(s, s.DatasetId, "i_a1");

        // Assert
        Assert.Equal(ImportFormats.Done, import.State);
        Assert.Equal(new ImportCounts(1, 1, 7, 3, 4), import.Counts);
        var errors = import.Errors.GroupBy(e => e.Path, StringComparer.Ordinal).ToDictionary(g => g.Key, g => string.Join(" ", g.Select(e => e.Message)), StringComparer.Ordinal);
        Assert.Equal(["/annotations/1/category_id", "/annotations/2/bbox", "/annotations/3/image_id", "/annotations/6/label", "/images/1/file_name"], errors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(import.Errors.Count, import.ErrorCount);
        Assert.Contains("image", errors["/annotations/2/bbox"], StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Category 7", errors["/annotations/1/category_id"], StringComparison.Ordinal);
        Assert.Contains("cam/missing.png", errors["/annotations/3/image_id"], StringComparison.Ordinal);
        Assert.Equal(["Car", "Pin", "Road"], created.Select(a => a.Label).Order(StringComparer.Ordinal));
        var box = created.Single(a => a.Label == "Car");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"x":10,"y":5,"width":20,"height":10}"""), box.Geometry), box.Geometry?.ToJsonString());
        Assert.StartsWith(import.Id + "-", box.Id, StringComparison.Ordinal);
        Assert.Equal(s.Owner.Id, box.CreatedBy);
        var stored = await _app.Store.Container(Serverless.Functions.Datasets.DatasetContainers.Items).ReadAsync(Serverless.Functions.Datasets.DatasetContainers.ItemPartition(s.DatasetId), box.Id);
        Assert.Equal("import", stored!.Body["source"]!.GetValue<string>());
        Assert.Equal(import.Id, stored.Body["importId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Upload_OverTheCap_413ProblemAndNoImport()
    {
        // Arrange
        var s = await SceneAsync("big");
        using var client = _app.Client(s.Owner.Key);
        using var body = new ByteArrayContent(new byte[Cap + 1]);

        // Act
        using var response = await client.PostAsync($"/api/projects/{s.ProjectId}/datasets/{s.DatasetId}/imports?format=json", body);

        // Assert
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(Cap.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_BadFormatOrUnknownDataset_400Or404()
    {
        // Arrange
        var s = await SceneAsync("bad-request");
        using var client = _app.Client(s.Owner.Key);

        // Act
        using var format = await client.PostAsync($"/api/projects/{s.ProjectId}/datasets/{s.DatasetId}/imports?format=xml", new StringContent("{}"));
        using var dataset = await client.PostAsync($"/api/projects/{s.ProjectId}/datasets/d_missing/imports?format=json", new StringContent("{}"));
        using var missing = await client.GetAsync($"/api/projects/{s.ProjectId}/datasets/{s.DatasetId}/imports/im_nosuch");

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, format.StatusCode);
        Assert.Contains("format", await format.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, dataset.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Json_MalformedFile_FailedWithReasonAndNothingWritten()
    {
        // Arrange: a valid first item, then the file breaks off.
        var s = await SceneAsync("broken");
        var text = """{"format":"labels-json","version":1,"items":[{"path":"/cam/a.png","annotations":[{"label":"Car","geometry":{"x":1,"y":1,"width":2,"height":2}}]},{"path":""";

        // Act
        var import = await ImportAsync(s, s.DatasetId, "json", Encoding.UTF8.GetBytes(text));
        var annotations = await ListAsync(s, s.DatasetId, "i_a1");

        // Assert
        Assert.Equal(ImportFormats.Failed, import.State);
        Assert.Contains("JSON", import.Error, StringComparison.Ordinal);
        Assert.Empty(annotations);
        Assert.Equal(0, await _app.Factory.Services.GetRequiredService<AnnotationStore>().CountAsync(s.DatasetId, CancellationToken.None));
    }

    [Fact]
    public async Task Json_OtherFormatName_FailedNamingIt()
    {
        // Arrange
        var s = await SceneAsync("wrong-format");

        // Act
        var import = await ImportAsync(s, s.DatasetId, "json", Encoding.UTF8.GetBytes("""{"format":"something-else","items":[]}"""));

        // Assert
        Assert.Equal(ImportFormats.Failed, import.State);
        Assert.Contains("something-else", import.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SameImportTwice_CreatesNothingTwice()
    {
        // Arrange: an import done once (its activity may run again: at-least-once).
        var s = await SceneAsync("twice");
        var file = """{"format":"labels-json","version":1,"items":[{"path":"/cam/a.png","annotations":[{"label":"Car","geometry":{"x":1,"y":1,"width":2,"height":2}},{"label":"Daytime"}]},{"path":"/cam/b.png","annotations":[{"label":"Pin","geometry":{"x":1,"y":1}}]}]}""";
        var first = await ImportAsync(s, s.DatasetId, "json", Encoding.UTF8.GetBytes(file));
        var annotations = _app.Factory.Services.GetRequiredService<AnnotationStore>();
        var countAfterFirst = await annotations.CountAsync(s.DatasetId, CancellationToken.None);

        // Act
        var state = await _app.Factory.Services.GetRequiredService<ImportRunner>().RunAsync(s.ProjectId, first.Id, CancellationToken.None);
        var second = await GetImportAsync(s, s.DatasetId, first.Id);

        // Assert
        Assert.Equal(ImportFormats.Done, state);
        Assert.Equal(3, countAfterFirst);
        Assert.Equal(3, await annotations.CountAsync(s.DatasetId, CancellationToken.None));
        Assert.Equal(2, (await ListAsync(s, s.DatasetId, "i_a1")).Count);
        Assert.Equal(first.Counts, second.Counts);
        Assert.Equal(new ImportCounts(2, 0, 3, 3, 0), second.Counts);
        var item = await _app.Store.Container(Serverless.Functions.Datasets.DatasetContainers.Items).ReadAsync(Serverless.Functions.Datasets.DatasetContainers.ItemPartition(s.DatasetId), "i_a1");
        Assert.Equal(2, item!.Body["annotationCount"]!.GetValue<long>());
    }

    [Fact]
    public async Task Json_InvalidEntries_RejectedWithTheAnnotationsApiMessages()
    {
        // Arrange: a box outside the image, a wrong attribute type, an unmatched item path.
        var s = await SceneAsync("invalid");
        var file = """
            {"format":"labels-json","version":1,"items":[
              {"path":"/cam/a.png","annotations":[
                {"label":"Car","geometry":{"x":90,"y":1,"width":20,"height":2}},
                {"label":"Car","geometry":{"x":1,"y":1,"width":2,"height":2},"attributes":{"occluded":"yes"}},
                {"label":"Road","geometry":{"points":[[0,0],[10,0],[5,5]]}}]},
              {"path":"/nowhere.png","annotations":[{"label":"Daytime"}]}]}
            """;

        // Act
        var import = await ImportAsync(s, s.DatasetId, "json", Encoding.UTF8.GetBytes(file));

        // Assert
        Assert.Equal(ImportFormats.Done, import.State);
        Assert.Equal(new ImportCounts(1, 1, 4, 1, 3), import.Counts);
        var paths = import.Errors.Select(e => e.Path).ToList();
        Assert.Contains(paths, p => p.StartsWith("/items/0/annotations/0/geometry", StringComparison.Ordinal));
        Assert.Contains(paths, p => p.StartsWith("/items/0/annotations/1/attributes", StringComparison.Ordinal));
        Assert.Contains("/items/1/path", paths);
        Assert.Equal(["Road"], (await ListAsync(s, s.DatasetId, "i_a1")).Select(a => a.Label));
    }

    /// <summary>Comparable content of an annotation: everything but ids and timestamps.</summary>
    private static JsonObject Comparable(Annotation a) => new()
    {
        ["label"] = a.Label,
        ["shape"] = a.Shape,
        ["geometry"] = a.Geometry?.DeepClone(),
        ["attributes"] = a.Attributes.DeepClone(),
        ["frame"] = a.Frame,
        ["frames"] = a.Frames is null ? null : new JsonArray(a.Frames.Start, a.Frames.End),
        ["createdBy"] = a.CreatedBy,
    };

    private async Task<Scene> SceneAsync(string name)
    {
        var owner = await _app.CreateUserAsync("import-" + name);
        var (projectId, datasetId, recipeId) = await _app.ProjectAsync(owner, Recipe);
        var scene = new Scene(owner, projectId, datasetId, recipeId);
        await AddItemsAsync(scene, datasetId, "i_a1", "i_b2", "i_c3");
        return scene;
    }

    /// <summary>A second dataset with the scene's recipe and items at the same paths (other ids).</summary>
    private async Task<string> DatasetWithItemsAsync(Scene s, string name, params string[] ids)
    {
        using var client = _app.Client(s.Owner.Key);
        using var dataset = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/datasets", new { name });
        var datasetId = (await dataset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var attached = await client.PutAsJsonAsync($"/api/projects/{s.ProjectId}/datasets/{datasetId}/recipe", new { recipeId = s.RecipeId }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        await AddItemsAsync(s, datasetId, ids);
        return datasetId;
    }

    private async Task AddItemsAsync(Scene s, string datasetId, params string[] ids)
    {
        await _app.AddItemAsync(s.ProjectId, datasetId, ids[0], "/cam/a.png", "image", 100, 50);
        await _app.AddItemAsync(s.ProjectId, datasetId, ids[1], "/cam/b.png", "image", 64, 48);
        await _app.AddItemAsync(s.ProjectId, datasetId, ids[2], "/notes/c.json", "text");
    }

    private async Task AnnotateAsync(Scene s, string datasetId, string itemId, object annotation)
    {
        using var client = _app.Client(s.Owner.Key);
        using var response = await client.PostAsJsonAsync($"/api/projects/{s.ProjectId}/datasets/{datasetId}/items/{itemId}/annotations", new { annotations = new[] { annotation } }, IdentityApp.Json);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private async Task<IReadOnlyList<Annotation>> ListAsync(Scene s, string datasetId, string itemId)
    {
        using var client = _app.Client(s.Owner.Key);
        return (await client.GetFromJsonAsync<Page<Annotation>>($"/api/projects/{s.ProjectId}/datasets/{datasetId}/items/{itemId}/annotations?pageSize=100", IdentityApp.Json))!.Items;
    }

    /// <summary>Uploads the file, waits for the import's orchestration and returns the import as the API shows it.</summary>
    private async Task<Import> ImportAsync(Scene s, string datasetId, string format, byte[] file)
    {
        using var client = _app.Client(s.Owner.Key);
        using var body = new ByteArrayContent(file);
        using var response = await client.PostAsync($"/api/projects/{s.ProjectId}/datasets/{datasetId}/imports?format={format}", body);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var importId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("importId").GetString()!;
        await _app.Durable.WaitForCompletionAsync(Serverless.Functions.Durable.ProjectOrchestrations.InstanceId(s.ProjectId, nameof(ImportLabels), importId), TimeSpan.FromSeconds(60));
        return await GetImportAsync(s, datasetId, importId);
    }

    private async Task<Import> GetImportAsync(Scene s, string datasetId, string importId)
    {
        using var client = _app.Client(s.Owner.Key);
        return (await client.GetFromJsonAsync<Import>($"/api/projects/{s.ProjectId}/datasets/{datasetId}/imports/{importId}", IdentityApp.Json))!;
    }

    private sealed record Scene(TestUser Owner, string ProjectId, string DatasetId, string RecipeId);
}
