using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Analytics;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Analytics;

/// <summary>A clock the test moves by hand (only the time tracker reads it).</summary>
public sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Set(DateTimeOffset now) => _now = now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// One small project driven through the HTTP API, once per test class: annotators A and B split a task of four
/// items, reviewer R reviews it in QA, one issue goes round, time is reported by heartbeats. The expected figures
/// in <see cref="AnalyticsTests"/> are computed by hand from the steps listed in <see cref="RunAsync"/>.
/// </summary>
public sealed class AnalyticsScenario : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"analytics-{Guid.NewGuid():N}");
    private readonly SemaphoreSlim _gate = new(1, 1);
    private FunctionsAppFactory? _factory;

    public ManualClock Clock { get; } = new();

    public FunctionsAppFactory Factory => _factory ?? throw new InvalidOperationException("Call EnsureAsync first.");

    public TestUser Owner { get; private set; } = null!;

    public TestUser A { get; private set; } = null!;

    public TestUser B { get; private set; } = null!;

    public TestUser R { get; private set; } = null!;

    public string ProjectId { get; private set; } = "";

    public string DatasetId { get; private set; } = "";

    public string TaskId { get; private set; } = "";

    public string QaTaskId { get; private set; } = "";

    public string Today { get; private set; } = "";

    public string Analytics => $"/api/projects/{ProjectId}/analytics";

    public async Task EnsureAsync(string storageConnectionString)
    {
        await _gate.WaitAsync();
        try
        {
            if (_factory is not null)
            {
                return;
            }

            _factory = FunctionsAppFactory.Standalone(
                new()
                {
                    ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
                    ["Storage:ConnectionString"] = storageConnectionString,
                    ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
                    ["Items:BlobContainer"] = "items-" + Guid.NewGuid().ToString("N")[..8],
                },
                services => services.AddSingleton(sp => new TimeTracker(
                    sp.GetRequiredService<IDocumentStore>(), sp.GetRequiredService<ActivityLog>(), sp.GetRequiredService<IOptions<AnalyticsOptions>>(), Clock)));
            _ = _factory.Server;
            await RunAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public HttpClient Client(TestUser user)
    {
        var client = Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", user.Key);
        return client;
    }

    /// <summary>
    /// The steps (who, what; the metric each moves):
    /// <list type="number">
    /// <item>Task T over items 1-4, split between A (a1, a2) and B (b1, b2).</item>
    /// <item>A: a1 gets car + person (created 2), COMPLETED; a2 gets car (created 1), edited once, COMPLETED.</item>
    /// <item>B: b1 gets person + car (created 2), the car deleted, COMPLETED; b2 skipped; the owner DISCARDs b2.</item>
    /// <item>QA task Q with reviewer R receives a1, a2, b1.</item>
    /// <item>R opens an issue on a1's car, tag "wrong-class"; R adds a person label on a1 (created in review).</item>
    /// <item>A edits a1's car, completes a1 again (submitted again), marks the issue for review; R resolves it, then reopens it.</item>
    /// <item>R approves a2 (labels: car) and b1 (labels: person).</item>
    /// <item>Time: A on a1 start, +30 s, +40 s, +200 s (idle), +10 s stop = 80 s, the +30 s heartbeat sent twice;
    /// A on a2 start, +20 s stop = 20 s; R on a2 in Q start, +15 s, +5 s stop = 20 s.</item>
    /// </list>
    /// </summary>
    private async Task RunAsync()
    {
        // Every event must fall on one UTC day (the by-day rows and date filters assert one day), and the manual clock
        // ends ~5 min ahead of the real one: a run started in the last minutes of a day waits for the next (seen failing
        // at 23:58 UTC with the time events stamped after midnight).
        var untilMidnight = DateTime.UtcNow.Date.AddDays(1) - DateTime.UtcNow;
        if (untilMidnight < TimeSpan.FromMinutes(6))
        {
            await Task.Delay(untilMidnight + TimeSpan.FromSeconds(1));
        }

        Today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        Owner = await CreateUserAsync("an-owner");
        A = await CreateUserAsync("an-a");
        B = await CreateUserAsync("an-b");
        R = await CreateUserAsync("an-r");
        using var owner = Client(Owner);
        ProjectId = await IdAsync(await owner.PostAsJsonAsync("/api/projects", new { name = "analytics" }));
        DatasetId = await IdAsync(await owner.PostAsJsonAsync($"/api/projects/{ProjectId}/datasets", new { name = "d" }));
        foreach (var (user, role) in new[] { (A, ProjectRole.Annotator), (B, ProjectRole.Annotator), (R, ProjectRole.Reviewer) })
        {
            using var added = await owner.PutAsJsonAsync($"/api/projects/{ProjectId}/members/{user.Id}", new { role = role.ToString() }, IdentityApp.Json);
            Assert.True(added.IsSuccessStatusCode);
        }

        var recipeId = await IdAsync(await owner.PostAsJsonAsync($"/api/projects/{ProjectId}/recipes", new
        {
            name = "r",
            classes = new[] { new { name = "car", color = "#ff0000", shape = "classification" }, new { name = "person", color = "#00ff00", shape = "classification" } },
        }, IdentityApp.Json));
        var dataset = $"/api/projects/{ProjectId}/datasets/{DatasetId}";
        using (var attached = await owner.PutAsJsonAsync($"{dataset}/recipe", new { recipeId }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        }

        using (var bulk = await owner.PostAsJsonAsync($"{dataset}/items/bulk", new { items = Enumerable.Range(0, 4).Select(i => new { path = $"/t/{i}.json", content = new { i } }) }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, bulk.StatusCode);
        }

        var tasks = $"/api/projects/{ProjectId}/tasks";
        TaskId = await TaskIdAsync(await owner.PostAsJsonAsync(tasks, new { name = "label", datasetId = DatasetId, assignees = new[] { new { userId = A.Id }, new { userId = B.Id } } }, IdentityApp.Json));
        await WaitAsync(owner, $"{tasks}/{TaskId}", t => t.Task.State == "open");
        using var a = Client(A);
        using var b = Client(B);
        using var r = Client(R);
        var aItems = (await a.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{TaskId}/items", IdentityApp.Json))!.Items.Select(i => i.ItemId).ToList();
        var bItems = (await b.GetFromJsonAsync<Page<TaskItem>>($"{tasks}/{TaskId}/items", IdentityApp.Json))!.Items.Select(i => i.ItemId).ToList();
        var (a1, a2, b1, b2) = (aItems[0], aItems[1], bItems[0], bItems[1]);
        var items = $"{dataset}/items";

        var a1Annotations = await AnnotateAsync(a, $"{items}/{a1}", "car", "person");
        await StatusAsync(a, $"{tasks}/{TaskId}/items/{a1}", "COMPLETED");
        var a2Car = (await AnnotateAsync(a, $"{items}/{a2}", "car"))[0];
        await OkAsync(await a.PutAsJsonAsync($"{items}/{a2}/annotations/{a2Car}", new { label = "car" }, IdentityApp.Json));
        await StatusAsync(a, $"{tasks}/{TaskId}/items/{a2}", "COMPLETED");

        var b1Annotations = await AnnotateAsync(b, $"{items}/{b1}", "person", "car");
        using (var deleted = await b.DeleteAsync(new Uri($"{items}/{b1}/annotations/{b1Annotations[1]}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        await StatusAsync(b, $"{tasks}/{TaskId}/items/{b1}", "COMPLETED");
        await OkAsync(await b.PostAsJsonAsync($"{tasks}/{TaskId}/items/{b2}/skip", new { }, IdentityApp.Json));
        await StatusAsync(owner, $"{tasks}/{TaskId}/items/{b2}", "DISCARDED");

        QaTaskId = await TaskIdAsync(await owner.PostAsJsonAsync($"{tasks}/{TaskId}/qa", new { name = "review", reviewers = new[] { R.Id } }, IdentityApp.Json));
        await WaitAsync(owner, $"{tasks}/{QaTaskId}", t => t.Progress.Total == 3);

        using var opened = await r.PostAsJsonAsync($"{tasks}/{QaTaskId}/items/{a1}/issues", new { annotationId = a1Annotations[0], comment = "not a car", tag = "wrong-class" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, opened.StatusCode);
        var issueId = (await opened.Content.ReadFromJsonAsync<TaskIssue>(IdentityApp.Json))!.Id;
        await AnnotateAsync(r, $"{items}/{a1}", "person");
        await WaitAsync(owner, $"{tasks}/{TaskId}", t => t.Progress.Done == 3);

        await OkAsync(await a.PutAsJsonAsync($"{items}/{a1}/annotations/{a1Annotations[0]}", new { label = "car" }, IdentityApp.Json));
        await StatusAsync(a, $"{tasks}/{TaskId}/items/{a1}", "COMPLETED");
        await OkAsync(await a.PostAsJsonAsync($"{tasks}/{QaTaskId}/issues/{issueId}/for-review", new { }, IdentityApp.Json));
        await OkAsync(await r.PostAsJsonAsync($"{tasks}/{QaTaskId}/issues/{issueId}/resolve", new { }, IdentityApp.Json));
        await OkAsync(await r.PostAsJsonAsync($"{tasks}/{QaTaskId}/issues/{issueId}/reopen", new { }, IdentityApp.Json));

        await StatusAsync(r, $"{tasks}/{QaTaskId}/items/{a2}", "APPROVED");
        await StatusAsync(r, $"{tasks}/{QaTaskId}/items/{b1}", "APPROVED");

        // Time last: the manual clock runs ahead of the real one, and no real-time event follows.
        Clock.Set(DateTimeOffset.UtcNow);
        await TimeAsync(a, TaskId, a1, "start", "a1-0");
        Clock.Advance(TimeSpan.FromSeconds(30));
        await TimeAsync(a, TaskId, a1, "heartbeat", "a1-1");
        await TimeAsync(a, TaskId, a1, "heartbeat", "a1-1");
        Clock.Advance(TimeSpan.FromSeconds(40));
        await TimeAsync(a, TaskId, a1, "heartbeat", "a1-2");
        Clock.Advance(TimeSpan.FromSeconds(200));
        await TimeAsync(a, TaskId, a1, "heartbeat", "a1-3");
        Clock.Advance(TimeSpan.FromSeconds(10));
        await TimeAsync(a, TaskId, a1, "stop", "a1-4");
        await TimeAsync(a, TaskId, a2, "start", "a2-0");
        Clock.Advance(TimeSpan.FromSeconds(20));
        await TimeAsync(a, TaskId, a2, "stop", "a2-1");
        await TimeAsync(r, QaTaskId, a2, "start", "r-0");
        Clock.Advance(TimeSpan.FromSeconds(15));
        await TimeAsync(r, QaTaskId, a2, "heartbeat", "r-1");
        Clock.Advance(TimeSpan.FromSeconds(5));
        await TimeAsync(r, QaTaskId, a2, "stop", "r-2");
    }

    public async Task<TimeRecorded> TimeAsync(HttpClient client, string taskId, string itemId, string report, string clientEventId)
    {
        using var response = await client.PostAsJsonAsync($"/api/projects/{ProjectId}/time", new { taskId, itemId, @event = report, clientEventId }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<TimeRecorded>(IdentityApp.Json))!;
    }

    private async Task<TestUser> CreateUserAsync(string name)
    {
        using var client = Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", IdentityApp.AdminKey);
        using var response = await client.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name, email = $"{name}@example.com", orgRole = "Member" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedUser>(IdentityApp.Json))!;
        return new TestUser(created.User.Id, created.ApiKey.Key, IdentityBootstrap.DefaultOrganizationId);
    }

    private static async Task<List<string>> AnnotateAsync(HttpClient client, string item, params string[] labels)
    {
        using var response = await client.PostAsJsonAsync($"{item}/annotations", new { annotations = labels.Select(l => new { label = l }) }, IdentityApp.Json);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.GetRawText());
        return [.. body.GetProperty("annotations").EnumerateArray().Select(x => x.GetProperty("id").GetString()!)];
    }

    private static async Task StatusAsync(HttpClient client, string item, string status) =>
        await OkAsync(await client.PutAsJsonAsync($"{item}/status", new { status }, IdentityApp.Json));

    private static async Task OkAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<string> IdAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.IsSuccessStatusCode, body.GetRawText());
            return body.GetProperty("id").GetString()!;
        }
    }

    private static async Task<string> TaskIdAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, body.GetRawText());
            return body.GetProperty("task").GetProperty("id").GetString()!;
        }
    }

    private static async Task WaitAsync(HttpClient client, string url, Func<TaskWithProgress, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var task = (await client.GetFromJsonAsync<TaskWithProgress>(url, IdentityApp.Json))!;
            if (done(task))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{url} did not reach the expected state in 60 s: {JsonSerializer.Serialize(task, IdentityApp.Json)}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }

        _gate.Dispose();
    }
}
