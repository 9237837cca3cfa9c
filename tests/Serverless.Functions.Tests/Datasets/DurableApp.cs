using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Durable;
using Serverless.Durable.Runtime;
using Serverless.Durable.Storage;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>
/// The app on its own SQLite file, item blob container and durable task hub in the collection's Azurite, so that
/// orchestrations of this app never meet another test app's workers on the shared queues. The message lease is
/// short so that a restarted host recovers the work of a stopped one within seconds; because a page that outlives
/// the lease on a loaded machine is delivered again, more deliveries are allowed before a message counts as poison.
/// <see cref="RestartAsync"/> stops the host and starts a new one on the same files.
/// </summary>
/// <remarks>
/// Feature harnesses (exports, raw zips and video) wrap it with their own settings (given the app, for its folder
/// and container suffix), services, and message lease.
/// </remarks>
public sealed class DurableApp(
    Func<DurableApp, Dictionary<string, string?>>? settings = null,
    Action<IServiceCollection>? services = null,
    TimeSpan? messageLease = null) : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"durable-app-{Guid.NewGuid():N}");
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..8];
    private readonly string _taskHub = "t" + Guid.NewGuid().ToString("N")[..10];
    private readonly Lock _gate = new();
    private string? _connectionString;
    private FunctionsAppFactory? _factory;

    public FunctionsAppFactory Factory => _factory ?? throw new InvalidOperationException("Call Start first.");

    /// <summary>This app's own folder (SQLite file and any work files).</summary>
    public string Directory => _dir;

    /// <summary>Suffix of this app's blob container names (<c>items-{suffix}</c>, ...).</summary>
    public string Suffix => _suffix;

    public string BlobContainer => "items-" + _suffix;

    public DurableApp Start(string storageConnectionString)
    {
        lock (_gate)
        {
            _connectionString = storageConnectionString;
            if (_factory is null)
            {
                var options = new StorageBackendOptions(
                    TaskHub: _taskHub,
                    ControlPartitions: 1,
                    MessageLease: messageLease ?? TimeSpan.FromSeconds(6),
                    MaxDequeueCount: 20,
                    QueuePollInterval: TimeSpan.FromMilliseconds(20),
                    MaxQueuePollIntervalSetting: TimeSpan.FromMilliseconds(200));
                var appSettings = new Dictionary<string, string?>
                {
                    ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
                    ["Storage:ConnectionString"] = storageConnectionString,
                    ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
                    ["Items:BlobContainer"] = BlobContainer,
                };
                foreach (var (key, value) in settings?.Invoke(this) ?? [])
                {
                    appSettings[key] = value;
                }

                _factory = FunctionsAppFactory.Standalone(
                    appSettings,
                    collection =>
                    {
                        services?.Invoke(collection);

                        // Replaces the app's backend (registered last, so resolved first) with one on this app's own task hub.
                        collection.AddSingleton(options);
                        collection.AddSingleton(sp => new StorageOrchestrationBackend(
                            sp.GetRequiredService<IDocumentStore>(),
                            sp.GetRequiredService<IQueueStore>(),
                            sp.GetRequiredService<IBlobStore>(),
                            options,
                            loggerFactory: sp.GetRequiredService<ILoggerFactory>()));
                    });
                _ = _factory.Server;
            }
        }

        return this;
    }

    /// <summary>Stops the host (its workers stop mid-work) and starts a fresh one on the same SQLite file, blobs and queues.</summary>
    public async Task RestartAsync()
    {
        var old = _factory;
        _factory = null;
        if (old is not null)
        {
            await old.DisposeAsync();
        }

        Start(_connectionString!);
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

    public DurableClient Durable => Factory.Services.GetRequiredService<DurableClient>();

    public async Task<TestUser> CreateUserAsync(string name)
    {
        using var client = Client(IdentityApp.AdminKey);
        using var response = await client.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name, email = $"{name}@example.com", orgRole = "Member" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedUser>(IdentityApp.Json))!;
        return new TestUser(created.User.Id, created.ApiKey.Key, IdentityBootstrap.DefaultOrganizationId);
    }

    public async Task<string> CreateProjectAsync(TestUser owner)
    {
        using var client = Client(owner.Key);
        using var response = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    public async Task<string> CreateDatasetAsync(TestUser owner, string projectId, string name = "d")
    {
        using var client = Client(owner.Key);
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>Creates JSON text items through the bulk endpoint (1,000 per call); every one must be created.</summary>
    public async Task BulkAsync(TestUser owner, string projectId, string datasetId, IReadOnlyList<object> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        using var client = Client(owner.Key);
        foreach (var chunk in entries.Chunk(1000))
        {
            using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/items/bulk", new { items = chunk });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(chunk.Length, body.GetProperty("created").GetInt32());
        }
    }

    /// <summary>Every item of a dataset, through the query endpoint, page by page.</summary>
    public async Task<List<JsonElement>> AllItemsAsync(TestUser owner, string projectId, string datasetId)
    {
        using var client = Client(owner.Key);
        var items = new List<JsonElement>();
        string? token = null;
        do
        {
            using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/items/query", token is null ? new { pageSize = 1000 } : (object)new { pageSize = 1000, continuation = token });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.Content.ReadFromJsonAsync<JsonElement>();
            items.AddRange(page.GetProperty("items").EnumerateArray().Select(e => e.Clone()));
            token = page.TryGetProperty("continuationToken", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        while (token is not null);
        return items;
    }

    /// <summary>Polls the instance until it has ended (no sleeps in the test itself; the client polls every 20 ms).</summary>
    public Task<OrchestrationState> WaitAsync(string instanceId, int seconds = 120) =>
        Durable.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(seconds));

    public async ValueTask DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        if (System.IO.Directory.Exists(_dir))
        {
            System.IO.Directory.Delete(_dir, recursive: true);
        }
    }
}
