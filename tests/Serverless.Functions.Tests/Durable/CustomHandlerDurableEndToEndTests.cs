using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Durable;
using Serverless.Durable.Storage;
using Serverless.Functions.Durable;
using Serverless.Functions.Functions;
using Serverless.Functions.Hosting;
using Serverless.Functions.Tests.Identity;
using Serverless.Storage.Sqlite;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Durable;

/// <summary>
/// The real app process in custom handler mode (<c>FUNCTIONS_CUSTOMHANDLER_PORT</c>) on SQLite + Azurite, with this
/// test acting as the Functions host: HTTP is sent to the app unchanged (as <c>enableForwardingHttpRequest</c> does),
/// and the durable queues are read from Azurite and delivered as queue-trigger invocations in the recorded host
/// format, each message deleted only after a 200.
/// </summary>
/// <remarks>
/// Its own Azurite: the app's task hub is always <c>durable</c>, and the standalone apps of other test classes
/// poll those queues on the shared Azurite, where they would take (and drop) this app's messages.
/// </remarks>
public sealed class CustomHandlerDurableEndToEndTests
{
    [Fact]
    public async Task OrchestrationStartedOverHttp_EventDeliveredByTheHostFromTheControlQueue_Completes()
    {
        var azurite = new AzuriteFixture();
        await azurite.StartAsync();
        try
        {
            await RunAsync(azurite);
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }

    private static async Task RunAsync(AzuriteFixture azurite)
    {
        // Arrange: the app, with the test orchestrators loaded as a hosting startup.
        var dir = Path.Combine(Path.GetTempPath(), $"ch-e2e-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var database = Path.Combine(dir, "platform.db");
        var port = LocalProcess.FreePorts(1)[0];
        var bin = AppContext.BaseDirectory;
        var environment = new Dictionary<string, string>
        {
            [FunctionsHostingMode.PortVariable] = port.ToString(CultureInfo.InvariantCulture),
            ["Storage__ConnectionString"] = azurite.ConnectionString,
            ["DocumentStore__SqlitePath"] = database,
            ["Bootstrap__AdminApiKey"] = IdentityApp.AdminKey,
            ["ASPNETCORE_HOSTINGSTARTUPASSEMBLIES"] = typeof(TestOrchestrationsStartup).Assembly.GetName().Name!,
        };

        // This assembly's deps file lists the app's dependencies and this assembly, so the app can load the startup.
        await using var app = await LocalProcess.StartAsync(
            "dotnet",
            ["exec", "--depsfile", Path.Combine(bin, "Serverless.Functions.Tests.deps.json"), "--runtimeconfig", Path.Combine(bin, "Serverless.Functions.runtimeconfig.json"), Path.Combine(bin, "Serverless.Functions.dll")],
            [port],
            TimeSpan.FromSeconds(60),
            environment);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var (ownerKey, projectId) = await ProjectAsync(http);
        using var host = new FakeFunctionsHost(http, azurite);
        using var stop = new CancellationTokenSource();
        var hostLoop = Task.Run(() => host.RunAsync(stop.Token));
        try
        {
            // Act 1: a feature endpoint starts the orchestration over HTTP and answers the Durable Functions way.
            using var owner = new HttpClient { BaseAddress = http.BaseAddress };
            owner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ownerKey);
            using var start = await owner.PostAsJsonAsync($"/api/projects/{projectId}/approvals", "budget");
            var accepted = (await start.Content.ReadFromJsonAsync<OrchestrationAccepted>(IdentityApp.Json))!;
            var (runningCode, _) = await OrchestrationsApp.UntilAsync(owner, accepted.StatusQueryGetUri, "Running");

            // Act 2: the event comes from another client process (no in-process dispatch), so only the queue carries
            // it to the app: the fake host must deliver it to the control partition's function.
            var options = new StorageBackendOptions(TaskHub: "durable", ControlPartitions: FunctionCatalog.DurableControlPartitions, InProcessDispatch: false, PollQueues: false);
            await using (var client = new StorageOrchestrationBackend(new SqliteDocumentStore(new SqliteDocumentStoreOptions(database)), azurite.QueueStore, azurite.BlobStore, options))
            {
                await new DurableClient(client).RaiseEventAsync(accepted.Id, "Approval", new ApprovalDecision(true, "host"));
            }

            var (doneCode, done) = await OrchestrationsApp.UntilAsync(owner, accepted.StatusQueryGetUri, "Completed");
            var partition = FunctionCatalog.DurableControlFunction(PartitionOf(options, accepted.Id));

            // The step commits (and the status reads Completed) while the app is still answering the host's POST, so
            // the host may record that delivery a moment after the status changed: wait for it, bounded.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!host.Delivered.Any(d => d.Function == partition) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            // Assert
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            Assert.Equal($"http://127.0.0.1:{port}/api/projects/{projectId}/orchestrations/{accepted.Id}", accepted.StatusQueryGetUri);
            Assert.Equal(HttpStatusCode.Accepted, runningCode);
            Assert.Equal(HttpStatusCode.OK, doneCode);
            Assert.Equal("budget:approved by host", done.GetProperty("output").GetString());
            Assert.Contains(host.Delivered, d => d.Function == partition && d.Status == HttpStatusCode.OK);
            Assert.All(host.Delivered, d => Assert.Equal(HttpStatusCode.OK, d.Status));
            Assert.False(app.HasExited);
        }
        finally
        {
            await stop.CancelAsync();
            await hostLoop;
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int PartitionOf(StorageBackendOptions options, string instanceId) =>
        Enumerable.Range(0, options.ControlPartitions).Single(p => options.ControlQueue(p) == options.ControlQueueOf(instanceId));

    private static async Task<(string OwnerKey, string ProjectId)> ProjectAsync(HttpClient http)
    {
        using var admin = new HttpRequestMessage(HttpMethod.Post, $"/api/orgs/{Serverless.Functions.Identity.IdentityBootstrap.DefaultOrganizationId}/users")
        {
            Content = JsonContent.Create(new { name = "e2e", email = "e2e@example.com", orgRole = "Member" }),
        };
        admin.Headers.Authorization = new AuthenticationHeaderValue("Bearer", IdentityApp.AdminKey);
        using var created = await http.SendAsync(admin);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("apiKey").GetProperty("key").GetString()!;
        using var project = new HttpRequestMessage(HttpMethod.Post, "/api/projects") { Content = JsonContent.Create(new { name = "e2e" }) };
        project.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(project);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (key, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
    }

    /// <summary>
    /// What the Functions host does for the durable queue triggers: receive, POST <c>/{function}</c> with the
    /// invocation payload (shape of Fixtures/queue-invocation.json), delete on 200, leave it for a retry otherwise.
    /// </summary>
    private sealed class FakeFunctionsHost(HttpClient http, AzuriteFixture azurite) : IDisposable
    {
        private readonly JsonObject template = JsonNode.Parse(Fixtures.Read("queue-invocation.json"))!.AsObject();

        public ConcurrentQueue<(string Function, HttpStatusCode Status)> Delivered { get; } = new();

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var functions = FunctionCatalog.All.Values.Where(f => f.QueueName?.StartsWith("durable-", StringComparison.Ordinal) == true).ToList();
            while (!cancellationToken.IsCancellationRequested)
            {
                var found = 0;
                foreach (var function in functions)
                {
                    IReadOnlyList<Serverless.Core.Storage.Queues.QueueMessage> messages;
                    try
                    {
                        messages = await azurite.QueueStore.ReceiveAsync(function.QueueName!, 16, TimeSpan.FromSeconds(30), CancellationToken.None);
                    }
                    catch (Serverless.Core.Storage.Queues.QueueNotFoundException)
                    {
                        continue; // the app creates its queues when its worker starts
                    }

                    foreach (var message in messages)
                    {
                        found++;
                        using var content = new StringContent(Payload(function.Name, message).ToJsonString(), Encoding.UTF8, "application/json");
                        using var response = await http.PostAsync(new Uri("/" + function.Name, UriKind.Relative), content, CancellationToken.None);
                        Delivered.Enqueue((function.Name, response.StatusCode));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            await azurite.QueueStore.DeleteAsync(function.QueueName!, message.MessageId, message.PopReceipt, CancellationToken.None);
                        }
                    }
                }

                if (found == 0)
                {
                    await Task.Delay(100, CancellationToken.None);
                }
            }
        }

        private JsonObject Payload(string function, Serverless.Core.Storage.Queues.QueueMessage message)
        {
            var payload = (JsonObject)template.DeepClone();
            payload["Data"]!["message"] = JsonSerializer.Serialize(message.Text);
            var metadata = payload["Metadata"]!;
            metadata["DequeueCount"] = message.DequeueCount.ToString(CultureInfo.InvariantCulture);
            metadata["Id"] = JsonSerializer.Serialize(message.MessageId);
            metadata["PopReceipt"] = JsonSerializer.Serialize(message.PopReceipt);
            metadata["InsertionTime"] = message.InsertedOn.ToString("O", CultureInfo.InvariantCulture);
            metadata["NextVisibleTime"] = message.NextVisibleOn.ToString("O", CultureInfo.InvariantCulture);
            metadata["sys"]!["MethodName"] = function;
            metadata["sys"]!["UtcNow"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            return payload;
        }

        public void Dispose()
        {
            // Nothing held: the HttpClient belongs to the test.
        }
    }
}
