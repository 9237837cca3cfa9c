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
using Serverless.Functions.Tests.Datasets;
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

    private DurableApp? _app;

    public FunctionsAppFactory Factory => App.Factory;

    public IDocumentStore Store => Factory.Services.GetRequiredService<IDocumentStore>();

    public DurableClient Durable => App.Durable;

    private DurableApp App => _app ?? throw new InvalidOperationException("Call Start first.");

    public ExportsApp Start(string storageConnectionString, int pageSize = 500)
    {
        _app ??= new DurableApp(
            app => new()
            {
                ["Exports:BlobContainer"] = "exports-" + app.Suffix,
                ["Exports:PageSize"] = pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            services => services.AddSingleton(new ExportClock(() => CreatedAt)));
        _app.Start(storageConnectionString);
        return this;
    }

    /// <summary>Stops the host (its workers stop mid-work) and starts a fresh one on the same SQLite file, blobs and queues.</summary>
    public Task RestartAsync() => App.RestartAsync();

    public HttpClient Client(string? key = null) => App.Client(key);

    public Task<TestUser> CreateUserAsync(string name) => App.CreateUserAsync(name);

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
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
