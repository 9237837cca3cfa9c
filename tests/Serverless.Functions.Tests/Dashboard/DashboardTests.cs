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

/// <summary>The dashboard through HTTP: exact counters that follow every write, and explicit placeholders for what does not exist yet.</summary>
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
    public async Task Get_ProjectWithItemsAndMembers_ExactCountsAndNotAvailableYetPlaceholders()
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
        Assert.Equal("notAvailableYet", raw.GetProperty("annotations").GetProperty("status").GetString());
        Assert.Equal(0, raw.GetProperty("annotations").GetProperty("count").GetInt64());
        Assert.Equal("notAvailableYet", raw.GetProperty("labelingStatus").GetProperty("status").GetString());
        Assert.All(raw.GetProperty("perDataset").EnumerateArray(), d => Assert.Equal("notAvailableYet", d.GetProperty("openTasks").GetProperty("status").GetString()));
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
