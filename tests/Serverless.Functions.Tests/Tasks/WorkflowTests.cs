using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Durable.Runtime;
using Serverless.Functions.Activity;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>
/// The whole labeling loop through HTTP on SQLite and Azurite: split between two annotators, annotate and
/// complete, QA fed by the hand-off orchestration, an issue sends an item back, correction, review, approval.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class WorkflowTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task AnnotateQaIssueCorrectApprove_EveryCountAndStatusRightAtEachStep()
    {
        // Arrange: project, recipe, dataset of 4 items, two annotators and a reviewer.
        var scene = await _app.SceneAsync("flow");
        var a = await _app.CreateUserAsync("flow-a");
        var b = await _app.CreateUserAsync("flow-b");
        var r = await _app.CreateUserAsync("flow-r");
        await _app.AddMemberAsync(scene, a, ProjectRole.Annotator);
        await _app.AddMemberAsync(scene, b, ProjectRole.Annotator);
        await _app.AddMemberAsync(scene, r, ProjectRole.Reviewer);
        using var owner = _app.Client(scene.Owner.Key);
        using var aClient = _app.Client(a.Key);
        using var bClient = _app.Client(b.Key);
        using var rClient = _app.Client(r.Key);
        await SetUpRecipeAndItemsAsync(owner, scene);
        var tasks = $"/api/projects/{scene.ProjectId}/tasks";

        // Act 1: the task is split between the two annotators.
        var task = await CreateAsync(owner, tasks, new { name = "label", datasetId = scene.DatasetId, assignees = new[] { new { userId = a.Id }, new { userId = b.Id } } });
        var split = await WaitAsync(owner, $"{tasks}/{task}", t => t.Task.State == "open");
        Assert.Equal(4, split.Progress.Total);
        Assert.Equal(2, split.Progress.ByAssignee[a.Id].Total);
        Assert.Equal(2, split.Progress.ByAssignee[b.Id].Total);

        // Act 2: both annotate their items and complete them.
        foreach (var (client, user) in new[] { (aClient, a), (bClient, b) })
        {
            var mine = (await client.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{task}/items", IdentityApp.Json))!;
            Assert.Equal(2, mine.Items.Count);
            foreach (var item in mine.Items)
            {
                using var annotated = await client.PostAsJsonAsync($"{scene.Items}/{item.ItemId}/annotations", new { annotations = new[] { new { label = "good" } } }, IdentityApp.Json);
                Assert.Equal(HttpStatusCode.Created, annotated.StatusCode);
                using var done = await client.PutAsJsonAsync($"{tasks}/{task}/items/{item.ItemId}/status", new { status = "COMPLETED" }, IdentityApp.Json);
                Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            }
        }

        var labeled = await GetAsync(owner, $"{tasks}/{task}");
        Assert.Equal(4, labeled.Progress.Done);
        Assert.Equal("completed", labeled.Task.State);

        // Act 3: the QA task fills from the completed items.
        var qa = await CreateAsync(owner, $"{tasks}/{task}/qa", new { name = "review", reviewers = new[] { r.Id } });
        var reviewing = await WaitAsync(owner, $"{tasks}/{qa}", t => t.Progress.Total == 4);
        Assert.Equal(4, reviewing.Progress.ByAssignee[r.Id].Total);
        Assert.Equal(["APPROVED", "DISCARDED"], reviewing.Task.Actions.Select(x => x.Name));

        // Act 4: the reviewer opens an issue on one of A's items; it returns to A, reopened.
        var target = (await aClient.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{task}/items", IdentityApp.Json))!.Items[0].ItemId;
        var annotation = (await owner.GetFromJsonAsync<Page<Serverless.Functions.Annotations.Annotation>>($"{scene.Items}/{target}/annotations", IdentityApp.Json))!.Items[0];
        using var opened = await rClient.PostAsJsonAsync($"{tasks}/{qa}/items/{target}/issues", new { annotationId = annotation.Id, comment = "wrong class", tag = "label" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, opened.StatusCode);
        var issue = (await opened.Content.ReadFromJsonAsync<TaskIssue>(IdentityApp.Json))!;
        Assert.Equal(a.Id, issue.Annotator);
        var reopened = await WaitAsync(owner, $"{tasks}/{task}", t => t.Progress.Done == 3);
        Assert.Equal("open", reopened.Task.State);
        var queue = (await aClient.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{task}/items?open=true", IdentityApp.Json))!;
        var back = Assert.Single(queue.Items);
        Assert.Equal(target, back.ItemId);
        Assert.True(back.Reopened);

        // Act 5: A corrects and completes again, and marks the issue for review; B may not.
        using (var fix = await aClient.PutAsJsonAsync($"{scene.Items}/{target}/annotations/{annotation.Id}", new { label = "good" }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, fix.StatusCode);
        }

        using (var again = await aClient.PutAsJsonAsync($"{tasks}/{task}/items/{target}/status", new { status = "COMPLETED" }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        using var notB = await bClient.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { }, IdentityApp.Json);
        using var forReview = await aClient.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { comment = "fixed" }, IdentityApp.Json);
        using var twice = await aClient.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Forbidden, notB.StatusCode);
        Assert.Equal(HttpStatusCode.OK, forReview.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Equal(4, (await GetAsync(owner, $"{tasks}/{task}")).Progress.Done);

        // Act 6: the reviewer resolves the issue and approves every item; the loop ends.
        using (var resolved = await rClient.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/resolve", new { }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
        }

        var toReview = (await rClient.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{qa}/items", IdentityApp.Json))!;
        foreach (var item in toReview.Items)
        {
            using var approved = await rClient.PutAsJsonAsync($"{tasks}/{qa}/items/{item.ItemId}/status", new { status = "APPROVED" }, IdentityApp.Json);
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }

        // Assert
        var final = await GetAsync(owner, $"{tasks}/{qa}");
        Assert.Equal(4, final.Progress.ByStatus["APPROVED"]);
        Assert.Equal("completed", final.Task.State);
        var loop = await WaitLoopAsync($"{scene.ProjectId}.issue.{qa}-{target}");
        Assert.Equal(OrchestrationRuntimeStatus.Completed, loop.Status);
        Assert.Contains("\"rounds\":1", loop.Output, StringComparison.Ordinal);
        var history = (await owner.GetFromJsonAsync<Page<TaskIssue>>($"{tasks}/{qa}/issues?itemId={target}", IdentityApp.Json))!.Items.Single().History;
        Assert.Equal(["created", "for_review", "resolved"], history.Select(h => h.Action));
        Assert.Equal([r.Id, a.Id, r.Id], history.Select(h => h.Actor));
        var log = (await owner.GetFromJsonAsync<Page<ActivityEvent>>($"/api/projects/{scene.ProjectId}/activity?kind=issue.&pageSize=50", IdentityApp.Json))!;
        Assert.Equal(["issue.opened", "issue.for_review", "issue.resolved"], log.Items.Select(e => e.Kind));
    }

    private static async Task SetUpRecipeAndItemsAsync(HttpClient owner, Scene scene)
    {
        using var recipe = await owner.PostAsJsonAsync($"/api/projects/{scene.ProjectId}/recipes", new { name = "r", classes = new[] { new { name = "good", color = "#00ff00", shape = "classification" } } }, IdentityApp.Json);
        var recipeId = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var attached = await owner.PutAsJsonAsync($"{scene.Dataset}/recipe", new { recipeId }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        using var bulk = await owner.PostAsJsonAsync($"{scene.Items}/bulk", new { items = Enumerable.Range(0, 4).Select(i => new { path = $"/t/{i}.json", content = new { i } }) }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, bulk.StatusCode);
    }

    private static async Task<string> CreateAsync(HttpClient client, string url, object body)
    {
        using var response = await client.PostAsJsonAsync(url, body, IdentityApp.Json);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, json.GetRawText());
        return json.GetProperty("task").GetProperty("id").GetString()!;
    }

    private static async Task<TaskWithProgress> GetAsync(HttpClient client, string url) =>
        (await client.GetFromJsonAsync<TaskWithProgress>(url, IdentityApp.Json))!;

    private static async Task<TaskWithProgress> WaitAsync(HttpClient client, string url, Func<TaskWithProgress, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var task = await GetAsync(client, url);
            if (done(task))
            {
                return task;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{url} did not reach the expected state in 60 s: {JsonSerializer.Serialize(task, IdentityApp.Json)}");
            await Task.Delay(100);
        }
    }

    private async Task<OrchestrationState> WaitLoopAsync(string instanceId)
    {
        var durable = _app.Factory.Services.GetRequiredService<DurableClient>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var state = (await durable.GetInstanceAsync(instanceId))?.State;
            if (state is { IsTerminal: true })
            {
                return state;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Issue loop {instanceId} did not end in 60 s: {state?.Status}.");
            await Task.Delay(100);
        }
    }
}
