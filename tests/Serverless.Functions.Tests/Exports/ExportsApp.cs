using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Durable;
using Serverless.Durable.Runtime;
using Serverless.Durable.Storage;
using Serverless.Functions.Datasets;
using Serverless.Functions.Exports;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Exports;

/// <summary>
/// The app on its own SQLite file, blob containers and durable task hub in the collection's Azurite, with the
/// export clock fixed at <see cref="CreatedAt"/> so that two exports of the same data have the same bytes.
/// <see cref="RestartAsync"/> stops the host mid-work and starts a new one on the same files.
/// </summary>
public sealed class ExportsApp : IAsyncDisposable
{
    /// <summary>The time every export of this app starts at.</summary>
    public static readonly DateTimeOffset CreatedAt = new(2026, 11, 25, 8, 30, 0, TimeSpan.Zero);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"exports-app-{Guid.NewGuid():N}");
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..8];
    private readonly string _taskHub = "x" + Guid.NewGuid().ToString("N")[..10];
    private readonly Lock _gate = new();
    private string? _connectionString;
    private int _pageSize = 500;
    private FunctionsAppFactory? _factory;

    public FunctionsAppFactory Factory => _factory ?? throw new InvalidOperationException("Call Start first.");

    public IDocumentStore Store => Factory.Services.GetRequiredService<IDocumentStore>();

    public DurableClient Durable => Factory.Services.GetRequiredService<DurableClient>();

    public ExportsApp Start(string storageConnectionString, int pageSize = 500)
    {
        lock (_gate)
        {
            _connectionString = storageConnectionString;
            _pageSize = pageSize;
            if (_factory is null)
            {
                var options = new StorageBackendOptions(
                    TaskHub: _taskHub,
                    ControlPartitions: 1,
                    MessageLease: TimeSpan.FromSeconds(6),
                    MaxDequeueCount: 20,
                    QueuePollInterval: TimeSpan.FromMilliseconds(20),
                    MaxQueuePollIntervalSetting: TimeSpan.FromMilliseconds(200));
                _factory = FunctionsAppFactory.Standalone(
                    new()
                    {
                        ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
                        ["Storage:ConnectionString"] = storageConnectionString,
                        ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
                        ["Items:BlobContainer"] = "items-" + _suffix,
                        ["Exports:BlobContainer"] = "exports-" + _suffix,
                        ["Exports:PageSize"] = _pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    },
                    services =>
                    {
                        services.AddSingleton(new ExportClock(() => CreatedAt));
                        services.AddSingleton(options);
                        services.AddSingleton(sp => new StorageOrchestrationBackend(
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

        Start(_connectionString!, _pageSize);
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

    /// <summary>A project with one dataset whose recipe is <paramref name="recipe"/>.</summary>
    public async Task<(string ProjectId, string DatasetId, string RecipeId)> ProjectAsync(TestUser owner, object recipe)
    {
        using var client = Client(owner.Key);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        Assert.Equal(HttpStatusCode.Created, project.StatusCode);
        var projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var dataset = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name = "d" });
        var datasetId = (await dataset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var created = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", recipe, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var recipeId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var attached = await client.PutAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/recipe", new { recipeId }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        return (projectId, datasetId, recipeId);
    }

    /// <summary>Records an item with a chosen id (no file: exports without item links never read it).</summary>
    public async Task AddItemAsync(string projectId, string datasetId, string itemId, string path, string type, int? width = null, int? height = null)
    {
        var (folder, name) = Serverless.Core.Items.ItemPath.SplitFullPath(path);
        var system = new JsonObject { ["mimetype"] = type == "image" ? "image/png" : "application/json" };
        if (width is not null)
        {
            system["width"] = width;
            system["height"] = height;
        }

        var now = StoredTimestamp.Format(CreatedAt);
        var item = new Item(itemId, projectId, datasetId, name, folder, path, type, 10, false, [], new JsonObject { ["system"] = system }, "u_seed", now, now);
        var errors = await Factory.Services.GetRequiredService<ItemStore>().WriteAsync(datasetId, [new NewItem(item, ItemStore.BlobName(projectId, datasetId, itemId))], CancellationToken.None);
        Assert.Null(errors[0]);
    }

    /// <summary>Starts an export; returns its id.</summary>
    public async Task<string> StartExportAsync(TestUser owner, string projectId, object body)
    {
        using var client = Client(owner.Key);
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/exports", body, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("exportId").GetString()!;
    }

    /// <summary>Waits for the export's orchestration to end and returns the export as the API shows it.</summary>
    public async Task<Export> WaitExportAsync(TestUser owner, string projectId, string exportId, int seconds = 120)
    {
        await Durable.WaitForCompletionAsync(Serverless.Functions.Durable.ProjectOrchestrations.InstanceId(projectId, nameof(ExportLabels), exportId), TimeSpan.FromSeconds(seconds));
        using var client = Client(owner.Key);
        return (await client.GetFromJsonAsync<Export>($"/api/projects/{projectId}/exports/{exportId}", IdentityApp.Json))!;
    }

    /// <summary>The finished file through its download link, with the link's response headers.</summary>
    public async Task<(byte[] Bytes, HttpResponseMessage Response)> DownloadAsync(TestUser owner, string url)
    {
        using var client = Client(owner.Key);
        var link = (await client.GetFromJsonAsync<ExportDownload>(url, IdentityApp.Json))!;
        using var plain = new HttpClient();
        var response = await plain.GetAsync(link.Url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsByteArrayAsync(), response);
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
    }
}
