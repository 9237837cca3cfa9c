using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Durable;
using Serverless.Functions.Activity;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>What a host offers the scenario: clients on the current host, users, the durable client, and a checkpoint hook.</summary>
/// <param name="Client">A client on the current host, with a key or anonymous.</param>
/// <param name="CreateUserAsync">Creates an organization member.</param>
/// <param name="Durable">The current host's durable client.</param>
/// <param name="Checkpoint">Called right after each step that starts or signals an orchestration (a test may restart the host there).</param>
public sealed record ScenarioHost(Func<string?, HttpClient> Client, Func<string, Task<TestUser>> CreateUserAsync, Func<DurableClient> Durable, Func<string, Task> Checkpoint);

/// <summary>Where the scenario ended: compared between a clean run and runs whose host was killed along the way.</summary>
public sealed record WorkflowOutcome(
    string TaskState, long TaskDone, string TaskByStatus, string QaState, string QaByStatus, string LoopStatus, string LoopOutput,
    string IssueHistory, string IssueEvents, string Assignees);

/// <summary>
/// The whole labeling loop through HTTP: split between two annotators, annotate and complete, QA fed by the
/// hand-off orchestration, an issue sends an item back, correction, review, approval. Every count and status is
/// asserted at each step. Clients are taken from the host per request, so the host may be replaced at a checkpoint.
/// </summary>
public static class WorkflowScenario
{
    public static async Task<WorkflowOutcome> RunAsync(ScenarioHost host, string name)
    {
        ArgumentNullException.ThrowIfNull(host);

        // Arrange: project, recipe, dataset of 4 items, two annotators and a reviewer.
        var owner = await host.CreateUserAsync($"{name}-owner");
        var a = await host.CreateUserAsync($"{name}-a");
        var b = await host.CreateUserAsync($"{name}-b");
        var r = await host.CreateUserAsync($"{name}-r");
        var scene = await SceneAsync(host, owner);
        foreach (var (user, role) in new[] { (a, ProjectRole.Annotator), (b, ProjectRole.Annotator), (r, ProjectRole.Reviewer) })
        {
            using var added = await Send(host, owner, c => c.PutAsJsonAsync($"/api/projects/{scene.ProjectId}/members/{user.Id}", new { role = role.ToString() }, IdentityApp.Json));
            Assert.True(added.IsSuccessStatusCode);
        }

        await SetUpRecipeAndItemsAsync(host, scene);
        var tasks = $"/api/projects/{scene.ProjectId}/tasks";

        // Act 1: the task is split between the two annotators.
        var task = await CreateAsync(host, owner, tasks, new { name = "label", datasetId = scene.DatasetId, assignees = new[] { new { userId = a.Id }, new { userId = b.Id } } });
        await host.Checkpoint("split started");
        var split = await WaitAsync(host, owner, $"{tasks}/{task}", t => t.Task.State == "open");
        Assert.Equal(4, split.Progress.Total);
        Assert.Equal(2, split.Progress.ByAssignee[a.Id].Total);
        Assert.Equal(2, split.Progress.ByAssignee[b.Id].Total);

        // Act 2: both annotate their items and complete them.
        foreach (var user in new[] { a, b })
        {
            var mine = await GetAsync<Page<TaskItem>>(host, user, $"{tasks}/{task}/items");
            Assert.Equal(2, mine.Items.Count);
            foreach (var item in mine.Items)
            {
                using var annotated = await Send(host, user, c => c.PostAsJsonAsync($"{scene.Items}/{item.ItemId}/annotations", new { annotations = new[] { new { label = "good" } } }, IdentityApp.Json));
                Assert.Equal(HttpStatusCode.Created, annotated.StatusCode);
                using var done = await Send(host, user, c => c.PutAsJsonAsync($"{tasks}/{task}/items/{item.ItemId}/status", new { status = "COMPLETED" }, IdentityApp.Json));
                Assert.Equal(HttpStatusCode.OK, done.StatusCode);
            }
        }

        var labeled = await GetAsync<TaskWithProgress>(host, owner, $"{tasks}/{task}");
        Assert.Equal(4, labeled.Progress.Done);
        Assert.Equal("completed", labeled.Task.State);

        // Act 3: the QA task fills from the completed items.
        var qa = await CreateAsync(host, owner, $"{tasks}/{task}/qa", new { name = "review", reviewers = new[] { r.Id } });
        await host.Checkpoint("QA hand-off started");
        var reviewing = await WaitAsync(host, owner, $"{tasks}/{qa}", t => t.Progress.Total == 4);
        Assert.Equal(4, reviewing.Progress.ByAssignee[r.Id].Total);
        Assert.Equal(["APPROVED", "DISCARDED"], reviewing.Task.Actions.Select(x => x.Name));

        // Act 4: the reviewer opens an issue on one of A's items; it returns to A, reopened.
        var target = (await GetAsync<Page<TaskItem>>(host, a, $"{tasks}/{task}/items")).Items[0].ItemId;
        var annotation = (await GetAsync<Page<Serverless.Functions.Annotations.Annotation>>(host, owner, $"{scene.Items}/{target}/annotations")).Items[0];
        using var opened = await Send(host, r, c => c.PostAsJsonAsync($"{tasks}/{qa}/items/{target}/issues", new { annotationId = annotation.Id, comment = "wrong class", tag = "label" }, IdentityApp.Json));
        Assert.Equal(HttpStatusCode.Created, opened.StatusCode);
        var issue = (await opened.Content.ReadFromJsonAsync<TaskIssue>(IdentityApp.Json))!;
        Assert.Equal(a.Id, issue.Annotator);
        await host.Checkpoint("issue loop started");
        // The counters move with the status; the task state follows in a second write (another partition): wait for both.
        var reopened = await WaitAsync(host, owner, $"{tasks}/{task}", t => t.Progress.Done == 3 && t.Task.State == "open");
        Assert.Equal("open", reopened.Task.State);
        var back = Assert.Single((await GetAsync<Page<TaskItem>>(host, a, $"{tasks}/{task}/items?open=true")).Items);
        Assert.Equal(target, back.ItemId);
        Assert.True(back.Reopened);

        // Act 5: A corrects and completes again, and marks the issue for review; B may not.
        using (var fix = await Send(host, a, c => c.PutAsJsonAsync($"{scene.Items}/{target}/annotations/{annotation.Id}", new { label = "good" }, IdentityApp.Json)))
        {
            Assert.Equal(HttpStatusCode.OK, fix.StatusCode);
        }

        using (var again = await Send(host, a, c => c.PutAsJsonAsync($"{tasks}/{task}/items/{target}/status", new { status = "COMPLETED" }, IdentityApp.Json)))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        using var notB = await Send(host, b, c => c.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { }, IdentityApp.Json));
        using var forReview = await Send(host, a, c => c.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { comment = "fixed" }, IdentityApp.Json));
        using var twice = await Send(host, a, c => c.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/for-review", new { }, IdentityApp.Json));
        Assert.Equal(HttpStatusCode.Forbidden, notB.StatusCode);
        Assert.Equal(HttpStatusCode.OK, forReview.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Equal(4, (await GetAsync<TaskWithProgress>(host, owner, $"{tasks}/{task}")).Progress.Done);
        await host.Checkpoint("issue for review");

        // Act 6: the reviewer resolves the issue and approves every item; the loop ends.
        using (var resolved = await Send(host, r, c => c.PostAsJsonAsync($"{tasks}/{qa}/issues/{issue.Id}/resolve", new { }, IdentityApp.Json)))
        {
            Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
        }

        foreach (var item in (await GetAsync<Page<TaskItem>>(host, r, $"{tasks}/{qa}/items")).Items)
        {
            using var approved = await Send(host, r, c => c.PutAsJsonAsync($"{tasks}/{qa}/items/{item.ItemId}/status", new { status = "APPROVED" }, IdentityApp.Json));
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }

        await host.Checkpoint("approved");

        // Assert
        var final = await GetAsync<TaskWithProgress>(host, owner, $"{tasks}/{qa}");
        Assert.Equal(4, final.Progress.ByStatus["APPROVED"]);
        Assert.Equal("completed", final.Task.State);
        var loop = await host.Durable().WaitForCompletionAsync($"{scene.ProjectId}.issue.{qa}-{target}", TimeSpan.FromSeconds(120));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, loop.Status);
        Assert.Contains("\"rounds\":1", loop.Output, StringComparison.Ordinal);
        var history = (await GetAsync<Page<TaskIssue>>(host, owner, $"{tasks}/{qa}/issues?itemId={target}")).Items.Single().History;
        Assert.Equal(["created", "for_review", "resolved"], history.Select(h => h.Action));
        Assert.Equal([r.Id, a.Id, r.Id], history.Select(h => h.Actor));
        var log = await GetAsync<Page<ActivityEvent>>(host, owner, $"/api/projects/{scene.ProjectId}/activity?kind=issue.&pageSize=50");
        Assert.Equal(["issue.opened", "issue.for_review", "issue.resolved"], log.Items.Select(e => e.Kind));

        // Users are named per run: the outcome names them by role so that two runs compare equal.
        var roles = new Dictionary<string, string> { [a.Id] = "A", [b.Id] = "B", [r.Id] = "R" };
        var annotationTask = await GetAsync<TaskWithProgress>(host, owner, $"{tasks}/{task}");
        return new WorkflowOutcome(
            annotationTask.Task.State,
            annotationTask.Progress.Done,
            Join(annotationTask.Progress.ByStatus.Select(p => $"{p.Key}={p.Value}")),
            final.Task.State,
            Join(final.Progress.ByStatus.Select(p => $"{p.Key}={p.Value}")),
            loop.Status.ToString(),
            loop.Output ?? string.Empty,
            Join(history.Select(h => $"{h.Action}:{roles[h.Actor]}")),
            Join(log.Items.Select(e => $"{e.Kind}:{roles[e.Actor]}")),
            Join(annotationTask.Progress.ByAssignee.Select(p => $"{roles[p.Key]}={p.Value.Total}/{p.Value.Done}")));
    }

    private static string Join(IEnumerable<string> parts) => string.Join(",", parts.Order(StringComparer.Ordinal));

    private static async Task<Scene> SceneAsync(ScenarioHost host, TestUser owner)
    {
        using var project = await Send(host, owner, c => c.PostAsJsonAsync("/api/projects", new { name = "p" }));
        var projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var dataset = await Send(host, owner, c => c.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name = "d" }));
        Assert.Equal(HttpStatusCode.Created, dataset.StatusCode);
        return new Scene(owner, projectId, (await dataset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
    }

    private static async Task SetUpRecipeAndItemsAsync(ScenarioHost host, Scene scene)
    {
        using var recipe = await Send(host, scene.Owner, c => c.PostAsJsonAsync($"/api/projects/{scene.ProjectId}/recipes", new { name = "r", classes = new[] { new { name = "good", color = "#00ff00", shape = "classification" } } }, IdentityApp.Json));
        var recipeId = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var attached = await Send(host, scene.Owner, c => c.PutAsJsonAsync($"{scene.Dataset}/recipe", new { recipeId }, IdentityApp.Json));
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        using var bulk = await Send(host, scene.Owner, c => c.PostAsJsonAsync($"{scene.Items}/bulk", new { items = Enumerable.Range(0, 4).Select(i => new { path = $"/t/{i}.json", content = new { i } }) }, IdentityApp.Json));
        Assert.Equal(HttpStatusCode.OK, bulk.StatusCode);
    }

    private static async Task<string> CreateAsync(ScenarioHost host, TestUser user, string url, object body)
    {
        using var response = await Send(host, user, c => c.PostAsJsonAsync(url, body, IdentityApp.Json));
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, json.GetRawText());
        return json.GetProperty("task").GetProperty("id").GetString()!;
    }

    /// <summary>One request on a fresh client of the current host (the response outlives the client).</summary>
    private static async Task<HttpResponseMessage> Send(ScenarioHost host, TestUser user, Func<HttpClient, Task<HttpResponseMessage>> request)
    {
        var client = host.Client(null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", user.Key);
        var response = await request(client);
        await response.Content.LoadIntoBufferAsync();
        client.Dispose();
        return response;
    }

    private static async Task<T> GetAsync<T>(ScenarioHost host, TestUser user, string url)
    {
        using var response = await Send(host, user, c => c.GetAsync(new Uri(url, UriKind.Relative)));
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>(IdentityApp.Json))!;
    }

    private static async Task<TaskWithProgress> WaitAsync(ScenarioHost host, TestUser user, string url, Func<TaskWithProgress, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var task = await GetAsync<TaskWithProgress>(host, user, url);
            if (done(task))
            {
                return task;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{url} did not reach the expected state in 120 s: {JsonSerializer.Serialize(task, IdentityApp.Json)}");
            await Task.Delay(100);
        }
    }
}
