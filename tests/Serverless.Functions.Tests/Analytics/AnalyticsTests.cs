using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Functions.Activity;
using Serverless.Functions.Analytics;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Analytics;

/// <summary>
/// Every analytics figure over the hand-computed <see cref="AnalyticsScenario"/> (A and B annotate, R reviews), on
/// real SQLite and Azurite through HTTP; rebuild equals incremental projection; projection is idempotent.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class AnalyticsTests(AzuriteFixture azurite, AnalyticsScenario scenario) : IClassFixture<AnalyticsScenario>, IAsyncLifetime
{
    private static readonly string[] Routes = ["summary", "tasks", "throughput", "labels", "collaborators", "issues", "time"];

    public Task InitializeAsync() => scenario.EnsureAsync(azurite.ConnectionString);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Summary_WholeProject_EveryFigureAsComputedByHand()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var summary = await GetAsync<AnalyticsSummary>(owner, "summary");

        // Assert: submitted a1, a2, b1, a1 again; skipped b2; approved a2, b1; rejected the issue; discarded b2;
        // labels created 3 (A) + 2 (B) + 1 (R); edited a2's car and a1's car; deleted b1's car; one issue open; 80+20+20 s.
        Assert.Equal(new AnalyticsSummary(4, 1, 2, 1, 1, 6, 2, 1, 1, 120_000), summary);
    }

    [Fact]
    public async Task Tasks_PerTask_ApprovalsOnTheAnnotationTaskReviewWorkOnQa()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var rows = (await GetAsync<AnalyticsRows<TaskFigures>>(owner, "tasks")).Rows;

        // Assert
        Assert.Equal(2, rows.Count);
        Assert.Equal(new TaskFigures(scenario.TaskId, 4, 1, 2, 1, 1, 100_000, 5, 2, 1), rows.Single(r => r.TaskId == scenario.TaskId));
        Assert.Equal(new TaskFigures(scenario.QaTaskId, 0, 0, 0, 0, 0, 20_000, 1, 0, 0), rows.Single(r => r.TaskId == scenario.QaTaskId));
    }

    [Fact]
    public async Task Throughput_OneDay_DayTotals()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var rows = (await GetAsync<AnalyticsRows<DayFigures>>(owner, "throughput")).Rows;

        // Assert
        Assert.Equal([new DayFigures(scenario.Today, 4, 2, 1, 6)], rows);
    }

    [Fact]
    public async Task Labels_PerClass_CreatedApprovedRejectedAndRate()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var rows = (await GetAsync<AnalyticsRows<LabelFigures>>(owner, "labels")).Rows;

        // Assert: car created by A on a1 and a2 and by B on b1, approved on a2, rejected on a1; person created by
        // A on a1, B on b1 and R on a1, approved on b1.
        Assert.Equal([new LabelFigures("car", 3, 1, 1, 0.5), new LabelFigures("person", 3, 1, 0, 0)], rows);
    }

    [Fact]
    public async Task Collaborators_AnnotatorsAndReviewers_EveryColumn()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var tables = await GetAsync<CollaboratorTables>(owner, "collaborators");

        // Assert
        var expectedAnnotators = new[]
        {
            new AnnotatorFigures(scenario.A.Id, 3, 0, 1, 1, 0.5, 3, 2, 0, 1, 1, 0.5, 100_000, 50_000, 1),
            new AnnotatorFigures(scenario.B.Id, 1, 1, 1, 0, 0, 2, 0, 1, 1, 0, 0, 0, null, 0),
        }.OrderBy(a => a.UserId, StringComparer.Ordinal);
        Assert.Equal(expectedAnnotators, tables.Annotators);

        // R: approved a2 and b1 (labels car, person), rejected a1's car; created one label; 20 s over one item and 3 labels.
        Assert.Equal([new ReviewerFigures(scenario.R.Id, 2, 1, 2, 1, 1, 0, 0, 20_000, 20_000, 6_666, 1)], tables.Reviewers);
    }

    [Fact]
    public async Task Issues_CreatedResolvedReopened_OpenNowByTagAndLabel()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var issues = await GetAsync<IssueTables>(owner, "issues");

        // Assert
        Assert.Equal(1, issues.OpenNow);
        Assert.Equal([new IssueDayFigures(scenario.Today, 1, 1, 1)], issues.Rows);
        Assert.Equal([new IssueTagFigures("wrong-class", 1, 1)], issues.ByTag);
        Assert.Equal([new IssueLabelFigures("car", 1, 1)], issues.ByLabel);
    }

    [Fact]
    public async Task Time_Heartbeats_IdleGapNotCountedRepeatCountedOnce()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        var rows = (await GetAsync<AnalyticsRows<TimeFigures>>(owner, "time")).Rows;

        // Assert: A on a1 30 + 40 + 0 (200 s idle) + 10 s; a2 20 s; R 15 + 5 s.
        Assert.Equal(
            new[] { new TimeFigures(scenario.A.Id, scenario.TaskId, "annotation", 100_000, 2), new TimeFigures(scenario.R.Id, scenario.QaTaskId, "qa", 20_000, 1) }
                .OrderBy(t => t.UserId, StringComparer.Ordinal),
            rows);
    }

    [Fact]
    public async Task PostTime_SameClientEventId_DuplicateAddsNothing()
    {
        // Arrange
        using var a = scenario.Client(scenario.A);

        // Act
        var replay = await scenario.TimeAsync(a, scenario.TaskId, (await FirstItemOfAAsync()).ItemId, "heartbeat", "a1-1");
        var summary = await GetAsync<AnalyticsSummary>(a, "summary");

        // Assert
        Assert.True(replay.Duplicate);
        Assert.Equal(30_000, replay.CountedMs);
        Assert.Equal(100_000, summary.TimeSpentMs);
    }

    [Fact]
    public async Task PostTime_BadReport_400NamingFields()
    {
        // Arrange
        using var a = scenario.Client(scenario.A);

        // Act
        using var response = await a.PostAsJsonAsync($"/api/projects/{scenario.ProjectId}/time", new { taskId = scenario.TaskId, itemId = "x", @event = "pause", clientEventId = "has space" }, IdentityApp.Json);
        var body = await response.Content.ReadAsStringAsync();

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"event\"", body, StringComparison.Ordinal);
        Assert.Contains("\"clientEventId\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Summary_Annotator_OnlyOwnFiguresAndOthers403()
    {
        // Arrange
        using var a = scenario.Client(scenario.A);

        // Act
        var own = await GetAsync<AnalyticsSummary>(a, "summary");
        using var others = await a.GetAsync(new Uri($"{scenario.Analytics}/summary?actor={scenario.B.Id}", UriKind.Relative));
        var collaborators = await GetAsync<CollaboratorTables>(a, "collaborators");

        // Assert
        Assert.Equal(new AnalyticsSummary(3, 0, 1, 1, 0, 3, 2, 0, 1, 100_000), own);
        Assert.Equal(HttpStatusCode.Forbidden, others.StatusCode);
        Assert.Equal([scenario.A.Id], collaborators.Annotators.Select(x => x.UserId));
        Assert.Empty(collaborators.Reviewers);
    }

    [Fact]
    public async Task Summary_Filters_StageLabelTaskAndDates()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);
        var tomorrow = DateTime.Parse(scenario.Today, System.Globalization.CultureInfo.InvariantCulture).AddDays(1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        // Act
        var qa = await GetAsync<AnalyticsSummary>(owner, "summary", "stage=qa");
        var car = await GetAsync<AnalyticsLabelsProbe>(owner, "labels", "label=car");
        var qaTask = await GetAsync<AnalyticsSummary>(owner, "summary", $"taskId={scenario.QaTaskId}");
        var future = await GetAsync<AnalyticsSummary>(owner, "summary", $"from={tomorrow}");
        var untilToday = await GetAsync<AnalyticsSummary>(owner, "summary", $"to={scenario.Today}T23:59:00Z");
        using var badStage = await owner.GetAsync(new Uri($"{scenario.Analytics}/summary?stage=review", UriKind.Relative));

        // Assert: QA-stage work is R's label and R's time, and the open issue (counted on the QA task).
        Assert.Equal(new AnalyticsSummary(0, 0, 0, 0, 0, 1, 0, 0, 1, 20_000), qa);
        Assert.Equal(["car"], car.Rows.Select(r => r.Label));
        Assert.Equal(qa, qaTask);
        Assert.Equal(new AnalyticsSummary(0, 0, 0, 0, 0, 0, 0, 0, 1, 0), future);
        Assert.Equal(4, untilToday.Submitted);
        Assert.Equal(HttpStatusCode.BadRequest, badStage.StatusCode);
    }

    [Fact]
    public async Task Csv_CollaboratorsReviewers_Rfc4180WithHeader()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);

        // Act
        using var response = await owner.GetAsync(new Uri($"{scenario.Analytics}/collaborators?format=csv&table=reviewers", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        using var labels = await owner.GetAsync(new Uri($"{scenario.Analytics}/labels?format=csv", UriKind.Relative));
        using var badTable = await owner.GetAsync(new Uri($"{scenario.Analytics}/collaborators?format=csv&table=nobody", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            "userId,approved,rejected,labelsApproved,labelsRejected,labelsCreated,labelsEdited,labelsDeleted,reviewTimeMs,avgTimePerItemMs,avgTimePerLabelMs,issuesRaised\r\n" +
            $"{scenario.R.Id},2,1,2,1,1,0,0,20000,20000,6666,1\r\n",
            text);
        Assert.Equal("label,created,approved,rejected,rejectionRate\r\ncar,3,1,1,0.5\r\nperson,3,1,0,0\r\n", await labels.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, badTable.StatusCode);
    }

    [Fact]
    public async Task Rebuild_FromTheLog_SameFiguresAsIncremental()
    {
        // Arrange
        using var owner = scenario.Client(scenario.Owner);
        var before = await SnapshotAsync(owner);

        // Act
        using var accepted = await owner.PostAsJsonAsync($"{scenario.Analytics}/rebuild", new { }, IdentityApp.Json);
        var instanceId = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var state = await WaitOrchestrationAsync(instanceId);
        var after = await SnapshotAsync(owner);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(before, after);
        Assert.Contains("\"generation\":", state.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Projection_SameEventRecordedTwice_CountsOnce()
    {
        // Arrange: read an event already projected and record it again (same id), as a retried write would.
        using var owner = scenario.Client(scenario.Owner);
        var before = await SnapshotAsync(owner);
        var log = scenario.Factory.Services.GetRequiredService<ActivityLog>();
        var events = (await log.QueryAsync(scenario.ProjectId, new ActivityQuery(null, null, null, null, ActivityKinds.StatusSet, null), 100, null, CancellationToken.None)).Items;

        // Act
        await log.RecordAsync([.. events], CancellationToken.None);
        await scenario.Factory.Services.GetRequiredService<AnalyticsProjector>().CatchUpAsync(scenario.ProjectId, CancellationToken.None);
        var after = await SnapshotAsync(owner);

        // Assert
        Assert.NotEmpty(events);
        Assert.Equal(before, after);
    }

    private async Task<Serverless.Functions.Tasks.TaskItem> FirstItemOfAAsync()
    {
        using var a = scenario.Client(scenario.A);
        var page = (await a.GetFromJsonAsync<Serverless.Functions.Http.Page<Serverless.Functions.Tasks.TaskItem>>($"/api/projects/{scenario.ProjectId}/tasks/{scenario.TaskId}/items", IdentityApp.Json))!;
        return page.Items[0];
    }

    private async Task<T> GetAsync<T>(HttpClient client, string route, string? query = null)
    {
        using var response = await client.GetAsync(new Uri($"{scenario.Analytics}/{route}{(query is null ? "" : "?" + query)}", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonSerializer.Deserialize<T>(text, IdentityApp.Json)!;
    }

    private async Task<string> SnapshotAsync(HttpClient client)
    {
        var parts = new List<string>();
        foreach (var route in Routes)
        {
            parts.Add(await client.GetStringAsync(new Uri($"{scenario.Analytics}/{route}", UriKind.Relative)));
        }

        return string.Join('\n', parts);
    }

    private async Task<OrchestrationState> WaitOrchestrationAsync(string instanceId)
    {
        var durable = scenario.Factory.Services.GetRequiredService<DurableClient>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var state = (await durable.GetInstanceAsync(instanceId))?.State;
            if (state is { IsTerminal: true })
            {
                return state;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Rebuild {instanceId} did not end in 60 s: {state?.Status}.");
            await Task.Delay(100);
        }
    }

    private sealed record AnalyticsLabelsProbe(IReadOnlyList<LabelFigures> Rows);
}
