using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Durable;

/// <summary>
/// The orchestration management API through HTTP on SQLite + Azurite, with the real worker running in the app:
/// status URL, events, terminate, suspend/resume, purge, listing, and who may do what.
/// </summary>
[Collection(AzuriteFixture.Collection)]
public sealed class OrchestrationsApiTests(AzuriteFixture azurite, OrchestrationsApp shared) : IClassFixture<OrchestrationsApp>
{
    private readonly OrchestrationsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task StatusUrl_GreetingRunsToCompletion_200WithOutputCustomStatusAndHistory()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("greet");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(GreetingOrchestrator), "Ada");

        // Act
        var (status, body) = await OrchestrationsApp.PollAsync(client, accepted.StatusQueryGetUri, (code, _) => code == HttpStatusCode.OK);
        using var withHistory = await client.GetAsync(new Uri(accepted.StatusQueryGetUri + "?showHistory=true"));
        var history = JsonDocument.Parse(await withHistory.Content.ReadAsStringAsync()).RootElement.GetProperty("history");

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(accepted.Id, body.GetProperty("instanceId").GetString());
        Assert.StartsWith(projectId + ".test.", accepted.Id, StringComparison.Ordinal);
        Assert.Equal("Completed", body.GetProperty("runtimeStatus").GetString());
        Assert.Equal(nameof(GreetingOrchestrator), body.GetProperty("name").GetString());
        Assert.Equal("Ada", body.GetProperty("input").GetString());
        Assert.Equal("Hello Ada!", body.GetProperty("output").GetString());
        Assert.Equal("done", body.GetProperty("customStatus").GetProperty("stage").GetString());
        Assert.True(body.GetProperty("lastUpdatedTime").GetDateTimeOffset() >= body.GetProperty("createdTime").GetDateTimeOffset());
        Assert.False(body.TryGetProperty("history", out var none) && none.ValueKind != JsonValueKind.Null);
        var types = history.EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Contains("ExecutionStarted", types);
        Assert.Contains("TaskScheduled", types);
        Assert.Contains("TaskCompleted", types);
        Assert.Contains("ExecutionCompleted", types);
    }

    [Fact]
    public async Task RaiseEvent_WaitingInstance_202WhileRunningThenCompletesWithTheEventData()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("raise");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "budget");
        var (runningCode, running) = await OrchestrationsApp.PollAsync(client, accepted.StatusQueryGetUri, (_, b) => b.GetProperty("customStatus").ValueKind == JsonValueKind.Object);
        using var runningResponse = await client.GetAsync(new Uri(accepted.StatusQueryGetUri));

        // Act
        using var raised = await client.PostAsJsonAsync(new Uri(accepted.SendEventPostUri.Replace("{eventName}", "Approval", StringComparison.Ordinal)), new { approved = true, by = "lee" });
        var (doneCode, done) = await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Completed");
        using var again = await client.PostAsJsonAsync(new Uri(accepted.SendEventPostUri.Replace("{eventName}", "Approval", StringComparison.Ordinal)), new { approved = false });

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, runningCode);
        Assert.Equal("Running", running.GetProperty("runtimeStatus").GetString());
        Assert.Equal("waiting", running.GetProperty("customStatus").GetProperty("stage").GetString());
        Assert.Equal(new Uri(accepted.StatusQueryGetUri).AbsolutePath, runningResponse.Headers.Location?.AbsolutePath);
        Assert.Equal(HttpStatusCode.Accepted, raised.StatusCode);
        Assert.Equal(HttpStatusCode.OK, doneCode);
        Assert.Equal("budget:approved by lee", done.GetProperty("output").GetString());
        var problem = await IdentityApp.AssertProblemAsync(again, HttpStatusCode.Conflict);
        Assert.Contains("Completed", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bad%20name")]
    [InlineData("semi%3Bcolon")]
    public async Task RaiseEvent_BadEventName_400ProblemAndInstanceUnchanged(string eventName)
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("badname");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "x");
        await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Running");

        // Act
        using var response = await client.PostAsJsonAsync(new Uri(accepted.StatusQueryGetUri + "/raiseEvent/" + eventName), new { approved = true });
        using var malformed = await client.PostAsync(new Uri(accepted.StatusQueryGetUri + "/raiseEvent/Approval"), new StringContent("{not json", Encoding.UTF8, "application/json"));
        using var status = await client.GetAsync(new Uri(accepted.StatusQueryGetUri));

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.BadRequest);
        await IdentityApp.AssertFieldErrorAsync(malformed, "body");
        Assert.Equal(HttpStatusCode.Accepted, status.StatusCode);
    }

    [Fact]
    public async Task Terminate_RunningInstance_TerminatedWithReason_SecondTerminate409NamesStatus()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("term");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "x");
        await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Running");

        // Act
        using var terminate = await client.PostAsync(new Uri(accepted.TerminatePostUri.Replace("{text}", "no%20longer%20needed", StringComparison.Ordinal)), null);
        var (code, body) = await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Terminated");
        using var again = await client.PostAsync(new Uri(accepted.TerminatePostUri.Replace("{text}", "again", StringComparison.Ordinal)), null);
        using var suspend = await client.PostAsync(new Uri(accepted.SuspendPostUri.Replace("{text}", "late", StringComparison.Ordinal)), null);

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, terminate.StatusCode);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("no longer needed", body.GetProperty("output").GetString());
        var problem = await IdentityApp.AssertProblemAsync(again, HttpStatusCode.Conflict);
        Assert.Contains("Terminated", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await IdentityApp.AssertProblemAsync(suspend, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task SuspendResume_EventWhileSuspendedIsHeld_ResumeDeliversItAndCompletes()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("susp");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "trip");
        await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Running");

        // Act
        using var suspend = await client.PostAsync(new Uri(accepted.SuspendPostUri.Replace("{text}", "audit", StringComparison.Ordinal)), null);
        var (suspendedCode, _) = await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Suspended");
        using var raised = await client.PostAsJsonAsync(new Uri(accepted.SendEventPostUri.Replace("{eventName}", "Approval", StringComparison.Ordinal)), new { approved = true, by = "kim" });
        var (heldCode, held) = await OrchestrationsApp.PollAsync(client, accepted.StatusQueryGetUri, (_, _) => true);
        using var resume = await client.PostAsync(new Uri(accepted.ResumePostUri.Replace("{text}", "ok", StringComparison.Ordinal)), null);
        var (_, done) = await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Completed");

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, suspend.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, suspendedCode);
        Assert.Equal(HttpStatusCode.Accepted, raised.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, heldCode);
        Assert.Equal("Suspended", held.GetProperty("runtimeStatus").GetString());
        Assert.Equal(HttpStatusCode.Accepted, resume.StatusCode);
        Assert.Equal("trip:approved by kim", done.GetProperty("output").GetString());
    }

    [Fact]
    public async Task Purge_RunningIs409_EndedIsDeletedThen404()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("purge");
        using var client = _app.Client(owner.Key);
        var accepted = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "x");
        await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Running");

        // Act
        using var whileRunning = await client.DeleteAsync(new Uri(accepted.PurgeHistoryDeleteUri));
        using var terminate = await client.PostAsync(new Uri(accepted.TerminatePostUri.Replace("{text}", "done", StringComparison.Ordinal)), null);
        await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Terminated");
        using var purge = await client.DeleteAsync(new Uri(accepted.PurgeHistoryDeleteUri));
        using var gone = await client.GetAsync(new Uri(accepted.StatusQueryGetUri));
        using var purgeAgain = await client.DeleteAsync(new Uri(accepted.PurgeHistoryDeleteUri));

        // Assert
        var problem = await IdentityApp.AssertProblemAsync(whileRunning, HttpStatusCode.Conflict);
        Assert.Contains("Running", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
        Assert.Equal(1, (await purge.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("instancesDeleted").GetInt32());
        await IdentityApp.AssertProblemAsync(gone, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(purgeAgain, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task List_PagesThroughOnlyThisProjectsInstances_FiltersByStatusNameAndTime()
    {
        // Arrange
        var (owner, projectId) = await _app.ProjectAsync("list");
        var (_, otherProject) = await _app.ProjectAsync("listother");
        using var client = _app.Client(owner.Key);
        var started = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var accepted = await _app.StartAsync(projectId, nameof(GreetingOrchestrator), $"n{i}");
            started.Add(accepted.Id);
            await OrchestrationsApp.UntilAsync(client, accepted.StatusQueryGetUri, "Completed");
        }

        var waiting = await _app.StartAsync(projectId, nameof(ApprovalOrchestrator), "w");
        await OrchestrationsApp.UntilAsync(client, waiting.StatusQueryGetUri, "Running");
        await _app.StartAsync(otherProject, nameof(GreetingOrchestrator), "elsewhere");
        var list = $"/api/projects/{projectId}/orchestrations";

        // Act
        var seen = new List<string>();
        var pages = 0;
        string? token = null;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>($"{list}?pageSize=2&runtimeStatus=Completed{(token is null ? "" : "&continuationToken=" + Uri.EscapeDataString(token))}");
            var items = page.GetProperty("items").EnumerateArray().ToList();
            Assert.True(items.Count <= 2);
            Assert.All(items, i => Assert.False(i.TryGetProperty("input", out var input) && input.ValueKind != JsonValueKind.Null));
            seen.AddRange(items.Select(i => i.GetProperty("instanceId").GetString()!));
            token = page.GetProperty("continuationToken").GetString();
            pages++;
        }
        while (token is not null && pages < 10);

        var running = await client.GetFromJsonAsync<JsonElement>($"{list}?runtimeStatus=running,pending&showInput=true");
        var byName = await client.GetFromJsonAsync<JsonElement>($"{list}?name={nameof(ApprovalOrchestrator)}");
        var all = await client.GetFromJsonAsync<JsonElement>(list);
        var future = await client.GetFromJsonAsync<JsonElement>($"{list}?createdTimeFrom={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"))}");
        var past = await client.GetFromJsonAsync<JsonElement>($"{list}?createdTimeTo={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"))}&createdTimeFrom=2020-01-01T00:00:00Z");
        using var badStatus = await client.GetAsync(new Uri($"{list}?runtimeStatus=Sleeping", UriKind.Relative));
        using var bigPage = await client.GetAsync(new Uri($"{list}?pageSize=5000", UriKind.Relative));
        using var badTime = await client.GetAsync(new Uri($"{list}?createdTimeFrom=yesterday", UriKind.Relative));
        using var badToken = await client.GetAsync(new Uri($"{list}?continuationToken=garbage", UriKind.Relative));

        // Assert
        Assert.Equal(started.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        Assert.Equal(3, pages);
        var runningItem = Assert.Single(running.GetProperty("items").EnumerateArray());
        Assert.Equal(waiting.Id, runningItem.GetProperty("instanceId").GetString());
        Assert.Equal("w", runningItem.GetProperty("input").GetString());
        Assert.Equal(waiting.Id, Assert.Single(byName.GetProperty("items").EnumerateArray()).GetProperty("instanceId").GetString());
        Assert.Equal(6, all.GetProperty("items").GetArrayLength());
        Assert.All(all.GetProperty("items").EnumerateArray(), i => Assert.StartsWith(projectId + ".", i.GetProperty("instanceId").GetString(), StringComparison.Ordinal));
        Assert.Equal(0, future.GetProperty("items").GetArrayLength());
        Assert.Equal(6, past.GetProperty("items").GetArrayLength());
        await IdentityApp.AssertFieldErrorAsync(badStatus, "runtimeStatus");
        await IdentityApp.AssertFieldErrorAsync(bigPage, "pageSize");
        await IdentityApp.AssertFieldErrorAsync(badTime, "createdTimeFrom");
        await IdentityApp.AssertFieldErrorAsync(badToken, "continuationToken");
    }

    [Fact]
    public async Task OtherProjectsMember_GetsNotFound_AnnotatorForbidden_ManagerReadsButCannotTerminate()
    {
        // Arrange
        var (ownerA, projectA) = await _app.ProjectAsync("ownA");
        var (ownerB, projectB) = await _app.ProjectAsync("ownB");
        var annotator = await _app.CreateUserAsync("annot");
        var manager = await _app.CreateUserAsync("mgr");
        await _app.AddMemberAsync(ownerA.Key, projectA, annotator, ProjectRole.Annotator);
        await _app.AddMemberAsync(ownerA.Key, projectA, manager, ProjectRole.AnnotationManager);
        var accepted = await _app.StartAsync(projectA, nameof(ApprovalOrchestrator), "secret");
        using var a = _app.Client(ownerA.Key);
        await OrchestrationsApp.UntilAsync(a, accepted.StatusQueryGetUri, "Running");
        using var b = _app.Client(ownerB.Key);
        using var annotatorClient = _app.Client(annotator.Key);
        using var managerClient = _app.Client(manager.Key);
        var viaB = $"/api/projects/{projectB}/orchestrations/{accepted.Id}";

        // Act
        using var bGet = await b.GetAsync(new Uri(viaB, UriKind.Relative));
        using var bTerminate = await b.PostAsync(new Uri(viaB + "/terminate?reason=mine", UriKind.Relative), null);
        using var bRaise = await b.PostAsJsonAsync(new Uri(viaB + "/raiseEvent/Approval", UriKind.Relative), new { approved = true });
        using var bPurge = await b.DeleteAsync(new Uri(viaB, UriKind.Relative));
        var bList = await b.GetFromJsonAsync<JsonElement>($"/api/projects/{projectB}/orchestrations");
        using var bOnA = await b.GetAsync(new Uri(accepted.StatusQueryGetUri));
        using var annotatorGet = await annotatorClient.GetAsync(new Uri(accepted.StatusQueryGetUri));
        using var annotatorList = await annotatorClient.GetAsync(new Uri($"/api/projects/{projectA}/orchestrations", UriKind.Relative));
        using var managerGet = await managerClient.GetAsync(new Uri(accepted.StatusQueryGetUri));
        using var managerTerminate = await managerClient.PostAsync(new Uri(accepted.TerminatePostUri.Replace("{text}", "x", StringComparison.Ordinal)), null);
        using var unknown = await a.GetAsync(new Uri($"/api/projects/{projectA}/orchestrations/{projectA}.test.nope", UriKind.Relative));
        using var state = await a.GetAsync(new Uri(accepted.StatusQueryGetUri));

        // Assert
        await IdentityApp.AssertProblemAsync(bGet, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(bTerminate, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(bRaise, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(bPurge, HttpStatusCode.NotFound);
        Assert.Equal(0, bList.GetProperty("items").GetArrayLength());
        await IdentityApp.AssertProblemAsync(bOnA, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(annotatorGet, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(annotatorList, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.Accepted, managerGet.StatusCode);
        await IdentityApp.AssertProblemAsync(managerTerminate, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        Assert.Equal("Running", (await state.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runtimeStatus").GetString());
    }
}
