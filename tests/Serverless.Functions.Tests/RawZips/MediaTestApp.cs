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
using Serverless.Durable.Storage;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.RawZips;

/// <summary>
/// The app on its own SQLite file, blob containers and durable task hub in the collection's Azurite, with small
/// raw-zip caps (so "over the cap" needs few items) and helpers through HTTP. Used by the raw-zip and video tests.
/// </summary>
public sealed class MediaTestApp : IAsyncDisposable
{
    /// <summary>Entry cap of raw zips in this app.</summary>
    public const int MaxEntries = 40;

    /// <summary>Byte cap of raw zips in this app.</summary>
    public const long MaxTotalBytes = 1024 * 1024;

    private DurableApp? _app;

    public FunctionsAppFactory Factory => App.Factory;

    public string ItemsContainer => App.BlobContainer;

    public string ZipsContainer => "zips-" + App.Suffix;

    public IBlobStore Blobs => Factory.Services.GetRequiredService<IBlobStore>();

    public DurableClient Durable => App.Durable;

    private DurableApp App => _app ?? throw new InvalidOperationException("Call Start first.");

    public MediaTestApp Start(string storageConnectionString)
    {
        _app ??= new DurableApp(
            app => new()
            {
                ["RawZips:BlobContainer"] = "zips-" + app.Suffix,
                ["RawZips:MaxEntries"] = MaxEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["RawZips:MaxTotalBytes"] = MaxTotalBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["RawZips:BlockSizeBytes"] = (64 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Media:WorkDirectory"] = Path.Combine(app.Directory, "work"),
            },
            messageLease: TimeSpan.FromSeconds(30));
        _app.Start(storageConnectionString);
        return this;
    }

    public HttpClient Client(string? key = null) => App.Client(key);

    /// <summary>A fresh owner with a project and an empty dataset.</summary>
    public async Task<(TestUser Owner, string ProjectId, string DatasetId)> SceneAsync()
    {
        using var admin = Client(IdentityApp.AdminKey);
        using var user = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name = "owner", email = $"owner-{Guid.NewGuid():N}@example.com", orgRole = "Member" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, user.StatusCode);
        var created = (await user.Content.ReadFromJsonAsync<CreatedUser>(IdentityApp.Json))!;
        var owner = new TestUser(created.User.Id, created.ApiKey.Key, IdentityBootstrap.DefaultOrganizationId);
        using var client = Client(owner.Key);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        var projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        return (owner, projectId, await DatasetAsync(client, projectId));
    }

    public static async Task<string> DatasetAsync(HttpClient client, string projectId, string name = "d")
    {
        ArgumentNullException.ThrowIfNull(client);
        using var dataset = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name });
        Assert.Equal(HttpStatusCode.Created, dataset.StatusCode);
        return (await dataset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>Uploads a file through <c>PUT .../items?path=</c>; returns the created item.</summary>
    public static async Task<JsonElement> UploadAsync(HttpClient client, string projectId, string datasetId, string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var content = new ByteArrayContent(bytes);
        using var response = await client.PutAsync(new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items?path={Uri.EscapeDataString(path)}", UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Creates JSON text items through the bulk endpoint; every one must be created.</summary>
    public static async Task BulkAsync(HttpClient client, string projectId, string datasetId, IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(client);
        var items = paths.Select(p => new { path = p, content = new { path = p } }).ToArray();
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/items/bulk", new { items });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(items.Length, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("created").GetInt32());
    }

    /// <summary>Waits until the instance has ended (the client polls; no sleeps here).</summary>
    public Task<OrchestrationState> WaitAsync(string instanceId, int seconds = 120) =>
        Durable.WaitForCompletionAsync(instanceId, TimeSpan.FromSeconds(seconds));

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
