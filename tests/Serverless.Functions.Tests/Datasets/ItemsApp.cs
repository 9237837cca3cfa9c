using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>
/// The app on its own SQLite file and the collection's Azurite, started on first use by a test class
/// (class fixtures cannot take the collection fixture), with helpers that go through HTTP.
/// </summary>
public sealed class ItemsApp : IAsyncDisposable
{
    /// <summary>Upload cap used by the tests, so "too large" needs only a small body.</summary>
    public const long MaxUploadBytes = 64 * 1024;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"items-{Guid.NewGuid():N}");
    private readonly Lock _gate = new();
    private FunctionsAppFactory? _factory;

    public FunctionsAppFactory Factory => _factory ?? throw new InvalidOperationException("Call Start first.");

    public ItemsApp Start(string storageConnectionString)
    {
        lock (_gate)
        {
            if (_factory is null)
            {
                _factory = FunctionsAppFactory.Standalone(new()
                {
                    ["DocumentStore:SqlitePath"] = Path.Combine(_dir, "platform.db"),
                    ["Storage:ConnectionString"] = storageConnectionString,
                    ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
                    ["Items:MaxUploadBytes"] = MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["Items:BlobContainer"] = "items-" + Guid.NewGuid().ToString("N")[..8],
                });
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

    /// <summary>A fresh owner with a project and an empty dataset.</summary>
    public async Task<Scene> SceneAsync(string name = "owner")
    {
        var owner = await CreateUserAsync(name);
        using var client = Client(owner.Key);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "p" });
        var projectId = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var dataset = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name = "d" });
        Assert.Equal(HttpStatusCode.Created, dataset.StatusCode);
        var datasetId = (await dataset.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        return new Scene(owner, projectId, datasetId);
    }

    public async Task AddMemberAsync(Scene scene, TestUser user, ProjectRole role)
    {
        using var client = Client(scene.Owner.Key);
        using var response = await client.PutAsJsonAsync($"/api/projects/{scene.ProjectId}/members/{user.Id}", new { role = role.ToString() }, IdentityApp.Json);
        Assert.True(response.IsSuccessStatusCode);
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

/// <summary>An owner, their project and a dataset in it.</summary>
public sealed record Scene(TestUser Owner, string ProjectId, string DatasetId)
{
    public string Items => $"/api/projects/{ProjectId}/datasets/{DatasetId}/items";

    public string Dataset => $"/api/projects/{ProjectId}/datasets/{DatasetId}";
}

/// <summary>Seeds a dataset and an item record for tests that run without Azurite (no blob is written).</summary>
public static class DatasetSeed
{
    public static async Task<(string DatasetId, string ItemId)> CreateWithItemAsync(IdentityApp app, string ownerKey, string projectId)
    {
        ArgumentNullException.ThrowIfNull(app);
        using var client = app.Client(ownerKey);
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets", new { name = "seed" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var datasetId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
        var item = new Item(Ids.New("i"), projectId, datasetId, "seed.json", ItemPath.Root, "/seed.json", "text", 2, false, [], new() { ["system"] = new System.Text.Json.Nodes.JsonObject(), ["user"] = new System.Text.Json.Nodes.JsonObject() }, "seed", now, now);
        var errors = await app.Factory.Services.GetRequiredService<ItemStore>().WriteAsync(datasetId, [new NewItem(item, ItemStore.BlobName(projectId, datasetId, item.Id))], CancellationToken.None);
        Assert.Null(errors[0]);

        // The upload ticket the item came from, as a direct upload leaves it once ingested.
        var ticket = new System.Text.Json.Nodes.JsonObject
        {
            ["kind"] = "upload", ["itemId"] = item.Id, ["projectId"] = projectId, ["datasetId"] = datasetId, ["dir"] = item.Dir, ["name"] = item.Name,
            ["path"] = item.Path, ["declaredSize"] = 2, ["createdBy"] = "seed", ["state"] = UploadStates.Ingested, ["createdAt"] = now, ["updatedAt"] = now, ["expiresAt"] = now,
        };
        var documents = app.Factory.Services.GetRequiredService<Serverless.Core.Storage.Documents.IDocumentStore>();
        await documents.Container(Serverless.Functions.Datasets.DatasetContainers.Items).CreateAsync(Serverless.Functions.Datasets.DatasetContainers.ItemPartition(datasetId), ItemStore.UploadTicketId(item.Id), ticket);
        return (datasetId, item.Id);
    }

    /// <summary>An item whose bytes are held inline (as bulk JSON items are), so reading them needs no blob store.</summary>
    public static async Task<string> CreateInlineItemAsync(IdentityApp app, string projectId, string datasetId)
    {
        ArgumentNullException.ThrowIfNull(app);
        var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
        var item = new Item(Ids.New("i"), projectId, datasetId, "inline.json", ItemPath.Root, "/inline.json", "text", 2, false, [], new() { ["system"] = new System.Text.Json.Nodes.JsonObject(), ["user"] = new System.Text.Json.Nodes.JsonObject() }, "seed", now, now);
        var errors = await app.Factory.Services.GetRequiredService<ItemStore>().WriteAsync(datasetId, [new NewItem(item, ItemStore.BlobName(projectId, datasetId, item.Id), "{}"u8.ToArray())], CancellationToken.None);
        Assert.Null(errors[0]);
        return item.Id;
    }
}
