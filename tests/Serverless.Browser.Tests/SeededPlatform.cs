using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Serverless.Testing;

namespace Serverless.Browser.Tests;

/// <summary>
/// Azurite, the platform on a real socket, a project seeded through the public HTTP API, and headless Chromium
/// (the Debian package, driven by Playwright without any browser download).
/// </summary>
/// <remarks>
/// The seed: an owner, a developer, two annotators and a reviewer; datasets "Cars" (4 items) and "Bikes"
/// (2 items); task "Label cars" split between the annotators with 3 items completed, its QA task "Review cars"
/// where the reviewer approves one item and opens an issue on another (which sends that item back, so
/// "Label cars" ends at 2 of 4 and the issue loop orchestration keeps running); task "Label bikes", overdue, 0 of 2.
/// </remarks>
public sealed class SeededPlatform : IAsyncLifetime
{
    public const string AdminKey = "browser-test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz";

    /// <summary>Where Debian installs Chromium; <c>CHROMIUM_PATH</c> overrides it.</summary>
    public static readonly string ChromiumPath = Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly TimeSpan SeedTimeout = TimeSpan.FromSeconds(60);

    private readonly AzuriteFixture _azurite = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"browser-{Guid.NewGuid():N}");
    private PlatformFactory? _platform;
    private IPlaywright? _playwright;

    public Uri Address => Platform.Address;

    /// <summary>The Azurite this platform stores blobs and queues in.</summary>
    public string StorageConnectionString => _azurite.ConnectionString;

    public PlatformFactory Platform => _platform ?? throw new InvalidOperationException("Not started.");

    public IBrowser Browser { get; private set; } = null!;

    public Seed Seeded { get; private set; } = null!;

    /// <summary>Screenshots go beside the test results the README's test command writes (git-ignored artifacts/).</summary>
    public static string ScreenshotFolder
    {
        get
        {
            var folder = Path.Combine(RepoPaths.Root, "artifacts", "test-results", "screenshots");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"Chromium is not installed at {ChromiumPath}: run the README's test command (it installs the Debian package 'chromium') or set CHROMIUM_PATH.");
        }

        // Chromium starts while Azurite, the platform and the seed get ready.
        var browserTask = StartBrowserAsync();
        await _azurite.InitializeAsync();
        _platform = PlatformFactory.Start(new Dictionary<string, string?>
        {
            ["DocumentStore:Provider"] = "Sqlite",
            ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
            ["Storage:ConnectionString"] = _azurite.ConnectionString,
            ["Bootstrap:AdminApiKey"] = AdminKey,
            ["Items:BlobContainer"] = AzuriteFixture.UniqueName("items"),
        });
        Seeded = await SeedAsync();
        Browser = await browserTask;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_platform is not null)
        {
            await _platform.DisposeAsync();
        }

        await _azurite.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>A client of the platform's API with <paramref name="key"/>.</summary>
    public HttpClient Client(string key)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private async Task<IBrowser> StartBrowserAsync()
    {
        _playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        return await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = 60_000,

            // Containers often run as root without a usable sandbox or a large /dev/shm.
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
    }

    private async Task<Seed> SeedAsync()
    {
        var owner = await CreateUserAsync("owner");
        var developer = await CreateUserAsync("developer");
        var annotatorA = await CreateUserAsync("annotator-a");
        var annotatorB = await CreateUserAsync("annotator-b");
        var reviewer = await CreateUserAsync("reviewer");
        using var api = Client(owner.Key);

        var projectId = await IdOfAsync(await api.PostAsJsonAsync("/api/projects", new { name = "Browser test project" }), HttpStatusCode.Created);
        var p = $"/api/projects/{projectId}";
        foreach (var (user, role) in new[] { (developer, "Developer"), (annotatorA, "Annotator"), (annotatorB, "Annotator"), (reviewer, "Reviewer") })
        {
            using var member = await api.PutAsJsonAsync($"{p}/members/{user.Id}", new { role });
            await EnsureAsync(member, HttpStatusCode.Created);
        }

        var recipeId = await IdOfAsync(await api.PostAsJsonAsync($"{p}/recipes", new { name = "vehicles", classes = new[] { new { name = "car", color = "#3366ff", shape = "classification" } } }), HttpStatusCode.Created);
        var cars = await CreateDatasetAsync(api, p, "Cars", recipeId, 4);
        var bikes = await CreateDatasetAsync(api, p, "Bikes", recipeId, 2);

        // "Label cars": split between the annotators, then three of the four items completed.
        var labelCars = await CreateTaskAsync(api, $"{p}/tasks", new { name = "Label cars", datasetId = cars, dueDate = "2030-01-31T00:00:00Z", assignees = new[] { new { userId = annotatorA.Id }, new { userId = annotatorB.Id } } });
        await WaitTaskAsync(api, $"{p}/tasks/{labelCars}", t => t.GetProperty("task").GetProperty("state").GetString() == "open");
        var aItems = await TaskItemIdsAsync(annotatorA, $"{p}/tasks/{labelCars}/items");
        var bItems = await TaskItemIdsAsync(annotatorB, $"{p}/tasks/{labelCars}/items");
        string? annotationOnIssueItem = null;
        foreach (var (user, itemId) in new[] { (annotatorA, aItems[0]), (annotatorA, aItems[1]), (annotatorB, bItems[0]) })
        {
            using var worker = Client(user.Key);
            using var annotated = await worker.PostAsJsonAsync($"{p}/datasets/{cars}/items/{itemId}/annotations", new { annotations = new[] { new { label = "car" } } });
            await EnsureAsync(annotated, HttpStatusCode.Created);
            if (itemId == aItems[0])
            {
                var body = await annotated.Content.ReadFromJsonAsync<JsonElement>();
                annotationOnIssueItem = body.GetProperty("annotations")[0].GetProperty("id").GetString();
            }

            using var done = await worker.PutAsJsonAsync($"{p}/tasks/{labelCars}/items/{itemId}/status", new { status = "COMPLETED" });
            await EnsureAsync(done, HttpStatusCode.OK);
        }

        // "Review cars": the QA task fills with the three completed items; one approved, one gets an issue.
        var reviewCars = await CreateTaskAsync(api, $"{p}/tasks/{labelCars}/qa", new { name = "Review cars", reviewers = new[] { reviewer.Id } });
        await WaitTaskAsync(api, $"{p}/tasks/{reviewCars}", t => t.GetProperty("progress").GetProperty("total").GetInt64() == 3);
        using (var reviewerApi = Client(reviewer.Key))
        {
            using var approved = await reviewerApi.PutAsJsonAsync($"{p}/tasks/{reviewCars}/items/{bItems[0]}/status", new { status = "APPROVED" });
            await EnsureAsync(approved, HttpStatusCode.OK);
            using var issue = await reviewerApi.PostAsJsonAsync($"{p}/tasks/{reviewCars}/items/{aItems[0]}/issues", new { annotationId = annotationOnIssueItem, comment = "Box misses the mirror", tag = "geometry" });
            await EnsureAsync(issue, HttpStatusCode.Created);
        }

        await WaitTaskAsync(api, $"{p}/tasks/{labelCars}", t => t.GetProperty("progress").GetProperty("done").GetInt64() == 2);

        // "Label bikes": overdue and untouched.
        var labelBikes = await CreateTaskAsync(api, $"{p}/tasks", new { name = "Label bikes", datasetId = bikes, dueDate = "2026-01-01T00:00:00Z", assignees = new[] { new { userId = annotatorA.Id } } });
        await WaitTaskAsync(api, $"{p}/tasks/{labelBikes}", t => t.GetProperty("task").GetProperty("state").GetString() == "open");

        return new Seed(owner, projectId, cars, bikes, labelCars, reviewCars, labelBikes, aItems[0], $"{projectId}.issue.{reviewCars}-{aItems[0]}");
    }

    private async Task<TestUser> CreateUserAsync(string name)
    {
        using var admin = Client(AdminKey);
        using var response = await admin.PostAsJsonAsync("/api/orgs/o_default/users", new { name, email = $"{name}@example.com", orgRole = "Member" });
        await EnsureAsync(response, HttpStatusCode.Created);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new TestUser(body.GetProperty("user").GetProperty("id").GetString()!, body.GetProperty("apiKey").GetProperty("key").GetString()!);
    }

    private static async Task<string> CreateDatasetAsync(HttpClient api, string project, string name, string recipeId, int items)
    {
        var datasetId = await IdOfAsync(await api.PostAsJsonAsync($"{project}/datasets", new { name }), HttpStatusCode.Created);
        using var recipe = await api.PutAsJsonAsync($"{project}/datasets/{datasetId}/recipe", new { recipeId });
        await EnsureAsync(recipe, HttpStatusCode.OK);
        using var bulk = await api.PostAsJsonAsync($"{project}/datasets/{datasetId}/items/bulk", new { items = Enumerable.Range(0, items).Select(i => new { path = $"/{name.ToLowerInvariant()}/{i}.json", content = new { i } }) });
        await EnsureAsync(bulk, HttpStatusCode.OK);
        return datasetId;
    }

    private static async Task<string> CreateTaskAsync(HttpClient api, string url, object body)
    {
        using var response = await api.PostAsJsonAsync(url, body);
        await EnsureAsync(response, HttpStatusCode.Accepted);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("task").GetProperty("id").GetString()!;
    }

    private async Task<string[]> TaskItemIdsAsync(TestUser user, string url)
    {
        using var client = Client(user.Key);
        var page = await client.GetFromJsonAsync<JsonElement>(url);
        return [.. page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("itemId").GetString()!).Order(StringComparer.Ordinal)];
    }

    private static async Task WaitTaskAsync(HttpClient api, string url, Func<JsonElement, bool> reached)
    {
        var deadline = DateTime.UtcNow + SeedTimeout;
        while (true)
        {
            var task = await api.GetFromJsonAsync<JsonElement>(url);
            if (reached(task))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} did not reach the expected state in {SeedTimeout.TotalSeconds:0} s: {task.GetRawText()}");
            }

            await Task.Delay(100);
        }
    }

    private static async Task<string> IdOfAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        using (response)
        {
            await EnsureAsync(response, expected);
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}, expected {(int)expected}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}

/// <summary>A user and their API key.</summary>
public sealed record TestUser(string Id, string Key);

/// <summary>The ids the seed created.</summary>
public sealed record Seed(
    TestUser Owner,
    string ProjectId,
    string CarsDatasetId,
    string BikesDatasetId,
    string LabelCarsTaskId,
    string ReviewCarsTaskId,
    string LabelBikesTaskId,
    string IssueItemId,
    string IssueLoopInstanceId);
