using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Durable;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Durable;

/// <summary>Approval decision raised as the <c>Approval</c> event.</summary>
public sealed record ApprovalDecision(bool Approved, string? By = null);

/// <summary>Calls one activity and reports progress: the smallest orchestration that completes on its own.</summary>
public sealed class GreetingOrchestrator : TaskOrchestrator<string?, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, string? input)
    {
        context.SetCustomStatus(new { stage = "greeting" });
        var greeting = await context.CallActivityAsync<string>("Greet", input ?? "nobody");
        context.SetCustomStatus(new { stage = "done" });
        return greeting;
    }
}

/// <summary>Waits for an <c>Approval</c> event: the orchestration that events, terminate and suspend act on.</summary>
public sealed class ApprovalOrchestrator : TaskOrchestrator<string?, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, string? input)
    {
        context.SetCustomStatus(new { stage = "waiting" });
        var decision = await context.WaitForExternalEvent<ApprovalDecision>("Approval");
        return $"{input}:{(decision.Approved ? "approved" : "rejected")} by {decision.By}";
    }
}

/// <summary>
/// The app on its own SQLite file and the collection's Azurite with the test orchestrators registered the way a
/// feature registers its own (<see cref="DurableTaskRegistration.AddDurableTasks"/>); helpers go through HTTP.
/// </summary>
public sealed class OrchestrationsApp : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"orchestrations-{Guid.NewGuid():N}");
    private readonly Lock _gate = new();
    private FunctionsAppFactory? _factory;

    public FunctionsAppFactory Factory => _factory ?? throw new InvalidOperationException("Call Start first.");

    /// <summary>Registers the test orchestrators and the <c>Greet</c> activity.</summary>
    public static void AddTestOrchestrations(IServiceCollection services) =>
        services.AddDurableTasks(r => r
            .AddOrchestrator<GreetingOrchestrator>()
            .AddOrchestrator<ApprovalOrchestrator>()
            .AddActivity<string, string>("Greet", (_, name) => Task.FromResult($"Hello {name}!")));

    public OrchestrationsApp Start(string storageConnectionString)
    {
        lock (_gate)
        {
            if (_factory is null)
            {
                _factory = FunctionsAppFactory.Standalone(
                    new()
                    {
                        ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
                        ["Storage:ConnectionString"] = storageConnectionString,
                        ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
                    },
                    AddTestOrchestrations);
                _ = _factory.Server;
            }
        }

        return this;
    }

    public HttpClient Client(string? key = null)
    {
        var client = Factory.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async Task<TestUser> CreateUserAsync(string name)
    {
        using var client = Client(IdentityApp.AdminKey);
        using var response = await client.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name, email = $"{name}@example.com", orgRole = "Member" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedUser>(IdentityApp.Json))!;
        return new TestUser(created.User.Id, created.ApiKey.Key, IdentityBootstrap.DefaultOrganizationId);
    }

    /// <summary>A fresh owner and their project.</summary>
    public async Task<(TestUser Owner, string ProjectId)> ProjectAsync(string name)
    {
        var owner = await CreateUserAsync(name);
        using var client = Client(owner.Key);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        Assert.Equal(HttpStatusCode.Created, project.StatusCode);
        return (owner, (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
    }

    public async Task AddMemberAsync(string ownerKey, string projectId, TestUser user, ProjectRole role)
    {
        using var client = Client(ownerKey);
        using var response = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{user.Id}", new { role = role.ToString() }, IdentityApp.Json);
        Assert.True(response.IsSuccessStatusCode);
    }

    /// <summary>Starts an instance the way a feature does, and returns the 202 body it would answer with.</summary>
    public async Task<OrchestrationAccepted> StartAsync(string projectId, string orchestrator, string? input, string kind = "test", string? key = null)
    {
        var id = await Factory.Services.GetRequiredService<ProjectOrchestrations>().StartAsync(projectId, kind, orchestrator, input, key);
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Scheme = "http";
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString("localhost");
        return OrchestrationAccepted.For(context.Request, projectId, id);
    }

    /// <summary>GETs the status URL until <paramref name="done"/> holds for the body (30 s at most).</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> PollAsync(HttpClient client, string statusUri, Func<HttpStatusCode, JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var response = await client.GetAsync(new Uri(statusUri));
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            if (done(response.StatusCode, body))
            {
                return (response.StatusCode, body);
            }

            Assert.True(DateTime.UtcNow < deadline, $"gave up polling {statusUri}: last {(int)response.StatusCode} {body}");
            await Task.Delay(50);
        }
    }

    /// <summary>Polls until the instance reports <paramref name="runtimeStatus"/>.</summary>
    public static Task<(HttpStatusCode Status, JsonElement Body)> UntilAsync(HttpClient client, string statusUri, string runtimeStatus) =>
        PollAsync(client, statusUri, (_, body) => body.TryGetProperty("runtimeStatus", out var s) && s.GetString() == runtimeStatus);

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
    }
}
