using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Durable;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>Project deletion through HTTP: 202, hidden at once, and a cascade that removes every dataset, item, file and recipe.</summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class ProjectDeleteTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly DurableApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Delete_ProjectWithData_202ThenHiddenAndEverythingRemoved()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("delowner");
        var member = await _app.CreateUserAsync("delmember");
        var projectId = await _app.CreateProjectAsync(owner);
        var datasets = new[] { await _app.CreateDatasetAsync(owner, projectId, "a"), await _app.CreateDatasetAsync(owner, projectId, "b") };
        await _app.BulkAsync(owner, projectId, datasets[0], DatasetCopyTests.World.Entries(30));
        await _app.BulkAsync(owner, projectId, datasets[1], DatasetCopyTests.World.Entries(5));
        using var client = _app.Client(owner.Key);
        using var memberClient = _app.Client(member.Key);

        // Bulk JSON items keep their bytes inline; one uploaded file gives the cascade a blob to delete.
        using (var file = new ByteArrayContent(Serverless.Testing.TestImages.Png(4, 4)))
        using (var upload = await client.PutAsync(new Uri($"/api/projects/{projectId}/datasets/{datasets[0]}/items?path=%2Fphoto.png", UriKind.Relative), file))
        {
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        }

        Assert.NotEmpty((await _app.Factory.Services.GetRequiredService<IBlobStore>().ListAsync(_app.BlobContainer, projectId + "/")).Items);
        using (var add = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{member.Id}", new { role = "Annotator" }))
        using (var recipe = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", new { name = "r", classes = Array.Empty<object>() }))
        {
            Assert.True(add.IsSuccessStatusCode);
            Assert.Equal(HttpStatusCode.Created, recipe.StatusCode);
        }

        // A task: its items and counters live in the task's own partition.
        string taskId;
        using (var task = await client.PostAsJsonAsync($"/api/projects/{projectId}/tasks", new { name = "t", datasetId = datasets[1], assignees = new[] { new { userId = member.Id } } }))
        {
            Assert.Equal(HttpStatusCode.Accepted, task.StatusCode);
            var created = await task.Content.ReadFromJsonAsync<JsonElement>();
            taskId = created.GetProperty("task").GetProperty("id").GetString()!;
            await _app.WaitAsync(created.GetProperty("split").GetProperty("id").GetString()!);
        }

        var tasks = _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(Serverless.Functions.Tasks.TaskContainers.Tasks);
        Assert.Equal(6, await tasks.CountAsync(Serverless.Functions.Tasks.TaskContainers.TaskPartition(taskId), null));
        var unrelated = await _app.CreateProjectAsync(owner);
        var unrelatedDataset = await _app.CreateDatasetAsync(owner, unrelated, "keep");
        await _app.BulkAsync(owner, unrelated, unrelatedDataset, DatasetCopyTests.World.Entries(3));

        // Act
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        using var getAtOnce = await client.GetAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        using var deleteAgain = await client.DeleteAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        var accepted = await delete.Content.ReadFromJsonAsync<JsonElement>();
        var state = await _app.WaitAsync(accepted.GetProperty("id").GetString()!);
        var memberProjects = await memberClient.GetFromJsonAsync<JsonElement>("/api/projects");
        var unrelatedItems = await _app.AllItemsAsync(owner, unrelated, unrelatedDataset);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        Assert.Equal($"{projectId}.DeleteProject.delete", accepted.GetProperty("id").GetString());
        await IdentityApp.AssertProblemAsync(getAtOnce, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(deleteAgain, HttpStatusCode.NotFound);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.True(state.ReadOutputAs<bool>());
        Assert.Equal(0, memberProjects.GetProperty("items").GetArrayLength());
        Assert.Equal(3, unrelatedItems.Count);
        await AssertProjectGoneAsync(projectId, datasets);
        Assert.Equal(0, await tasks.CountAsync(Serverless.Functions.Tasks.TaskContainers.TaskPartition(taskId), null));
        Assert.Equal(0, await tasks.CountAsync(Serverless.Functions.Tasks.TaskContainers.ProjectPartition(projectId), null));
    }

    [Fact]
    public async Task DeleteProject_RunTwice_SecondFindsNothingAndCompletes()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("twiceowner");
        var projectId = await _app.CreateProjectAsync(owner);
        var dataset = await _app.CreateDatasetAsync(owner, projectId);
        await _app.BulkAsync(owner, projectId, dataset, DatasetCopyTests.World.Entries(4));
        using var client = _app.Client(owner.Key);
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        await _app.WaitAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);

        // Act: the same cascade again, as a redelivered or restarted run would.
        var again = await _app.Durable.ScheduleNewOrchestrationInstanceAsync(nameof(DeleteProject), new DeleteProjectInput(projectId));
        var state = await _app.WaitAsync(again);

        // Assert
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.False(state.ReadOutputAs<bool>());
        await AssertProjectGoneAsync(projectId, [dataset]);
    }

    [Fact]
    public async Task Delete_WhileACloneRuns_CloneStopsAsCancelledAndNothingRemains()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("raceowner");
        var projectId = await _app.CreateProjectAsync(owner);
        var dataset = await _app.CreateDatasetAsync(owner, projectId);
        await _app.BulkAsync(owner, projectId, dataset, DatasetCopyTests.World.Entries(400));
        using var client = _app.Client(owner.Key);
        using var clone = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{dataset}/clone", new { name = "c" });
        var cloneId = (await clone.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // Act
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        var cloneState = await _app.WaitAsync(cloneId);
        var deleteState = await _app.WaitAsync((await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        Assert.True(cloneState.Status == OrchestrationRuntimeStatus.Completed, $"{cloneState.Status}: {cloneState.Failure}");
        var progress = cloneState.ReadOutputAs<DatasetCopyProgress>()!;
        Assert.Equal("cancelled", progress.Phase);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, deleteState.Status);

        // A page that was writing while the cascade swept undoes its writes: nothing is left in either dataset.
        await AssertProjectGoneAsync(projectId, [dataset, progress.TargetDatasetId]);
    }

    private async Task AssertProjectGoneAsync(string projectId, IReadOnlyList<string> datasets)
    {
        var services = _app.Factory.Services;
        var store = services.GetRequiredService<IDocumentStore>();
        foreach (var dataset in datasets)
        {
            Assert.Equal(0, await store.Container(DatasetContainers.Items).CountAsync(DatasetContainers.ItemPartition(dataset), null));
        }

        Assert.Equal(0, await store.Container(DatasetContainers.Datasets).CountAsync(DatasetContainers.ProjectPartition(projectId), null));
        Assert.Equal(0, await store.Container(RecipeContainers.Recipes).CountAsync(RecipeContainers.Partition(projectId), null));
        Assert.Equal(0, await store.Container(ProjectContainers.Projects).CountAsync(ProjectContainers.Partition(projectId), null));
        var blobs = services.GetRequiredService<IBlobStore>();
        try
        {
            Assert.Empty((await blobs.ListAsync(_app.BlobContainer, projectId + "/")).Items);
        }
        catch (BlobNotFoundException)
        {
            // No file was ever stored in this app's container (bulk items are inline): nothing can remain.
        }
    }
}
