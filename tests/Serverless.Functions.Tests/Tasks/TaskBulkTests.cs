using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Activity;
using Serverless.Functions.Items;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Durable;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>Managing running tasks through HTTP on SQLite and Azurite: reassign, redistribute, batch status, add and remove items.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class TaskBulkTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);
    private readonly TaskHarness _h = new(shared);

    [Fact]
    public async Task Reassign_AfterTwoCompleted_OpenItemsMoveDoneStayCredited()
    {
        // Arrange
        var (w, task, c) = await TaskWithThirdAsync("reassign", 20);
        using var a = _app.Client(w.A.Key);
        var mine = await ItemsAsync(w, task, w.A.Id);
        await CompleteAsync(a, w, task, mine.Take(2));

        // Act
        var result = await RunAsync(w, $"{TaskHarness.Tasks(w)}/{task}/reassign", new { from = w.A.Id, to = c.Id });
        var after = await _h.GetTaskAsync(w, task);
        var cItems = await ItemsAsync(w, task, c.Id);

        // Assert
        Assert.Equal(8, result.GetProperty("changed").GetInt64());
        Assert.Equal(new AssigneeProgress(2, 2), after.Progress.ByAssignee[w.A.Id]);
        Assert.Equal(new AssigneeProgress(8, 0), after.Progress.ByAssignee[c.Id]);
        Assert.Equal(new AssigneeProgress(10, 0), after.Progress.ByAssignee[w.B.Id]);
        Assert.Equal(8, cItems.Count);
        Assert.Equal([w.B.Id, c.Id], after.Task.Assignees.Select(x => x.UserId));
        Assert.DoesNotContain(mine.Take(2), cItems.Contains);
    }

    [Fact]
    public async Task Redistribute_NewSet_OpenItemsDealtEquallyCountsMatchItems()
    {
        // Arrange
        var (w, task, c) = await TaskWithThirdAsync("redistribute", 30);
        using var a = _app.Client(w.A.Key);
        await CompleteAsync(a, w, task, (await ItemsAsync(w, task, w.A.Id)).Take(3));

        // Act
        var result = await RunAsync(w, $"{TaskHarness.Tasks(w)}/{task}/redistribute", new { assignees = new[] { new { userId = w.B.Id }, new { userId = c.Id } } });
        var after = await _h.GetTaskAsync(w, task);
        var all = await AllItemsAsync(w, task);

        // Assert: 27 open items, dealt 14/13 by position; A keeps only the 3 done.
        Assert.Equal(27, result.GetProperty("changed").GetInt64() + result.GetProperty("unchanged").GetInt64());
        Assert.Equal(new AssigneeProgress(3, 3), after.Progress.ByAssignee[w.A.Id]);
        Assert.Equal(27, after.Progress.ByAssignee[w.B.Id].Total + after.Progress.ByAssignee[c.Id].Total);
        Assert.InRange(after.Progress.ByAssignee[c.Id].Total, 13, 14);
        AssertCountsMatch(after, all);
        Assert.All(all.Where(i => i.Status is null), i => Assert.Contains(i.Assignee, new[] { w.B.Id, c.Id }));
    }

    [Fact]
    public async Task Redistribute_WhileAnnotatorSetsStatuses_NoStatusLostCountsExact()
    {
        // Arrange
        var (w, task, c) = await TaskWithThirdAsync("race-redistribute", 300);
        using var a = _app.Client(w.A.Key);
        var mine = await ItemsAsync(w, task, w.A.Id);
        using var owner = _app.Client(w.Scene.Owner.Key);

        // Act: A keeps completing their items while the owner moves everything open to B and C.
        using var start = await owner.PostAsJsonAsync($"{TaskHarness.Tasks(w)}/{task}/redistribute", new { assignees = new[] { new { userId = w.B.Id }, new { userId = c.Id } } }, IdentityApp.Json);
        var sets = await Task.WhenAll(mine.Take(40).Select(id => TaskHarness.SetAsync(a, w, task, id, "COMPLETED")));
        var status = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("statusQueryGetUri").GetString()!;
        await OrchestrationsApp.UntilAsync(owner, status, "Completed");
        var after = await _h.GetTaskAsync(w, task);
        var all = await AllItemsAsync(w, task);

        // Assert: every 200 kept its status with A; every refusal is a clear 403 (the item had moved); counters match.
        var accepted = mine.Take(40).Where((_, i) => sets[i].StatusCode == HttpStatusCode.OK).ToHashSet();
        Assert.All(sets, s => Assert.Contains(s.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Forbidden }));
        Assert.All(all.Where(i => accepted.Contains(i.ItemId)), i => Assert.Equal(("COMPLETED", w.A.Id), (i.Status, i.Assignee)));
        Assert.Equal(accepted.Count, after.Progress.Done);
        AssertCountsMatch(after, all);
        foreach (var s in sets)
        {
            s.Dispose();
        }
    }

    [Fact]
    public async Task BatchStatus_ByFilterTwice_IdempotentConflictsCountedMirrorAndCompletion()
    {
        // Arrange: 40 items, the filter picks the 20 under /even; A discards one of them first.
        var w = await _h.WorldAsync("batch", 40);
        var (task, _) = await _h.CreateTaskAsync(w, new { name = "b", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        await _h.WaitOpenAsync(w, task);
        var even = await _h.QueryItemsAsync(w, new { filter = new { dir = "/even" }, pageSize = 200 });
        using var a = _app.Client(w.A.Key);
        using var discarded = await TaskHarness.SetAsync(a, w, task, even[0], "DISCARDED");
        var url = $"{TaskHarness.Tasks(w)}/{task}/statuses";

        // Act
        var first = await RunAsync(w, url, new { status = "completed", filter = new { dir = "/even" } });
        var second = await RunAsync(w, url, new { status = "COMPLETED", filter = new { dir = "/even" } });
        var mirrored = await _h.QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = "COMPLETED" }, pageSize = 200 });
        var half = await _h.GetTaskAsync(w, task);
        var rest = await RunAsync(w, url, new { status = "COMPLETED", filter = new { dir = "/odd" } });
        var done = await _h.GetTaskAsync(w, task);
        var cleared = await RunAsync(w, url, new { status = (string?)null, itemIds = even.Skip(1).Take(5) });
        var reopened = await _h.GetTaskAsync(w, task);

        // Assert
        Assert.Equal((19, 0, 1), Counts(first));
        Assert.Equal((0, 19, 1), Counts(second));
        Assert.Equal(19, mirrored.Count);
        Assert.Equal(20, half.Progress.Done);
        Assert.Equal(19, half.Progress.ByStatus["COMPLETED"]);
        Assert.Equal(20, rest.GetProperty("changed").GetInt64());
        Assert.Equal("completed", done.Task.State);
        Assert.Equal(5, cleared.GetProperty("changed").GetInt64());
        Assert.Equal(("open", 35L), (reopened.Task.State, reopened.Progress.Done));
    }

    [Fact]
    public async Task BatchStatus_WhileAnnotatorSetsStatuses_SingleStatusWinsCountsMirrorExact()
    {
        // Arrange: 200 items, all A's; the batch completes the 100 under /even while A discards 40 of them.
        var w = await _h.WorldAsync("race-batch", 200);
        var (task, _) = await _h.CreateTaskAsync(w, new { name = "rb", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        await _h.WaitOpenAsync(w, task);
        var even = await _h.QueryItemsAsync(w, new { filter = new { dir = "/even" }, pageSize = 200 });
        using var a = _app.Client(w.A.Key);
        using var owner = _app.Client(w.Scene.Owner.Key);

        // Act
        using var start = await owner.PostAsJsonAsync($"{TaskHarness.Tasks(w)}/{task}/statuses", new { status = "COMPLETED", filter = new { dir = "/even" } }, IdentityApp.Json);
        var sets = await Task.WhenAll(even.Take(40).Select(id => TaskHarness.SetAsync(a, w, task, id, "DISCARDED")));
        var status = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("statusQueryGetUri").GetString()!;
        var (_, done) = await OrchestrationsApp.UntilAsync(owner, status, "Completed");
        var after = await _h.GetTaskAsync(w, task);
        var all = await AllItemsAsync(w, task);
        var completed = await _h.QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = "COMPLETED" }, pageSize = 200 });
        var discarded = await _h.QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = "DISCARDED" }, pageSize = 200 });

        // Assert: every 200 kept DISCARDED, every 409 lost to the batch; the batch counted the others as conflicts.
        var accepted = even.Take(40).Where((_, i) => sets[i].StatusCode == HttpStatusCode.OK).ToHashSet();
        Assert.All(sets, s => Assert.Contains(s.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
        Assert.All(all.Where(i => accepted.Contains(i.ItemId)), i => Assert.Equal("DISCARDED", i.Status));
        var output = done.GetProperty("output");
        Assert.Equal((100 - accepted.Count, 0L, (long)accepted.Count), Counts(output));
        Assert.Equal(all.Where(i => i.Status == "COMPLETED").Select(i => i.ItemId).Order(), completed.Order());
        Assert.Equal(accepted.Order(), discarded.Order());
        Assert.Equal(100, after.Progress.Done);
        AssertCountsMatch(after, all);
        foreach (var s in sets)
        {
            s.Dispose();
        }
    }

    [Fact]
    public async Task BatchAndSingleStatus_ItemsWrittenWithoutAStatusObject_MirroredAndClearedAllTheSame()
    {
        // Arrange: half the items as written before items carried "status": {} (the mirror's patches need it).
        var w = await _h.WorldAsync("legacy", 20);
        var store = _app.Factory.Services.GetRequiredService<Serverless.Core.Storage.Documents.IDocumentStore>().Container(Serverless.Functions.Datasets.DatasetContainers.Items);
        var partition = Serverless.Functions.Datasets.DatasetContainers.ItemPartition(w.Scene.DatasetId);
        var even = await _h.QueryItemsAsync(w, new { filter = new { dir = "/even" }, pageSize = 200 });
        var all = await _h.QueryItemsAsync(w, new { pageSize = 200 });
        foreach (var id in all.Where((_, i) => i % 2 == 0))
        {
            var doc = (await store.ReadAsync(partition, id))!;
            Assert.True(doc.Body.Remove("status"));
            await store.ReplaceAsync(partition, id, doc.Body, doc.ETag);
        }

        var (task, _) = await _h.CreateTaskAsync(w, new { name = "l", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        await _h.WaitOpenAsync(w, task);
        using var a = _app.Client(w.A.Key);
        var url = $"{TaskHarness.Tasks(w)}/{task}/statuses";
        async Task<List<string>> MirroredAsync(string status) =>
            await _h.QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = status }, pageSize = 200 });

        // Act
        var batch = await RunAsync(w, url, new { status = "COMPLETED", filter = new { dir = "/even" } });
        var odd = all.Except(even).ToList();
        foreach (var id in odd)
        {
            using var set = await TaskHarness.SetAsync(a, w, task, id, "DISCARDED");
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        }

        var completed = await MirroredAsync("COMPLETED");
        var discarded = await MirroredAsync("DISCARDED");
        var cleared = await RunAsync(w, url, new { status = (string?)null, itemIds = all });
        var left = (await MirroredAsync("COMPLETED")).Concat(await MirroredAsync("DISCARDED")).ToList();

        // Assert
        Assert.Equal(10, batch.GetProperty("changed").GetInt64());
        Assert.Equal(even.Order(), completed.Order());
        Assert.Equal(odd.Order(), discarded.Order());
        Assert.Equal(20, cleared.GetProperty("changed").GetInt64());
        Assert.Empty(left);
        Assert.All(all, id => Assert.True(store.ReadAsync(partition, id).Result!.Body["status"] is System.Text.Json.Nodes.JsonObject { Count: 0 }));
    }

    [Fact]
    public async Task ApplyTaskBulkPage_PageRunAgainAfterACrash_ChangesNothingMoreMirrorAndEventsExact()
    {
        // Arrange: a batch status over /even whose first attempt crashed after writing 5 task items, before their mirror.
        var w = await _h.WorldAsync("batch-retry", 30);
        var (task, _) = await _h.CreateTaskAsync(w, new { name = "br", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        await _h.WaitOpenAsync(w, task);
        var even = await _h.QueryItemsAsync(w, new { filter = new { dir = "/even" }, pageSize = 200 });
        var services = _app.Factory.Services;
        var tasks = services.GetRequiredService<TaskStore>();
        var bulk = new TaskBulkInput(w.Scene.ProjectId, task, w.Scene.DatasetId, TaskBulkKinds.Status, w.Scene.Owner.Id, "test", Status: "COMPLETED", FilterJson: """{"dir":"/even"}""", Paged: true);
        await tasks.ApplyChunkAsync(task, even.Take(5).ToList(), item => TaskBulkRules.Decide(bulk, item, 0, "2026-01-01T00:00:00.000Z").Decision, CancellationToken.None);
        var page = new ApplyTaskBulkPage(services.GetRequiredService<ItemStore>(), tasks, services.GetRequiredService<ActivityLog>(),
            services.GetRequiredService<DurableClient>(), TimeProvider.System);
        var context = new TaskActivityContext(nameof(ApplyTaskBulkPage), "bulk-instance", "e", 1);
        var request = new TaskBulkPageRequest(bulk, null, "bulk-instance");

        // Act: the page runs again, then once more (a redelivered message).
        var first = await page.RunAsync(context, request);
        var again = await page.RunAsync(context, request);

        // Assert
        var after = await _h.GetTaskAsync(w, task);
        var mirrored = await _h.QueryItemsAsync(w, new { filter = new Dictionary<string, string> { [$"status.{task}"] = "COMPLETED" }, pageSize = 200 });
        var events = await services.GetRequiredService<ActivityLog>().QueryAsync(w.Scene.ProjectId, new ActivityQuery(null, null, null, task, "status.set", null), 200, null, CancellationToken.None);
        Assert.Equal((15, new TaskBulkCounts(10, 5, 0, 0), (string?)null), (first.Seen, first.Counts, first.NextToken));
        Assert.Equal(new TaskBulkCounts(0, 15, 0, 0), again.Counts);
        Assert.Equal(even.Order(), mirrored.Order());
        Assert.Equal(even.Skip(5).Order(), events.Items.Select(e => e.ItemId!).Order());
        Assert.All(events.Items, e => Assert.Equal(TaskBulkRules.EventId("bulk-instance", e.ItemId!), e.Id));
        Assert.All(events.Items, e => Assert.InRange(e.Id.Length, 1, 20 + e.ItemId!.Length));
        Assert.Equal((15L, 15L), (after.Progress.Done, after.Progress.ByStatus["COMPLETED"]));
        AssertCountsMatch(after, await AllItemsAsync(w, task));
    }

    [Fact]
    public async Task Reassign_InstanceStartedByEarlierVersion_FinishesUnpagedWithExactCounts()
    {
        // Arrange: an instance whose input has no Paged flag, as the earlier version started it (one activity per chunk).
        var (w, task, c) = await TaskWithThirdAsync("unpaged", 200);
        var durable = _app.Factory.Services.GetRequiredService<DurableClient>();
        var input = new TaskBulkInput(w.Scene.ProjectId, task, w.Scene.DatasetId, TaskBulkKinds.Reassign, w.Scene.Owner.Id, "test", From: w.A.Id, To: c.Id);
        var instanceId = $"{w.Scene.ProjectId}.taskbulk.unpaged";

        // Act
        await durable.ScheduleNewOrchestrationInstanceAsync(nameof(TaskBulkOrchestrator), input, new StartOrchestrationOptions(instanceId));
        var state = await durable.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(60));
        var history = (await durable.GetInstanceAsync(instanceId, includeHistory: true))!.History!;
        var after = await _h.GetTaskAsync(w, task);

        // Assert
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Contains(history, e => e is TaskScheduled { Name: nameof(ApplyTaskBulkChunk) });
        Assert.DoesNotContain(history, e => e is TaskScheduled { Name: nameof(ApplyTaskBulkPage) });
        Assert.Equal(100, JsonDocument.Parse(state.Output!).RootElement.GetProperty("changed").GetInt64());
        Assert.Equal(new AssigneeProgress(100, 0), after.Progress.ByAssignee[c.Id]);
        AssertCountsMatch(after, await AllItemsAsync(w, task));
    }

    [Fact]
    public async Task AddAndRemoveItems_OverlapAndWorkedOnItems_TotalsExactWorkedOnKept()
    {
        // Arrange: a task over 10 of 20 items.
        var w = await _h.WorldAsync("addremove", 20);
        var ids = await _h.QueryItemsAsync(w, new { pageSize = 200 });
        var (task, _) = await _h.CreateTaskAsync(w, new { name = "ar", datasetId = w.Scene.DatasetId, itemIds = ids.Take(10), assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        await _h.WaitOpenAsync(w, task);
        using var owner = _app.Client(w.Scene.Owner.Key);
        using var set = await TaskHarness.SetAsync(owner, w, task, ids[0], "COMPLETED");

        // Act: add 10 (5 already in the task), then remove 3 (one holds a status, one is not in the task).
        await RunAsync(w, $"{TaskHarness.Tasks(w)}/{task}/items", new { itemIds = ids.Skip(5).Take(10) });
        var added = await _h.GetTaskAsync(w, task);
        using var remove = await owner.PostAsJsonAsync($"{TaskHarness.Tasks(w)}/{task}/items/remove", new { itemIds = new[] { ids[0], ids[1], ids[19] } }, IdentityApp.Json);
        var removed = await remove.Content.ReadFromJsonAsync<RemoveTaskItemsResult>(IdentityApp.Json);
        var after = await _h.GetTaskAsync(w, task);
        var all = await AllItemsAsync(w, task);

        // Assert
        Assert.Equal((15L, "open"), (added.Progress.Total, added.Task.State));
        Assert.Equal((1, 1), (removed!.Removed, removed.NotInTask));
        Assert.Equal([ids[0]], removed.Kept);
        Assert.Equal(14, after.Progress.Total);
        Assert.Equal(14, all.Count);
        AssertCountsMatch(after, all);
    }

    [Fact]
    public async Task BulkRequests_Invalid_400WithFieldAndNothingStarted()
    {
        // Arrange
        var (w, task, _) = await TaskWithThirdAsync("bulk-invalid", 4);
        using var owner = _app.Client(w.Scene.Owner.Key);
        var tasks = TaskHarness.Tasks(w);
        (string Url, object Body, string Field)[] cases =
        [
            ($"{tasks}/{task}/reassign", new { from = w.A.Id, to = w.A.Id }, "to"),
            ($"{tasks}/{task}/reassign", new { from = "u_nobody", to = w.B.Id }, "from"),
            ($"{tasks}/{task}/redistribute", new { assignees = Array.Empty<object>() }, "assignees"),
            ($"{tasks}/{task}/statuses", new { status = "APPROVED", itemIds = new[] { "i_1" } }, "status"),
            ($"{tasks}/{task}/statuses", new { status = "COMPLETED" }, "filter"),
            ($"{tasks}/{task}/items/remove", new { itemIds = Array.Empty<string>() }, "itemIds"),
        ];

        // Act
        var problems = new List<(HttpStatusCode, string)>();
        foreach (var (url, body, _) in cases)
        {
            using var response = await owner.PostAsJsonAsync(url, body, IdentityApp.Json);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            problems.Add((response.StatusCode, json.GetProperty("errors").EnumerateObject().First().Name));
        }

        using var missing = await owner.PostAsJsonAsync($"{tasks}/t_missing/redistribute", new { assignees = new[] { new { userId = w.B.Id } } }, IdentityApp.Json);
        var list = await owner.GetFromJsonAsync<JsonElement>($"/api/projects/{w.Scene.ProjectId}/orchestrations?name=TaskBulkOrchestrator");

        // Assert
        Assert.Equal(cases.Select(c => (HttpStatusCode.BadRequest, c.Field)), problems);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(0, list.GetProperty("items").GetArrayLength());
    }

    private static (long Changed, long Unchanged, long Conflicts) Counts(JsonElement result) =>
        (result.GetProperty("changed").GetInt64(), result.GetProperty("unchanged").GetInt64(), result.GetProperty("conflicts").GetInt64());

    /// <summary>The progress counters equal a recount of the task's items.</summary>
    private static void AssertCountsMatch(TaskWithProgress task, List<TaskItem> items)
    {
        Assert.Equal(items.Count, task.Progress.Total);
        Assert.Equal(items.Count(i => i.Status is not null), task.Progress.Done);
        foreach (var (user, progress) in task.Progress.ByAssignee)
        {
            Assert.Equal(items.Count(i => i.Assignee == user), progress.Total);
            Assert.Equal(items.Count(i => i.Assignee == user && i.Status is not null), progress.Done);
        }
    }

    /// <summary>A task over <paramref name="items"/> items split between A and B, and a third annotator C.</summary>
    private async Task<(World W, string Task, TestUser C)> TaskWithThirdAsync(string name, int items)
    {
        var w = await _h.WorldAsync(name, items);
        var c = await _app.CreateUserAsync($"{name}-c");
        await _app.AddMemberAsync(w.Scene, c, ProjectRole.Annotator);
        var (task, _) = await _h.CreateTaskAsync(w, new { name, datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = w.B.Id } } });
        await _h.WaitOpenAsync(w, task);
        return (w, task, c);
    }

    /// <summary>Posts a bulk request, waits for its orchestration and returns its output.</summary>
    private async Task<JsonElement> RunAsync(World w, string url, object body)
    {
        using var owner = _app.Client(w.Scene.Owner.Key);
        using var response = await owner.PostAsJsonAsync(url, body, IdentityApp.Json);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, json.GetRawText());
        var (_, status) = await OrchestrationsApp.UntilAsync(owner, json.GetProperty("statusQueryGetUri").GetString()!, "Completed");
        return status.GetProperty("output");
    }

    private static async Task CompleteAsync(HttpClient client, World w, string task, IEnumerable<string> items)
    {
        foreach (var item in items)
        {
            using var response = await TaskHarness.SetAsync(client, w, task, item, "COMPLETED");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private async Task<List<string>> ItemsAsync(World w, string task, string assignee)
    {
        using var owner = _app.Client(w.Scene.Owner.Key);
        var page = await owner.GetFromJsonAsync<Page<TaskItem>>($"{TaskHarness.Tasks(w)}/{task}/items?assignee={assignee}&pageSize=200", IdentityApp.Json);
        return [.. page!.Items.Select(i => i.ItemId)];
    }

    private async Task<List<TaskItem>> AllItemsAsync(World w, string task)
    {
        using var owner = _app.Client(w.Scene.Owner.Key);
        var items = new List<TaskItem>();
        string? token = null;
        do
        {
            var page = await owner.GetFromJsonAsync<Page<TaskItem>>($"{TaskHarness.Tasks(w)}/{task}/items?pageSize=200{(token is null ? "" : "&continuationToken=" + Uri.EscapeDataString(token))}", IdentityApp.Json);
            items.AddRange(page!.Items);
            token = page.ContinuationToken;
        }
        while (token is not null);
        return items;
    }
}
