using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Dashboard;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Dashboard;

/// <summary>The dashboard through HTTP: exact counters (items, members, annotations, tasks, labeling status) that follow every write.</summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class DashboardTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly DurableApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Get_ProjectWithItemsAndMembers_ExactCountsAndZeroTaskFigures()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("dashowner");
        var projectId = await _app.CreateProjectAsync(owner);
        var first = await _app.CreateDatasetAsync(owner, projectId, "first");
        var second = await _app.CreateDatasetAsync(owner, projectId, "second");
        await _app.BulkAsync(owner, projectId, first, DatasetCopyTests.World.Entries(7));
        await _app.BulkAsync(owner, projectId, second, DatasetCopyTests.World.Entries(3));
        using var client = _app.Client(owner.Key);
        foreach (var name in new[] { "a.png", "b.png" })
        {
            using var upload = await client.PutAsync(new Uri($"/api/projects/{projectId}/datasets/{first}/items?path=/img/{name}", UriKind.Relative), new ByteArrayContent(TestImages.Png(4, 3)));
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        }

        foreach (var (name, role) in new[] { ("dashann", "Annotator"), ("dashrev1", "Reviewer"), ("dashrev2", "Reviewer") })
        {
            var user = await _app.CreateUserAsync(name);
            using var add = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{user.Id}", new { role });
            Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        }

        // Act
        using var response = await client.GetAsync(new Uri($"/api/projects/{projectId}/dashboard", UriKind.Relative));
        var dashboard = (await response.Content.ReadFromJsonAsync<ProjectDashboard>(IdentityApp.Json))!;
        var raw = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(projectId, dashboard.ProjectId);
        Assert.Equal(2, dashboard.Datasets);
        Assert.Equal(12, dashboard.Items.Total);
        Assert.Equal(new Dictionary<string, long> { ["image"] = 2, ["video"] = 0, ["text"] = 10, ["other"] = 0 }, dashboard.Items.ByType);
        Assert.Equal(4, dashboard.Members.Total);
        Assert.Equal(new Dictionary<string, long> { ["Owner"] = 1, ["Developer"] = 0, ["AnnotationManager"] = 0, ["Annotator"] = 1, ["Reviewer"] = 2 }, dashboard.Members.ByRole);
        Assert.Equal(new[] { (first, 9L, 2L), (second, 3L, 0L) }, dashboard.PerDataset.Select(d => (d.DatasetId, d.Items, d.ItemsByType["image"])));
        Assert.False(dashboard.PerDatasetTruncated);
        Assert.Equal("available", raw.GetProperty("annotations").GetProperty("status").GetString());
        Assert.Equal(0, raw.GetProperty("annotations").GetProperty("count").GetInt64());
        Assert.Equal(new LabelingStatusCounts(0, 0, 0, 0, 0, "available"), dashboard.LabelingStatus);
        Assert.All(dashboard.PerDataset, d => Assert.Equal(new PendingCount(0, "available"), d.OpenTasks));
    }

    [Fact]
    public async Task Get_WithTasksQaAndAnnotations_LabelingStatusOpenTasksAndAnnotationsExact()
    {
        // Arrange: 6 items; a task over them; 2 completed and 1 discarded; QA over the completed ones, 1 approved.
        var owner = await _app.CreateUserAsync("dashtasks");
        var projectId = await _app.CreateProjectAsync(owner);
        var datasetId = await _app.CreateDatasetAsync(owner, projectId, "labeled");
        var other = await _app.CreateDatasetAsync(owner, projectId, "untouched");
        await _app.BulkAsync(owner, projectId, datasetId, DatasetCopyTests.World.Entries(6));
        using var client = _app.Client(owner.Key);
        var p = $"/api/projects/{projectId}";
        using (var recipe = await client.PostAsJsonAsync($"{p}/recipes", new { name = "r", classes = new[] { new { name = "good", color = "#00ff00", shape = "classification" } } }))
        using (var attached = await client.PutAsJsonAsync($"{p}/datasets/{datasetId}/recipe", new { recipeId = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString() }))
        {
            Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        }

        var task = await StartTaskAsync(client, $"{p}/tasks", new { name = "t", datasetId, assignees = new[] { new { userId = owner.Id } } });
        await UntilAsync(client, $"{p}/tasks/{task}", t => t.GetProperty("task").GetProperty("state").GetString() == "open");
        var items = (await client.GetFromJsonAsync<JsonElement>($"{p}/tasks/{task}/items")).GetProperty("items").EnumerateArray().Select(i => i.GetProperty("itemId").GetString()!).ToList();
        using (var annotated = await client.PostAsJsonAsync($"{p}/datasets/{datasetId}/items/{items[0]}/annotations", new { annotations = new[] { new { label = "good" }, new { label = "good" } } }))
        {
            Assert.Equal(HttpStatusCode.Created, annotated.StatusCode);
        }

        foreach (var (item, status) in new[] { (items[0], "COMPLETED"), (items[1], "COMPLETED"), (items[2], "DISCARDED") })
        {
            using var set = await client.PutAsJsonAsync($"{p}/tasks/{task}/items/{item}/status", new { status });
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        }

        using (var qa = await client.PostAsJsonAsync($"{p}/tasks/{task}/qa", new { name = "qa", reviewers = new[] { owner.Id } }))
        {
            var qaTask = (await qa.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("task").GetProperty("id").GetString()!;
            await UntilAsync(client, $"{p}/tasks/{qaTask}", t => t.GetProperty("progress").GetProperty("total").GetInt64() == 2);
            using var approve = await client.PutAsJsonAsync($"{p}/tasks/{qaTask}/items/{items[0]}/status", new { status = "APPROVED" });
            Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        }

        // Act
        var dashboard = (await client.GetFromJsonAsync<ProjectDashboard>($"{p}/dashboard", IdentityApp.Json))!;

        // Assert: in progress 3, completed 2, discarded 1 (annotation task); reviewed 1, not reviewed 1 (QA).
        Assert.Equal(new LabelingStatusCounts(3, 2, 1, 1, 1, "available"), dashboard.LabelingStatus);
        Assert.Equal(new PendingCount(2, "available"), dashboard.Annotations);
        Assert.Equal(new[] { (datasetId, 2L), (other, 0L) }, dashboard.PerDataset.Select(d => (d.DatasetId, d.OpenTasks.Count)));
    }

    private static async Task<string> StartTaskAsync(HttpClient client, string url, object body)
    {
        using var response = await client.PostAsJsonAsync(url, body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("task").GetProperty("id").GetString()!;
    }

    private static async Task UntilAsync(HttpClient client, string url, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!done(await client.GetFromJsonAsync<JsonElement>(url)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{url} did not reach the expected state in 60 s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Get_AfterItemDeleteAndMemberRemoval_CountsFollowAtOnce()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("dashfollow");
        var projectId = await _app.CreateProjectAsync(owner);
        var dataset = await _app.CreateDatasetAsync(owner, projectId);
        await _app.BulkAsync(owner, projectId, dataset, DatasetCopyTests.World.Entries(5));
        var reviewer = await _app.CreateUserAsync("dashfollowrev");
        using var client = _app.Client(owner.Key);
        using (var add = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{reviewer.Id}", new { role = "Reviewer" }))
        {
            Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        }

        var before = await client.GetFromJsonAsync<ProjectDashboard>($"/api/projects/{projectId}/dashboard", IdentityApp.Json);
        var item = (await _app.AllItemsAsync(owner, projectId, dataset))[0].GetProperty("id").GetString();

        // Act
        using var deleteItem = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/datasets/{dataset}/items/{item}", UriKind.Relative));
        using var removeMember = await client.DeleteAsync(new Uri($"/api/projects/{projectId}/members/{reviewer.Id}", UriKind.Relative));
        var after = await client.GetFromJsonAsync<ProjectDashboard>($"/api/projects/{projectId}/dashboard", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, deleteItem.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, removeMember.StatusCode);
        Assert.Equal((5L, 5L, 2L, 1L), (before!.Items.Total, before.Items.ByType["text"], before.Members.Total, before.Members.ByRole["Reviewer"]));
        Assert.Equal((4L, 4L, 1L, 0L), (after!.Items.Total, after.Items.ByType["text"], after.Members.Total, after.Members.ByRole["Reviewer"]));
    }

    [Fact]
    public async Task ItemWrite_CounterWithoutPerTypeCounts_UpgradedOnceAndExactAfter()
    {
        // Arrange: a counter as written before per-type counts existed (total only).
        var owner = await _app.CreateUserAsync("dashlegacy");
        var projectId = await _app.CreateProjectAsync(owner);
        var dataset = await _app.CreateDatasetAsync(owner, projectId);
        await _app.BulkAsync(owner, projectId, dataset, DatasetCopyTests.World.Entries(4));
        var items = _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(DatasetContainers.Items);
        await items.ReplaceAsync(DatasetContainers.ItemPartition(dataset), DatasetContainers.StatsId, new JsonObject { ["kind"] = "stats", ["itemCount"] = 4 });
        using var client = _app.Client(owner.Key);

        // Act
        var legacy = await client.GetFromJsonAsync<ProjectDashboard>($"/api/projects/{projectId}/dashboard", IdentityApp.Json);
        await _app.BulkAsync(owner, projectId, dataset, [new { path = "/later/extra.json", content = new { n = 1 } }]);
        var upgraded = await items.ReadAsync(DatasetContainers.ItemPartition(dataset), DatasetContainers.StatsId);
        var after = await client.GetFromJsonAsync<ProjectDashboard>($"/api/projects/{projectId}/dashboard", IdentityApp.Json);

        // Assert
        Assert.Equal((4L, 4L), (legacy!.Items.Total, legacy.Items.ByType["text"]));
        Assert.Equal(5, upgraded!.Body["byType"]!["text"]!.GetValue<long>());
        Assert.Equal((5L, 5L, 0L), (after!.Items.Total, after.Items.ByType["text"], after.Items.ByType["image"]));
    }

    [Fact]
    public async Task Get_AnnotatorOrOutsider_403Or404()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("dashguard");
        var annotator = await _app.CreateUserAsync("dashguardann");
        var outsider = await _app.CreateUserAsync("dashguardout");
        var projectId = await _app.CreateProjectAsync(owner);
        using (var client = _app.Client(owner.Key))
        using (var add = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{annotator.Id}", new { role = "Annotator" }))
        {
            Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        }

        using var annotatorClient = _app.Client(annotator.Key);
        using var outsiderClient = _app.Client(outsider.Key);

        // Act
        using var refused = await annotatorClient.GetAsync(new Uri($"/api/projects/{projectId}/dashboard", UriKind.Relative));
        using var hidden = await outsiderClient.GetAsync(new Uri($"/api/projects/{projectId}/dashboard", UriKind.Relative));

        // Assert
        await IdentityApp.AssertProblemAsync(refused, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(hidden, HttpStatusCode.NotFound);
    }
}
