using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Identity;

/// <summary>
/// The app on its own SQLite file (one per test class) with a configured bootstrap admin key, and
/// helpers that go through HTTP only.
/// </summary>
public sealed class IdentityApp : IAsyncLifetime
{
    public const string AdminKey = "test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"identity-{Guid.NewGuid():N}");

    public FunctionsAppFactory Factory { get; private set; } = null!;

    public string DatabasePath => Path.Combine(_dir, "platform.db");

    public Task InitializeAsync()
    {
        Factory = FunctionsAppFactory.Standalone(new()
        {
            ["DocumentStore:SqlitePath"] = DatabasePath,
            ["Bootstrap:AdminApiKey"] = AdminKey,
        });
        _ = Factory.Server; // start: containers and bootstrap run now
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    /// <summary>A client sending <paramref name="key"/> as a bearer token (none when null).</summary>
    public HttpClient Client(string? key = null)
    {
        var client = Factory.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    /// <summary>A new user of the default organization, with their first key.</summary>
    public async Task<TestUser> CreateUserAsync(string name, OrgRole role = OrgRole.Member, string orgId = IdentityBootstrap.DefaultOrganizationId, string adminKey = AdminKey)
    {
        using var client = Client(adminKey);
        using var response = await client.PostAsJsonAsync($"/api/orgs/{orgId}/users", new { name, email = $"{name}@example.com", orgRole = role.ToString() }, Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedUser>(Json))!;
        return new TestUser(created.User.Id, created.ApiKey.Key, orgId);
    }

    /// <summary>A new organization (created by the platform admin); returns its first admin.</summary>
    public async Task<TestUser> CreateOrganizationAsync(string name)
    {
        using var client = Client(AdminKey);
        using var response = await client.PostAsJsonAsync("/api/orgs", new { name, admin = new { name = name + " admin" } }, Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedOrganization>(Json))!;
        return new TestUser(created.Admin.Id, created.AdminApiKey.Key, created.Organization.Id);
    }

    public async Task<string> CreateProjectAsync(string key, string name = "project")
    {
        using var client = Client(key);
        using var response = await client.PostAsJsonAsync("/api/projects", new { name }, Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    public async Task AddMemberAsync(string ownerKey, string projectId, string userId, ProjectRole role)
    {
        using var client = Client(ownerKey);
        using var response = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{userId}", new { role = role.ToString() }, Json);
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, $"adding {userId} as {role}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Asserts an RFC 9457 body with the status, and returns it.</summary>
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        ArgumentNullException.ThrowIfNull(response);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(body.TryGetProperty("detail", out var d) ? d.GetString() : body.GetProperty("title").GetString()));
        return body;
    }

    /// <summary>Asserts a 400 whose <c>errors</c> names <paramref name="field"/>.</summary>
    public static async Task AssertFieldErrorAsync(HttpResponseMessage response, string field)
    {
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = body.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), $"errors should name '{field}': {errors}");
    }
}

/// <summary>A user created through the API.</summary>
public sealed record TestUser(string Id, string Key, string OrgId);
