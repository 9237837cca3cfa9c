using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Durable;
using Serverless.Functions.Durable;
using Serverless.Functions.Exports;
using Serverless.Functions.Imports;
using Serverless.Functions.Projects;
using Serverless.Functions.RawZips;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Exports;

/// <summary>
/// Deleting a project removes its exports, label versions, imports and raw zips: documents and blobs, including an
/// export still running when the delete starts.
/// </summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class ExportCascadeTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly ExportsApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString, pageSize: 2);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task DeleteProject_WithExportsImportsAndZip_NothingOfThemRemains()
    {
        // Arrange: two uploaded images, a COCO import onto them, a finished export saved as a label version, a raw zip,
        // and a second export started just before the delete (it may be anywhere in its pages when the sweep runs).
        var owner = await _app.CreateUserAsync("cascadeowner");
        var (projectId, datasetId, _) = await _app.ProjectAsync(owner, new { name = "r", classes = new object[] { new { name = "car", color = "#ff0000", shape = "box" } } });
        using var client = _app.Client(owner.Key);
        foreach (var name in new[] { "a.png", "b.png" })
        {
            using var file = new ByteArrayContent(TestImages.Png(8, 8));
            using var upload = await client.PutAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items?path=%2F{name}", UriKind.Relative), file);
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        }

        var coco = """
            {"images":[{"id":1,"file_name":"a.png","width":8,"height":8},{"id":2,"file_name":"b.png","width":8,"height":8}],
             "annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[1,1,2,2]},{"id":2,"image_id":2,"category_id":1,"bbox":[2,2,3,3]}],
             "categories":[{"id":1,"name":"car"}]}
            """;
        string importId;
        using (var body = new ByteArrayContent(Encoding.UTF8.GetBytes(coco)))
        using (var imported = await client.PostAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/imports?format=coco", UriKind.Relative), body))
        {
            Assert.Equal(HttpStatusCode.Accepted, imported.StatusCode);
            importId = (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("importId").GetString()!;
        }

        await _app.Durable.WaitForCompletionAsync(ProjectOrchestrations.InstanceId(projectId, nameof(ImportLabels), importId), TimeSpan.FromSeconds(60));
        var versionId = await _app.StartExportAsync(owner, projectId, new { format = "coco", scope = new { datasetId }, saveAsVersion = "v1" });
        Assert.Equal(ExportFormats.Done, (await _app.WaitExportAsync(owner, projectId, versionId)).State);
        using (var zip = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/raw-zip", new { }))
        {
            Assert.Equal(HttpStatusCode.Accepted, zip.StatusCode);
            var zipState = await _app.Durable.WaitForCompletionAsync((await zip.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!, TimeSpan.FromSeconds(60));
            Assert.Equal(OrchestrationRuntimeStatus.Completed, zipState.Status);
        }

        var services = _app.Factory.Services;
        var containers = new[]
        {
            services.GetRequiredService<IOptions<ExportsOptions>>().Value.BlobContainer,
            services.GetRequiredService<IOptions<ImportsOptions>>().Value.BlobContainer,
            services.GetRequiredService<IOptions<RawZipOptions>>().Value.BlobContainer,
        };
        foreach (var container in containers)
        {
            Assert.NotEmpty(await BlobsAsync(container, projectId)); // each feature left files that the delete must remove
        }

        Assert.Equal(2, await _app.Store.Container(ExportContainers.Exports).CountAsync(ExportContainers.Partition(projectId), null)); // export + version claim
        Assert.Equal(1, await _app.Store.Container(ImportContainers.Imports).CountAsync(ImportContainers.Partition(projectId), null));
        var running = await _app.StartExportAsync(owner, projectId, new { format = "json", scope = new { datasetId } });

        // Act
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        var deleted = await _app.Durable.WaitForCompletionAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!, TimeSpan.FromSeconds(120));
        var runningState = await _app.Durable.WaitForCompletionAsync(ProjectOrchestrations.InstanceId(projectId, nameof(ExportLabels), running), TimeSpan.FromSeconds(120));

        // Assert
        Assert.Equal(OrchestrationRuntimeStatus.Completed, deleted.Status);
        Assert.True(runningState.IsTerminal, runningState.Status.ToString());
        Assert.Equal(0, await _app.Store.Container(ExportContainers.Exports).CountAsync(ExportContainers.Partition(projectId), null));
        Assert.Equal(0, await _app.Store.Container(ImportContainers.Imports).CountAsync(ImportContainers.Partition(projectId), null));
        foreach (var container in containers)
        {
            Assert.Empty(await BlobsAsync(container, projectId));
        }
    }

    [Fact]
    public void Registrations_ExportsImportsAndZipContainers_AreSweptByTheCascade()
    {
        // Arrange
        var services = _app.Factory.Services;

        // Act
        var swept = services.GetServices<ProjectCascadeBlobs>().Select(b => b.Container).ToHashSet(StringComparer.Ordinal);
        var partitions = services.GetServices<ProjectCascadeTarget>().Select(t => t.Container).ToHashSet(StringComparer.Ordinal);

        // Assert
        Assert.Contains(services.GetRequiredService<IOptions<ExportsOptions>>().Value.BlobContainer, swept);
        Assert.Contains(services.GetRequiredService<IOptions<ImportsOptions>>().Value.BlobContainer, swept);
        Assert.Contains(services.GetRequiredService<IOptions<RawZipOptions>>().Value.BlobContainer, swept);
        Assert.Contains(ExportContainers.Exports, partitions);
        Assert.Contains(ImportContainers.Imports, partitions);
    }

    private async Task<List<string>> BlobsAsync(string container, string projectId)
    {
        try
        {
            return [.. (await _app.Factory.Services.GetRequiredService<IBlobStore>().ListAsync(container, projectId + "/")).Items.Select(b => b.Name)];
        }
        catch (BlobNotFoundException)
        {
            return [];
        }
    }
}
