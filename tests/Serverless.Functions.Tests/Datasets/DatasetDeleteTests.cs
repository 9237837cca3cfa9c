using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Durable;
using Serverless.Functions.Datasets;
using Serverless.Functions.RawZips;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>Dataset deletion through HTTP: 202, 404 at once, and a cascade that removes the dataset's tasks, items and files, and nothing else.</summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class DatasetDeleteTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly DurableApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task ForceDelete_DatasetWithTaskAndFiles_EverythingOfItRemovedOtherDatasetKept()
    {
        // Arrange: two datasets with items and an uploaded file each, a task over each, and a raw zip of the doomed one.
        var owner = await _app.CreateUserAsync("dsdelowner");
        var member = await _app.CreateUserAsync("dsdelmember");
        var projectId = await _app.CreateProjectAsync(owner);
        using var client = _app.Client(owner.Key);
        using (var add = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{member.Id}", new { role = "Annotator" }))
        {
            Assert.True(add.IsSuccessStatusCode);
        }

        var doomed = await _app.CreateDatasetAsync(owner, projectId, "doomed");
        var kept = await _app.CreateDatasetAsync(owner, projectId, "kept");
        await _app.BulkAsync(owner, projectId, doomed, DatasetCopyTests.World.Entries(12));
        await _app.BulkAsync(owner, projectId, kept, DatasetCopyTests.World.Entries(4));
        await UploadAsync(client, projectId, doomed);
        await UploadAsync(client, projectId, kept);
        var doomedTask = await CreateTaskAsync(client, projectId, doomed, member.Id);
        var keptTask = await CreateTaskAsync(client, projectId, kept, member.Id);
        var blobs = _app.Factory.Services.GetRequiredService<IBlobStore>();
        var zips = _app.Factory.Services.GetRequiredService<IOptions<RawZipOptions>>().Value.BlobContainer;
        await blobs.CreateContainerIfNotExistsAsync(zips);
        using (var zip = new MemoryStream([1, 2, 3]))
        {
            await blobs.UploadAsync(zips, RawZipBuilder.BlobName(projectId, doomed), zip);
        }

        var store = _app.Factory.Services.GetRequiredService<IDocumentStore>();
        var tasks = store.Container(TaskContainers.Tasks);
        Assert.True(await tasks.CountAsync(TaskContainers.TaskPartition(doomedTask), null) > 12);

        // Act
        using var refused = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{doomed}", UriKind.Relative));
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{doomed}?force=true", UriKind.Relative));
        using var getAtOnce = await client.GetAsync(new Uri($"/api/projects/{projectId}/datasets/{doomed}", UriKind.Relative));
        var accepted = await delete.Content.ReadFromJsonAsync<JsonElement>();
        var state = await _app.WaitAsync(accepted.GetProperty("id").GetString()!);
        using var doomedTaskRead = await client.GetAsync(new Uri($"/api/projects/{projectId}/tasks/{doomedTask}", UriKind.Relative));
        var taskList = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/tasks");
        var datasetList = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/datasets");
        var keptItems = await _app.AllItemsAsync(owner, projectId, kept);

        // Assert: the refusal changed nothing; the forced delete hid the dataset at once and the cascade emptied it.
        await IdentityApp.AssertProblemAsync(refused, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        Assert.Equal($"{projectId}.DeleteDataset.{doomed}", accepted.GetProperty("id").GetString());
        await IdentityApp.AssertProblemAsync(getAtOnce, HttpStatusCode.NotFound);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(0, await store.Container(DatasetContainers.Items).CountAsync(DatasetContainers.ItemPartition(doomed), null));
        Assert.Equal(0, await tasks.CountAsync(TaskContainers.TaskPartition(doomedTask), null));
        await IdentityApp.AssertProblemAsync(doomedTaskRead, HttpStatusCode.NotFound);
        Assert.Empty((await blobs.ListAsync(_app.BlobContainer, $"{projectId}/{doomed}/")).Items);
        Assert.Empty((await blobs.ListAsync(zips, $"{projectId}/{doomed}/")).Items);

        // The other dataset, its file and its task are untouched.
        Assert.Equal(kept, Assert.Single(datasetList.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(keptTask, Assert.Single(taskList.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(5, keptItems.Count);
        Assert.Single((await blobs.ListAsync(_app.BlobContainer, $"{projectId}/{kept}/")).Items);
        Assert.True(await tasks.CountAsync(TaskContainers.TaskPartition(keptTask), null) > 4);
    }

    [Fact]
    public async Task Delete_EmptyDataset_202CompletesAndSecondDelete404()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("dsdelempty");
        var projectId = await _app.CreateProjectAsync(owner);
        var datasetId = await _app.CreateDatasetAsync(owner, projectId, "empty");
        using var client = _app.Client(owner.Key);

        // Act
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}", UriKind.Relative));
        var state = await _app.WaitAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        using var again = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        await IdentityApp.AssertProblemAsync(again, HttpStatusCode.NotFound);
    }

    private static async Task UploadAsync(HttpClient client, string projectId, string datasetId)
    {
        using var file = new ByteArrayContent(TestImages.Png(4, 4));
        using var upload = await client.PutAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items?path=%2Fphoto.png", UriKind.Relative), file);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
    }

    private async Task<string> CreateTaskAsync(HttpClient client, string projectId, string datasetId, string assignee)
    {
        using var task = await client.PostAsJsonAsync($"/api/projects/{projectId}/tasks", new { name = "t", datasetId, assignees = new[] { new { userId = assignee } } });
        Assert.Equal(HttpStatusCode.Accepted, task.StatusCode);
        var created = await task.Content.ReadFromJsonAsync<JsonElement>();
        await _app.WaitAsync(created.GetProperty("split").GetProperty("id").GetString()!);
        return created.GetProperty("task").GetProperty("id").GetString()!;
    }
}
