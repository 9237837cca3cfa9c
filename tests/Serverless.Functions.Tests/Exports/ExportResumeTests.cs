using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Exports;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Exports;

/// <summary>
/// An export survives its host: the host is stopped mid-export, a new one on the same SQLite file and Azurite
/// finishes it, and the file is byte for byte the one a clean run of the same export writes.
/// </summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class ExportResumeTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Items = 1000;
    private const int AnnotationsPerItem = 3;

    private readonly ExportsApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString, pageSize: 10);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Coco_HostStoppedMidExport_NewHostFinishesWithTheBytesOfACleanRun()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("resumer");
        var (projectId, datasetId, _) = await _app.ProjectAsync(owner, new
        {
            name = "shapes",
            classes = new object[] { new { name = "box", color = "#ff0000", shape = "box" }, new { name = "area", color = "#00ff00", shape = "polygon" } },
        });
        await SeedAsync(projectId, datasetId);
        var body = new { format = "coco", scope = new { datasetId } };
        var interrupted = await _app.StartExportAsync(owner, projectId, body);
        var atStop = await WaitForProgressAsync(owner, projectId, interrupted, minimum: 200);

        // Act
        await _app.RestartAsync();
        var resumed = await _app.WaitExportAsync(owner, projectId, interrupted, seconds: 240);
        var clean = await _app.StartExportAsync(owner, projectId, body);
        var cleanRun = await _app.WaitExportAsync(owner, projectId, clean, seconds: 240);
        var (resumedBytes, r1) = await _app.DownloadAsync(owner, $"/api/projects/{projectId}/exports/{interrupted}/download");
        var (cleanBytes, r2) = await _app.DownloadAsync(owner, $"/api/projects/{projectId}/exports/{clean}/download");
        r1.Dispose();
        r2.Dispose();
        var file = JsonNode.Parse(resumedBytes)!;

        // Assert
        Assert.InRange(atStop, 200, Items - 1);
        Assert.Equal(ExportFormats.Done, resumed.State);
        Assert.Equal(ExportFormats.Done, cleanRun.State);
        Assert.Equal(new ExportCounts(Items, Items * AnnotationsPerItem, 0, 0, 0), resumed.Counts);
        Assert.Equal(Enumerable.Range(1, Items), file["images"]!.AsArray().Select(i => i!["id"]!.GetValue<int>()));
        Assert.Equal(Enumerable.Range(1, Items * AnnotationsPerItem), file["annotations"]!.AsArray().Select(a => a!["id"]!.GetValue<int>()));
        Assert.True(cleanBytes.AsSpan().SequenceEqual(resumedBytes), $"the resumed export ({resumedBytes.Length} bytes) differs from a clean run ({cleanBytes.Length} bytes)");
    }

    /// <summary>Image items and their annotations written in the stores' shapes, in batches (the HTTP path would take minutes).</summary>
    private async Task SeedAsync(string projectId, string datasetId)
    {
        var items = _app.Store.Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var now = StoredTimestamp.Format(ExportsApp.CreatedAt);
        for (var start = 0; start < Items; start += 20)
        {
            var batch = new List<BatchOperation>();
            for (var i = start; i < start + 20; i++)
            {
                var id = "i_" + i.ToString("D5", CultureInfo.InvariantCulture);
                var metadata = new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "image/png", ["width"] = 640, ["height"] = 480 } };
                var item = new Item(id, projectId, datasetId, id + ".png", "/", "/" + id + ".png", "image", 10, true, [], metadata, "u_seed", now, now);
                batch.Add(BatchOperation.CreateRaw(id, ItemStore.ItemDocument(new NewItem(item, ItemStore.BlobName(projectId, datasetId, id)), partition)));
                for (var a = 0; a < AnnotationsPerItem; a++)
                {
                    JsonNode geometry = a < 2
                        ? new JsonObject { ["x"] = i % 600, ["y"] = a * 10, ["width"] = 20.5, ["height"] = 10 }
                        : new JsonObject { ["points"] = new JsonArray(new JsonArray(0, 0), new JsonArray(30, 0), new JsonArray(15, i % 400 + 1)) };
                    batch.Add(BatchOperation.Create($"a_{i:D5}_{a}", new JsonObject
                    {
                        ["id"] = $"a_{i:D5}_{a}", ["projectId"] = projectId, ["datasetId"] = datasetId, ["itemId"] = id,
                        ["label"] = a < 2 ? "box" : "area", ["shape"] = a < 2 ? "box" : "polygon", ["geometry"] = geometry,
                        ["attributes"] = new JsonObject(), ["frame"] = null, ["frames"] = null,
                        ["createdBy"] = "u_seed", ["createdAt"] = now, ["updatedBy"] = "u_seed", ["updatedAt"] = now, ["kind"] = "annotation",
                    }));
                }
            }

            await items.ExecuteBatchAsync(partition, batch);
        }

        await items.UpsertAsync(partition, DatasetContainers.StatsId, new JsonObject { ["kind"] = "stats", ["itemCount"] = Items, ["byType"] = new JsonObject { ["image"] = Items } });
    }

    private async Task<long> WaitForProgressAsync(TestUser owner, string projectId, string exportId, int minimum)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using var client = _app.Client(owner.Key);
        while (true)
        {
            var export = (await client.GetFromJsonAsync<Export>($"/api/projects/{projectId}/exports/{exportId}", IdentityApp.Json, deadline.Token))!;
            if (export.Progress.ItemsDone >= minimum)
            {
                return export.Progress.ItemsDone;
            }

            Assert.Equal(ExportFormats.Running, export.State);
            await Task.Delay(10, deadline.Token);
        }
    }
}
