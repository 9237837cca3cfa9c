using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>Tasks through HTTP on SQLite and Azurite: the split orchestration, progress, statuses, queue, skip, authorization.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class TaskTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);
    private readonly TaskHarness _h = new(shared);

    [Fact]
    public async Task Create_250ItemsTwoAnnotators_SplitEquallyAndOpened()
    {
        // Arrange
        var w = await WorldAsync("split", 250);

        // Act
        var (task, created) = await CreateTaskAsync(w, new { name = "label", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        var opened = await WaitOpenAsync(w, task);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, created);
        Assert.Equal(250, opened.Progress.Total);
        Assert.Equal(125, opened.Progress.ByAssignee[w.A.Id].Total);
        Assert.Equal(125, opened.Progress.ByAssignee[w.B.Id].Total);
        Assert.Equal(["COMPLETED", "DISCARDED"], opened.Task.Actions.Select(a => a.Name));
    }

    [Fact]
    public async Task Create_2500ItemsThreeAnnotators_PagesOfOneActivityDealtByPosition()
    {
        // Arrange: three pages of 1,000 read by one split activity; with three assignees a page that dealt from its
        // own first position instead of the split's would end at 835/833/832 instead of 834/833/833.
        var w = await WorldAsync("split-pages", 2500);
        var c = await _app.CreateUserAsync("split-pages-c");
        await _app.AddMemberAsync(w.Scene, c, ProjectRole.Annotator);

        // Act
        var (task, _) = await CreateTaskAsync(w, new { name = "pages", datasetId = w.Scene.DatasetId, assignees = new[] { w.A.Id, w.B.Id, c.Id }.Select(userId => new { userId }) });
        var opened = await WaitOpenAsync(w, task);

        // Assert
        Assert.Equal(2500, opened.Progress.Total);
        Assert.Equal([834, 833, 833], new[] { w.A.Id, w.B.Id, c.Id }.Select(u => opened.Progress.ByAssignee[u].Total));
    }

    [Fact]
    public async Task Create_TwelveAssignees_EveryCounterMovesInOneBatch()
    {
        // Arrange: more assignees than one patch holds operations (10).
        var w = await WorldAsync("twelve", 120);
        var users = new List<string> { w.A.Id, w.B.Id };
        for (var i = 0; i < 10; i++)
        {
            var user = await _app.CreateUserAsync($"twelve-{i}");
            await _app.AddMemberAsync(w.Scene, user, ProjectRole.Annotator);
            users.Add(user.Id);
        }

        // Act
        var (task, _) = await CreateTaskAsync(w, new { name = "many", datasetId = w.Scene.DatasetId, assignees = users.Select(userId => new { userId }) });
        var opened = await WaitOpenAsync(w, task);

        // Assert
        Assert.Equal("open", opened.Task.State);
        Assert.Equal(120, opened.Progress.Total);
        Assert.All(users, u => Assert.Equal(10, opened.Progress.ByAssignee[u].Total));
    }

    [Fact]
    public async Task Create_WithFilterAndShares_OnlyMatchingItemsDealtBySharesAndStatusUrlWorks()
    {
        // Arrange
        var w = await WorldAsync("filter", 120);
        using var owner = _app.Client(w.Scene.Owner.Key);

        // Act: the filter keeps the 60 items under /even.
        using var response = await owner.PostAsJsonAsync($"/api/projects/{w.Scene.ProjectId}/tasks", new
        {
            name = "weighted",
            datasetId = w.Scene.DatasetId,
            filter = new { dir = "/even" },
            assignees = new[] { new { userId = w.A.Id, share = 70 }, new { userId = w.B.Id, share = 30 } },
            actions = new[] { new { name = "needs_fix", displayName = "Needs fix" } },
        }, IdentityApp.Json);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var task = body.GetProperty("task").GetProperty("id").GetString()!;
        var opened = await WaitOpenAsync(w, task);
        var location = response.Headers.Location!.ToString();
        var status = await owner.GetFromJsonAsync<JsonElement>(location);

        // Assert
        Assert.Equal(60, opened.Progress.Total);
        Assert.Equal(42, opened.Progress.ByAssignee[w.A.Id].Total);
        Assert.Equal(18, opened.Progress.ByAssignee[w.B.Id].Total);
        Assert.Contains(opened.Task.Actions, a => a.Name == "NEEDS_FIX" && a.DisplayName == "Needs fix");
        Assert.EndsWith($"/api/projects/{w.Scene.ProjectId}/orchestrations/{w.Scene.ProjectId}.split.{task}", location, StringComparison.Ordinal);
        Assert.Contains(task, status.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_AnnotatorOnOwnAndOthersItem_OwnCountsOnceOthers403ConflictingStatus409()
    {
        // Arrange
        var w = await WorldAsync("status", 10);
        var (task, _) = await CreateTaskAsync(w, new { name = "s", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        await WaitOpenAsync(w, task);
        using var a = _app.Client(w.A.Key);
        var mine = (await a.GetFromJsonAsync<Page<TaskItem>>($"{Tasks(w)}/{task}/items", IdentityApp.Json))!;
        using var forOthers = await a.GetAsync($"{Tasks(w)}/{task}/items?assignee={w.B.Id}");
        using var bClient = _app.Client(w.B.Key);
        var theirs = (await bClient.GetFromJsonAsync<Page<TaskItem>>($"{Tasks(w)}/{task}/items", IdentityApp.Json))!;
        var item = mine.Items[0].ItemId;

        // Act
        using var first = await SetAsync(a, w, task, item, "completed");
        using var twice = await SetAsync(a, w, task, item, "COMPLETED");
        using var other = await SetAsync(a, w, task, item, "DISCARDED");
        using var unknown = await SetAsync(a, w, task, item, "APPROVED");
        using var notMine = await SetAsync(a, w, task, theirs.Items[0].ItemId, "COMPLETED");
        var progress = await GetTaskAsync(w, task);
        var filtered = await QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = "COMPLETED" } });

        // Assert
        Assert.Equal(5, mine.Items.Count);
        Assert.All(mine.Items, i => Assert.Equal(w.A.Id, i.Assignee));
        Assert.Equal(HttpStatusCode.Forbidden, forOthers.StatusCode);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, twice.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, notMine.StatusCode);
        Assert.Equal(1, progress.Progress.Done);
        Assert.Equal(1, progress.Progress.ByStatus["COMPLETED"]);
        Assert.Equal(1, progress.Progress.ByAssignee[w.A.Id].Done);
        Assert.Equal([item], filtered);
    }

    [Fact]
    public async Task Status_TwoWritersRaceOnOneItem_OneStatusWinsCountsStayExact()
    {
        // Arrange
        var w = await WorldAsync("race", 4);
        var (task, _) = await CreateTaskAsync(w, new { name = "r", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        await WaitOpenAsync(w, task);
        using var owner = _app.Client(w.Scene.Owner.Key);
        var item = (await owner.GetFromJsonAsync<Page<TaskItem>>($"{Tasks(w)}/{task}/items", IdentityApp.Json))!.Items[0].ItemId;

        // Act: 10 COMPLETED and 10 DISCARDED at once.
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => SetAsync(owner, w, task, item, i % 2 == 0 ? "COMPLETED" : "DISCARDED")));
        var progress = await GetTaskAsync(w, task);
        var final = (await owner.GetFromJsonAsync<Page<TaskItem>>($"{Tasks(w)}/{task}/items", IdentityApp.Json))!.Items.Single(i => i.ItemId == item).Status;

        // Assert: the winner's submits are 200, the loser's 409; exactly one status counted.
        Assert.All(responses, r => Assert.Equal(r.StatusCode == HttpStatusCode.OK ? HttpStatusCode.OK : HttpStatusCode.Conflict, r.StatusCode));
        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(1, progress.Progress.Done);
        Assert.Equal(1, progress.Progress.ByStatus[final!]);
        Assert.Equal(0, progress.Progress.ByStatus.GetValueOrDefault(final == "COMPLETED" ? "DISCARDED" : "COMPLETED"));
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task AllItemsDone_TaskCompletes_ClearingReopensIt()
    {
        // Arrange
        var w = await WorldAsync("complete", 5);
        using var owner = _app.Client(w.Scene.Owner.Key);
        var some = (await QueryItemsAsync(w, new { pageSize = 3 })).ToList();
        var (task, _) = await CreateTaskAsync(w, new { name = "c", datasetId = w.Scene.DatasetId, itemIds = some, assignees = new[] { new { userId = w.A.Id } } });
        await WaitOpenAsync(w, task);
        using var a = _app.Client(w.A.Key);

        // Act
        foreach (var item in some)
        {
            using var set = await SetAsync(a, w, task, item, "COMPLETED");
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        }

        var completed = await GetTaskAsync(w, task);
        using var clear = await SetAsync(a, w, task, some[0], null);
        var reopened = await GetTaskAsync(w, task);

        // Assert
        Assert.Equal(3, completed.Progress.Total);
        Assert.Equal("completed", completed.Task.State);
        Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
        Assert.Equal("open", reopened.Task.State);
        Assert.Equal(2, reopened.Progress.Done);
    }

    [Fact]
    public async Task NextAndSkip_SkippedItemGoesToPoolAndAnotherAssigneeClaimsIt()
    {
        // Arrange
        var w = await WorldAsync("queue", 2);
        var (task, _) = await CreateTaskAsync(w, new { name = "q", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        await WaitOpenAsync(w, task);
        using var a = _app.Client(w.A.Key);
        using var b = _app.Client(w.B.Key);

        // Act
        var aNext = (await (await a.PostAsync($"{Tasks(w)}/{task}/next", null)).Content.ReadFromJsonAsync<TaskItem>(IdentityApp.Json))!;
        using var skip = await a.PostAsync($"{Tasks(w)}/{task}/items/{aNext.ItemId}/skip", null);
        using var aAfter = await a.PostAsync($"{Tasks(w)}/{task}/next", null);
        var bOwn = (await (await b.PostAsync($"{Tasks(w)}/{task}/next", null)).Content.ReadFromJsonAsync<TaskItem>(IdentityApp.Json))!;
        using (var done = await SetAsync(b, w, task, bOwn.ItemId, "COMPLETED"))
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }

        var bClaim = (await (await b.PostAsync($"{Tasks(w)}/{task}/next", null)).Content.ReadFromJsonAsync<TaskItem>(IdentityApp.Json))!;
        var progress = await GetTaskAsync(w, task);

        // Assert
        Assert.Equal(w.A.Id, aNext.Assignee);
        Assert.Equal(HttpStatusCode.OK, skip.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, aAfter.StatusCode);
        Assert.Equal(aNext.ItemId, bClaim.ItemId);
        Assert.Equal(w.B.Id, bClaim.Assignee);
        Assert.Equal(1, bClaim.Skipped);
        Assert.Equal(0, progress.Progress.ByAssignee[w.A.Id].Total);
        Assert.Equal(2, progress.Progress.ByAssignee[w.B.Id].Total);
    }

    [Fact]
    public async Task Create_BadRequests_400NamingTheField()
    {
        // Arrange
        var w = await WorldAsync("bad", 1);
        using var owner = _app.Client(w.Scene.Owner.Key);
        var outsider = await _app.CreateUserAsync("task-outsider");
        object[] bodies =
        [
            new { name = "x", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id, share = 60 }, new { userId = w.B.Id, share = 30 } } },
            new { name = "x", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = outsider.Id } } },
            new { name = "x", datasetId = w.Scene.DatasetId, filter = new { nope = 1 }, assignees = new[] { new { userId = w.A.Id } } },
            new { name = "x", datasetId = "d_missing", assignees = new[] { new { userId = w.A.Id } } },
            new { name = "x", datasetId = w.Scene.DatasetId, priority = "urgent", assignees = new[] { new { userId = w.A.Id } } },
        ];
        string[] fields = ["assignees", "assignees", "/filter/nope", "datasetId", "priority"];

        // Act
        var problems = new List<(HttpStatusCode, string)>();
        foreach (var body in bodies)
        {
            using var response = await owner.PostAsJsonAsync(Tasks(w), body, IdentityApp.Json);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            problems.Add((response.StatusCode, json.GetProperty("errors").EnumerateObject().First().Name));
        }

        // Assert
        Assert.All(problems, p => Assert.Equal(HttpStatusCode.BadRequest, p.Item1));
        Assert.Equal(fields, problems.Select(p => p.Item2));
    }

    [Theory]
    [InlineData(70, 30)]
    [InlineData(50, 50)]
    [InlineData(1, 99)]
    public void AssigneeFor_Shares_EveryHundredItemsMatchThePercentages(int first, int second)
    {
        TaskAssignee[] assignees = [new("u_a", first), new("u_b", second)];
        var dealt = Enumerable.Range(0, 300).Select(i => TaskSplitOrchestrator.AssigneeFor(i, assignees)).ToList();
        Assert.Equal(first * 3, dealt.Count(u => u == "u_a"));
        Assert.Equal(first, dealt.Take(100).Count(u => u == "u_a"));
    }

    [Theory]
    [InlineData(70, 30)]
    [InlineData(0, 0)]
    public void Dealer_ManyPositions_DealsLikeAssigneeFor(int first, int second)
    {
        TaskAssignee[] assignees = [new("u_a", first), new("u_b", second), new("u_c", 100 - first - second)];
        var dealer = TaskSplitOrchestrator.Dealer(assignees);
        Assert.All(Enumerable.Range(0, 250), i => Assert.Equal(TaskSplitOrchestrator.AssigneeFor(i, assignees), dealer(i)));
    }

    [Fact]
    public async Task SplitTaskPage_PageRunAgainAfterACrash_AddsNothingAndKeepsAssigneesAndCounters()
    {
        // Arrange: a split done; then its first page runs again, as a redelivered activity would, with other assignees.
        var w = await WorldAsync("split-retry", 30);
        var (task, _) = await CreateTaskAsync(w, new { name = "label", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        var before = await WaitOpenAsync(w, task);
        var services = _app.Factory.Services;
        var activity = new SplitTaskPage(services.GetRequiredService<ItemStore>(), services.GetRequiredService<TaskStore>());

        // Act
        var again = await activity.RunAsync(new TaskActivityContext(nameof(SplitTaskPage), "i", "e", 1),
            new SplitTaskPageRequest(task, w.Scene.DatasetId, null, null, null, 20, 0, [new TaskAssignee(w.B.Id, 0)]));

        // Assert
        var after = await GetTaskAsync(w, task);
        Assert.Equal(20, again.Seen);
        Assert.Equal(0, again.Added);
        Assert.NotNull(again.NextToken);
        Assert.Equal(30, after.Progress.Total);
        Assert.Equal(before.Progress.ByAssignee[w.A.Id].Total, after.Progress.ByAssignee[w.A.Id].Total);
        Assert.Equal(15, after.Progress.ByAssignee[w.A.Id].Total);
    }

    private static string Tasks(World w) => TaskHarness.Tasks(w);

    private Task<World> WorldAsync(string name, int items) => _h.WorldAsync(name, items);

    private Task<(string TaskId, HttpStatusCode Status)> CreateTaskAsync(World w, object body) => _h.CreateTaskAsync(w, body);

    private Task<TaskWithProgress> WaitOpenAsync(World w, string taskId) => _h.WaitOpenAsync(w, taskId);

    private Task<TaskWithProgress> GetTaskAsync(World w, string taskId) => _h.GetTaskAsync(w, taskId);

    private Task<List<string>> QueryItemsAsync(World w, object query) => _h.QueryItemsAsync(w, query);

    private static Task<HttpResponseMessage> SetAsync(HttpClient client, World w, string task, string item, string? status) => TaskHarness.SetAsync(client, w, task, item, status);
}
