using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Serverless.Browser.Tests;

/// <summary>
/// The dashboard page in headless Chromium against the seeded platform: sign in with an API key, pick the
/// project, and read every widget. Expected figures come from the seed and from the platform's own API answers,
/// so the page is checked against the platform, not against itself. Screenshots land in
/// <c>artifacts/test-results/screenshots/</c>.
/// </summary>
[Collection(BrowserCollectionDefinition.Name)]
public sealed class DashboardPageTests(SeededPlatform platform) : IAsyncLifetime
{
    /// <summary>Generous: the machine may be loaded; waits end as soon as the page is ready.</summary>
    private const float WaitMs = 30_000;

    private readonly List<string> _problems = [];
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    private Seed Seed => platform.Seeded;

    public async Task InitializeAsync()
    {
        SetDefaultExpectTimeout(WaitMs);
        _context = await platform.Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        _context.SetDefaultTimeout(WaitMs);
        _page = await _context.NewPageAsync();

        // Uncaught script errors and policy violations fail the test; 404s of missing routes are expected noise.
        _page.PageError += (_, error) => _problems.Add($"page error: {error}");
        _page.Console += (_, message) =>
        {
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                _problems.Add($"console error: {message.Text}");
            }
        };
    }

    public async Task DisposeAsync() => await _context.DisposeAsync();

    [Fact]
    public async Task Dashboard_OwnerSignsInAndPicksProject_WidgetsShowSeededNumbersAndUpdateLive()
    {
        // Arrange: what the platform itself says, to compare the page with.
        using var api = platform.Client(Seed.Owner.Key);
        var p = $"/api/projects/{Seed.ProjectId}";
        var dashboard = await api.GetFromJsonAsync<JsonElement>($"{p}/dashboard");
        var tasks = new Dictionary<string, JsonElement>();
        foreach (var id in new[] { Seed.LabelCarsTaskId, Seed.ReviewCarsTaskId, Seed.LabelBikesTaskId })
        {
            tasks[id] = await api.GetFromJsonAsync<JsonElement>($"{p}/tasks/{id}");
        }

        var optional = new Dictionary<string, HttpStatusCode>();
        foreach (var (widget, route) in new[] { ("throughput", "analytics/throughput"), ("rejection", "analytics/labels"), ("collaborators", "analytics/collaborators"), ("exports", "exports") })
        {
            using var probe = await api.GetAsync(new Uri($"{p}/{route}", UriKind.Relative));
            optional[widget] = probe.StatusCode;
        }

        // Act
        await SignInAndPickProjectAsync(Seed.Owner.Key, refreshSeconds: 1);

        // Assert: counters.
        await Expect(TestId("count-datasets")).ToHaveTextAsync("2");
        await Expect(TestId("count-items")).ToHaveTextAsync("6");
        await Expect(TestId("count-members")).ToHaveTextAsync("5");
        await Expect(TestId("count-tasks")).ToHaveTextAsync("3");
        foreach (var (role, count) in new[] { ("Owner", "1"), ("Developer", "1"), ("AnnotationManager", "0"), ("Annotator", "2"), ("Reviewer", "1") })
        {
            await Expect(_page.Locator($"[data-testid='members-{role}'] td[data-col='count']")).ToHaveTextAsync(count);
        }

        var annotations = dashboard.GetProperty("annotations");
        await Expect(TestId("count-annotations")).ToHaveTextAsync(
            annotations.GetProperty("status").GetString() == "available" ? annotations.GetProperty("count").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture) : "not available");

        // Tasks: progress bars and due dates, as the task routes report them.
        await Expect(_page.Locator("[data-testid='task-row']")).ToHaveCountAsync(3);
        foreach (var (id, task) in tasks)
        {
            var row = _page.Locator($"[data-testid='task-row'][data-task-id='{id}']");
            var progress = task.GetProperty("progress");
            await Expect(row.Locator(".progress-text")).ToHaveTextAsync($"{progress.GetProperty("done").GetInt64()} / {progress.GetProperty("total").GetInt64()}");
            await Expect(row.Locator("progress")).ToHaveAttributeAsync("value", progress.GetProperty("done").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var cars = _page.Locator($"[data-testid='task-row'][data-task-id='{Seed.LabelCarsTaskId}']");
        await Expect(cars.Locator(".progress-text")).ToHaveTextAsync("2 / 4");
        await Expect(cars.Locator("td[data-col='due']")).ToHaveTextAsync("2030-01-31");
        var bikes = _page.Locator($"[data-testid='task-row'][data-task-id='{Seed.LabelBikesTaskId}']");
        await Expect(bikes.Locator(".progress-text")).ToHaveTextAsync("0 / 2");
        await Expect(bikes.Locator("td[data-col='due']")).ToHaveTextAsync("2026-01-01 (overdue)");
        await Expect(_page.Locator($"[data-testid='task-row'][data-task-id='{Seed.ReviewCarsTaskId}'] .progress-text")).ToHaveTextAsync("1 / 3");

        // Open tasks per dataset: every task is still open; two of them are over Cars.
        await Expect(_page.Locator($"[data-dataset-id='{Seed.CarsDatasetId}'] td[data-col='open']")).ToHaveTextAsync(OpenTasks(dashboard, tasks, Seed.CarsDatasetId, expectedWhenCounted: 2));
        await Expect(_page.Locator($"[data-dataset-id='{Seed.BikesDatasetId}'] td[data-col='open']")).ToHaveTextAsync(OpenTasks(dashboard, tasks, Seed.BikesDatasetId, expectedWhenCounted: 1));
        await Expect(_page.Locator($"[data-dataset-id='{Seed.CarsDatasetId}'] td[data-col='items']")).ToHaveTextAsync("4");

        // Labeling status: summed from the tasks' progress until the dashboard computes it.
        if (dashboard.GetProperty("labelingStatus").GetProperty("status").GetString() != "available")
        {
            await Expect(_page.Locator("[data-testid='status-COMPLETED'] td[data-col='items']")).ToHaveTextAsync("2");
            await Expect(_page.Locator("[data-testid='status-No status yet'] td[data-col='items']")).ToHaveTextAsync("4");
            await Expect(_page.Locator("[data-testid='status-APPROVED'] td[data-col='items']")).ToHaveTextAsync("1");
            await Expect(_page.Locator("[data-testid='status-Not reviewed'] td[data-col='items']")).ToHaveTextAsync("2");
        }

        await Expect(_page.Locator("[data-testid='widget-labeling-status'] .chart canvas")).ToBeVisibleAsync();

        // Open issues, and the issue loop among running orchestrations.
        await Expect(TestId("open-issues-count")).ToHaveTextAsync("1");
        await Expect(_page.Locator("[data-testid='issue-row'] td[data-col='comment']")).ToHaveTextAsync("Box misses the mirror");
        var loop = _page.Locator($"[data-testid='orchestration-row'][data-instance-id='{Seed.IssueLoopInstanceId}']");
        await Expect(loop.Locator("td[data-col='status']")).ToHaveTextAsync("Running");
        await Expect(loop.Locator("td[data-col='kind']")).ToHaveTextAsync("issue");

        // Widgets of routes this platform lacks say so; those it has render without error.
        foreach (var (widget, status) in optional)
        {
            var section = _page.Locator($"[data-testid='widget-{widget}']");
            if (status == HttpStatusCode.NotFound)
            {
                await Expect(section.Locator("[data-testid='not-available']")).ToBeVisibleAsync();
            }
            else
            {
                await Expect(section.Locator("[data-testid='widget-error'], [data-testid='not-available']")).ToHaveCountAsync(0);
            }
        }

        await _page.ScreenshotAsync(new() { Path = Path.Combine(SeededPlatform.ScreenshotFolder, "dashboard-seeded.png"), FullPage = true });

        // Live: an item added through the API shows up without reloading the page.
        await _page.EvaluateAsync("() => { window.__sameDocument = true; }");
        var refreshesBefore = int.Parse(await TestId("last-updated").GetAttributeAsync("data-refreshes") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        using (var added = await api.PostAsJsonAsync($"{p}/datasets/{Seed.BikesDatasetId}/items/bulk", new { items = new[] { new { path = "/bikes/live.json", content = new { live = true } } } }))
        {
            Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        }

        await Expect(TestId("count-items")).ToHaveTextAsync("7");
        await Expect(_page.Locator($"[data-dataset-id='{Seed.BikesDatasetId}'] td[data-col='items']")).ToHaveTextAsync("3");
        Assert.True(await _page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page must update in place, not reload");
        var refreshesAfter = int.Parse(await TestId("last-updated").GetAttributeAsync("data-refreshes") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(refreshesAfter > refreshesBefore, $"'last updated' must move on ({refreshesBefore} -> {refreshesAfter})");
        await _page.ScreenshotAsync(new() { Path = Path.Combine(SeededPlatform.ScreenshotFolder, "dashboard-live-update.png"), FullPage = true });
        await AssertNoStrayValuesAsync();
        Assert.Empty(_problems);
    }

    [Fact]
    public async Task Dashboard_AnalyticsAndExportsAnswerContractShapes_WidgetsRenderThem()
    {
        // Arrange: the session-3 contract shapes of routes other work adds, answered by the browser itself.
        const string signedUrl = "http://127.0.0.1:9/exports/e-done.json?sig=abc";
        await _page.RouteAsync("**/api/projects/*/analytics/**", route => route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = AnalyticsBody(new Uri(route.Request.Url).AbsolutePath) }));
        await _page.RouteAsync("**/api/projects/*/exports**", route => route.FulfillAsync(new()
        {
            Status = 200,
            ContentType = "application/json",
            Body = new Uri(route.Request.Url).AbsolutePath.EndsWith("/download", StringComparison.Ordinal)
                ? JsonSerializer.Serialize(new { url = signedUrl, expiresAt = DateTimeOffset.UtcNow.AddHours(1) })
                : JsonSerializer.Serialize(new
                {
                    items = new object[]
                    {
                        new { id = "e-done", name = "cars v1", format = "coco", state = "done", progress = new { itemsDone = 4, itemsTotal = 4 }, sizeBytes = 2048, createdAt = "2026-11-24T10:00:00Z", createdBy = "u", instanceId = "x" },
                        new { id = "e-run", name = "cars v2", format = "json", state = "running", progress = new { itemsDone = 5, itemsTotal = 10 }, sizeBytes = 0, createdAt = "2026-11-25T10:00:00Z", createdBy = "u", instanceId = "y" },
                    },
                    continuationToken = (string?)null,
                }),
        }));

        // Act
        await SignInAndPickProjectAsync(Seed.Owner.Key, refreshSeconds: 5);

        // Assert
        await Expect(TestId("throughput-total")).ToHaveTextAsync("12 submitted over 2 day(s).");
        await Expect(_page.Locator("[data-testid='widget-throughput'] .chart canvas")).ToBeVisibleAsync();
        var car = _page.Locator("[data-testid='label-row'][data-label='car']");
        await Expect(car.Locator("td[data-col='rate']")).ToHaveTextAsync("25.0%");
        await Expect(car.Locator("td[data-col='rejected']")).ToHaveTextAsync("2");
        await Expect(_page.Locator("[data-testid='annotator-row'][data-user-id='u-ann'] td[data-col='submitted']")).ToHaveTextAsync("9");
        await Expect(_page.Locator("[data-testid='reviewer-row'][data-user-id='u-rev'] td[data-col='issues']")).ToHaveTextAsync("1");
        await Expect(TestId("summary-submitted")).ToHaveTextAsync("12");
        await Expect(TestId("issues-open-now")).ToHaveTextAsync("1");
        await Expect(_page.Locator("[data-testid='export-row'][data-export-id='e-done'] [data-testid='export-download']")).ToHaveAttributeAsync("href", signedUrl);
        await Expect(_page.Locator("[data-testid='export-row'][data-export-id='e-run'] td[data-col='download']")).ToHaveTextAsync("not ready");
        await Expect(_page.Locator("[data-testid='running-export-row'][data-export-id='e-run'] .progress-text")).ToHaveTextAsync("5 / 10");
        await Expect(_page.Locator("[data-testid='not-available']")).ToHaveCountAsync(0);
        await _page.ScreenshotAsync(new() { Path = Path.Combine(SeededPlatform.ScreenshotFolder, "dashboard-contract-widgets.png"), FullPage = true });
        await AssertNoStrayValuesAsync();
        Assert.Empty(_problems);
    }

    [Fact]
    public async Task SignIn_UnknownKey_SaysSoAndShowsNoWidgets()
    {
        // Arrange
        await _page.GotoAsync(platform.Address.ToString());

        // Act
        await _page.FillAsync("#api-key", "not-a-key-of-this-platform");
        await _page.ClickAsync("[data-testid='sign-in-button']");

        // Assert
        await Expect(TestId("message")).ToContainTextAsync("unknown or has been revoked");
        await Expect(TestId("widgets")).ToBeHiddenAsync();
        await Expect(TestId("session")).ToBeHiddenAsync();
        Assert.Null(await _page.EvaluateAsync<string?>("() => sessionStorage.getItem('dashboard.apiKey')"));
    }

    private ILocator TestId(string id) => _page.Locator($"[data-testid='{id}']");

    /// <summary>No JavaScript placeholder leaks into what the user reads.</summary>
    private async Task AssertNoStrayValuesAsync()
    {
        var text = await _page.Locator("main").InnerTextAsync();
        foreach (var stray in new[] { "null", "undefined", "NaN", "[object Object]" })
        {
            Assert.DoesNotContain(stray, text, StringComparison.Ordinal);
        }
    }

    private async Task SignInAndPickProjectAsync(string key, int refreshSeconds)
    {
        var response = await _page.GotoAsync(new Uri(platform.Address, $"/?refresh={refreshSeconds}").ToString());
        Assert.Equal(200, response?.Status);
        await _page.FillAsync("#api-key", key);
        await _page.ClickAsync("[data-testid='sign-in-button']");
        await _page.WaitForSelectorAsync($"#project option[value='{Seed.ProjectId}']", new() { State = WaitForSelectorState.Attached });
        await _page.SelectOptionAsync("#project", Seed.ProjectId);
        await _page.WaitForSelectorAsync("#last-updated[data-refreshes]", new() { State = WaitForSelectorState.Attached });
    }

    /// <summary>The dashboard's figure when it computes open tasks; otherwise the page counts them from the tasks.</summary>
    private static string OpenTasks(JsonElement dashboard, Dictionary<string, JsonElement> tasks, string datasetId, int expectedWhenCounted)
    {
        var row = dashboard.GetProperty("perDataset").EnumerateArray().Single(d => d.GetProperty("datasetId").GetString() == datasetId);
        var open = row.GetProperty("openTasks");
        if (open.GetProperty("status").GetString() == "available")
        {
            return open.GetProperty("count").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var counted = tasks.Values.Count(t => t.GetProperty("task").GetProperty("datasetId").GetString() == datasetId && t.GetProperty("task").GetProperty("state").GetString() != "completed");
        Assert.Equal(expectedWhenCounted, counted);
        return counted.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string AnalyticsBody(string path) => path[(path.LastIndexOf('/') + 1)..] switch
    {
        "summary" => JsonSerializer.Serialize(new { submitted = 12, skipped = 1, approved = 8, rejected = 2, discarded = 0, labelsCreated = 20, labelsEdited = 3, labelsDeleted = 1, issuesOpen = 1, timeSpentMs = 3_600_000 }),
        "throughput" => JsonSerializer.Serialize(new { rows = new[] { new { day = "2026-11-24", submitted = 5, approved = 3, rejected = 1, labelsCreated = 8 }, new { day = "2026-11-25", submitted = 7, approved = 5, rejected = 1, labelsCreated = 12 } } }),
        "labels" => JsonSerializer.Serialize(new { rows = new[] { new { label = "car", created = 20, approved = 6, rejected = 2, rejectionRate = 0.25 } } }),
        "collaborators" => JsonSerializer.Serialize(new
        {
            annotators = new[] { new { userId = "u-ann", submitted = 9, skipped = 1, approved = 6, rejected = 2, taskRejectionRate = 0.25, labelsCreated = 15, labelsEdited = 2, labelsDeleted = 1, labelsApproved = 12, labelsRejected = 3, labelRejectionRate = 0.2, timeSpentMs = 1_800_000, avgTimePerItemMs = 200_000, issuesAgainst = 1 } },
            reviewers = new[] { new { userId = "u-rev", approved = 8, rejected = 2, labelsApproved = 14, labelsRejected = 3, labelsCreated = 0, labelsEdited = 1, labelsDeleted = 0, reviewTimeMs = 600_000, avgTimePerItemMs = 60_000, avgTimePerLabelMs = 30_000, issuesRaised = 1 } },
        }),
        "issues" => JsonSerializer.Serialize(new { openNow = 1, rows = new[] { new { day = "2026-11-25", created = 1, resolved = 0, reopened = 0 } }, byTag = new[] { new { tag = "geometry", open = 1, total = 1 } }, byLabel = new[] { new { label = "car", open = 1, total = 1 } } }),
        _ => "{}",
    };
}
