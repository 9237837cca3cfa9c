using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Projects;

/// <summary>Projects, status, settings and deletion, through HTTP on SQLite.</summary>
public sealed class ProjectTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Create_ThenGet_CreatorIsOwnerWithDefaults()
    {
        // Arrange
        var user = await app.CreateUserAsync("creator");
        using var client = app.Client(user.Key);

        // Act
        using var created = await client.PostAsJsonAsync("/api/projects", new { name = "  Cars  " });
        var project = (await created.Content.ReadFromJsonAsync<Project>(IdentityApp.Json))!;
        using var get = await client.GetAsync(new Uri($"/api/projects/{project.Id}", UriKind.Relative));
        var members = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project.Id}/members");

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("Cars", project.Name);
        Assert.Equal(ProjectStatus.NotStarted, project.Status);
        Assert.Equal(new ProjectSettings(false, 0, 0.2), project.Settings);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.NotNull(get.Headers.ETag);
        var member = Assert.Single(members.GetProperty("items").EnumerateArray());
        Assert.Equal(user.Id, member.GetProperty("userId").GetString());
        Assert.Equal("Owner", member.GetProperty("role").GetString());
    }

    [Theory]
    [InlineData("{}", "name")]
    [InlineData("{\"name\":\"\"}", "name")]
    [InlineData("{\"name\":123}", "name")]
    [InlineData("{\"name\":\"x\",\"orgId\":\"o_someoneelse\"}", "orgId")]
    public async Task Create_BadInput_400NamingTheFieldAndNothingCreated(string json, string field)
    {
        // Arrange
        var user = await app.CreateUserAsync("badcreate");
        using var client = app.Client(user.Key);

        // Act
        using var response = await client.PostAsync(new Uri("/api/projects", UriKind.Relative), Json(json));
        var mine = await client.GetFromJsonAsync<JsonElement>("/api/projects");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
        Assert.Equal(0, mine.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task ListMine_PagedAndOnlyMine()
    {
        // Arrange
        var user = await app.CreateUserAsync("lister");
        var other = await app.CreateUserAsync("otherlister");
        for (var i = 0; i < 3; i++)
        {
            await app.CreateProjectAsync(user.Key, $"mine{i}");
        }

        await app.CreateProjectAsync(other.Key, "not mine");
        using var client = app.Client(user.Key);

        // Act
        var first = await client.GetFromJsonAsync<JsonElement>("/api/projects?pageSize=2");
        var token = Uri.EscapeDataString(first.GetProperty("continuationToken").GetString()!);
        var second = await client.GetFromJsonAsync<JsonElement>($"/api/projects?pageSize=2&continuationToken={token}");
        using var tooBig = await client.GetAsync(new Uri($"/api/projects?pageSize={Http.Paging.MaxPageSize + 1}", UriKind.Relative));

        // Assert
        var names = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray())
            .Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["mine0", "mine1", "mine2"], names);
        Assert.All(first.GetProperty("items").EnumerateArray(), p => Assert.Equal("Owner", p.GetProperty("role").GetString()));
        await IdentityApp.AssertFieldErrorAsync(tooBig, "pageSize");
    }

    [Fact]
    public async Task Rename_WithStaleIfMatch_412_WithFreshIfMatch_200()
    {
        // Arrange
        var user = await app.CreateUserAsync("renamer");
        var id = await app.CreateProjectAsync(user.Key, "old");
        using var client = app.Client(user.Key);
        using var get = await client.GetAsync(new Uri($"/api/projects/{id}", UriKind.Relative));
        var etag = get.Headers.ETag!.Tag;
        using var first = await client.PatchAsJsonAsync($"/api/projects/{id}", new { name = "new" });

        // Act
        using var stale = new HttpRequestMessage(HttpMethod.Patch, $"/api/projects/{id}") { Content = JsonContent.Create(new { name = "lost update" }) };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        using var staleResponse = await client.SendAsync(stale);
        using var fresh = new HttpRequestMessage(HttpMethod.Patch, $"/api/projects/{id}") { Content = JsonContent.Create(new { name = "newest" }) };
        fresh.Headers.IfMatch.Add(first.Headers.ETag!);
        using var freshResponse = await client.SendAsync(fresh);
        var project = await client.GetFromJsonAsync<Project>($"/api/projects/{id}", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        await IdentityApp.AssertProblemAsync(staleResponse, HttpStatusCode.PreconditionFailed);
        Assert.Equal(HttpStatusCode.OK, freshResponse.StatusCode);
        Assert.Equal("newest", project!.Name);
    }

    [Fact]
    public async Task Rename_BlankName_400AndNameUnchanged()
    {
        // Arrange
        var user = await app.CreateUserAsync("blankrename");
        var id = await app.CreateProjectAsync(user.Key, "keep");
        using var client = app.Client(user.Key);

        // Act
        using var response = await client.PatchAsJsonAsync($"/api/projects/{id}", new { name = " " });

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "name");
        Assert.Equal("keep", (await client.GetFromJsonAsync<Project>($"/api/projects/{id}", IdentityApp.Json))!.Name);
    }

    [Fact]
    public async Task ChangeStatus_AllowedPathAndRefusedJump()
    {
        // Arrange
        var user = await app.CreateUserAsync("statuser");
        var id = await app.CreateProjectAsync(user.Key);
        using var client = app.Client(user.Key);

        // Act
        var steps = new List<HttpStatusCode>();
        foreach (var status in new[] { "InProgress", "Paused", "InProgress", "Completed", "Archived", "Completed" })
        {
            using var r = await client.PutAsJsonAsync($"/api/projects/{id}/status", new { status });
            steps.Add(r.StatusCode);
        }

        using var jump = await client.PutAsJsonAsync($"/api/projects/{id}/status", new { status = "NotStarted" });
        using var missing = await client.PutAsync(new Uri($"/api/projects/{id}/status", UriKind.Relative), Json("{}"));
        using var unknown = await client.PutAsync(new Uri($"/api/projects/{id}/status", UriKind.Relative), Json("{\"status\":\"Sleeping\"}"));

        // Assert
        Assert.All(steps, s => Assert.Equal(HttpStatusCode.OK, s));
        var problem = await IdentityApp.AssertProblemAsync(jump, HttpStatusCode.Conflict);
        Assert.Contains("from Completed", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await IdentityApp.AssertFieldErrorAsync(missing, "status");
        await IdentityApp.AssertFieldErrorAsync(unknown, "status");
        Assert.Equal(ProjectStatus.Completed, (await client.GetFromJsonAsync<Project>($"/api/projects/{id}", IdentityApp.Json))!.Status);
    }

    [Fact]
    public async Task Settings_UpdatePartially_ThenInvalid400WithNoPartialWrite()
    {
        // Arrange
        var user = await app.CreateUserAsync("settings");
        var id = await app.CreateProjectAsync(user.Key);
        using var client = app.Client(user.Key);

        // Act
        using var update = await client.PatchAsJsonAsync($"/api/projects/{id}/settings", new { requireStatusClearBeforeEdit = true, frameTolerance = 2 });
        using var invalid = await client.PatchAsJsonAsync($"/api/projects/{id}/settings", new { frameTolerance = 5, fpsTolerance = -0.1 });
        using var tooMany = await client.PatchAsJsonAsync($"/api/projects/{id}/settings", new { frameTolerance = 5000 });
        using var wrongType = await client.PatchAsync(new Uri($"/api/projects/{id}/settings", UriKind.Relative), Json("{\"fpsTolerance\":\"fast\"}"));
        using var empty = await client.PatchAsync(new Uri($"/api/projects/{id}/settings", UriKind.Relative), Json("{}"));
        var settings = await client.GetFromJsonAsync<ProjectSettings>($"/api/projects/{id}/settings", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        await IdentityApp.AssertFieldErrorAsync(invalid, "fpsTolerance");
        await IdentityApp.AssertFieldErrorAsync(tooMany, "frameTolerance");
        await IdentityApp.AssertFieldErrorAsync(wrongType, "fpsTolerance");
        await IdentityApp.AssertFieldErrorAsync(empty, "body");
        Assert.Equal(new ProjectSettings(true, 2, 0.2), settings);
    }

    [Fact]
    public async Task OrganizationAdmin_ListsAndJoinsAnyProjectOfTheOrganization()
    {
        // Arrange
        var owner = await app.CreateUserAsync("orgowned");
        var orgAdmin = await app.CreateUserAsync("orgadmin", OrgRole.Admin);
        var id = await app.CreateProjectAsync(owner.Key, "visible to admins");
        using var client = app.Client(orgAdmin.Key);
        using var before = await client.GetAsync(new Uri($"/api/projects/{id}", UriKind.Relative));

        // Act
        var listed = await client.GetFromJsonAsync<JsonElement>($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/projects?pageSize=200");
        using var join = await client.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/projects/{id}/join", new { role = "Reviewer" });
        using var after = await client.GetAsync(new Uri($"/api/projects/{id}", UriKind.Relative));
        using var joinMissing = await client.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/projects/p_nothere/join", new { });

        // Assert
        await IdentityApp.AssertProblemAsync(before, HttpStatusCode.NotFound);
        Assert.Contains(listed.GetProperty("items").EnumerateArray(), p => p.GetProperty("id").GetString() == id);
        Assert.Equal(HttpStatusCode.Created, join.StatusCode);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        await IdentityApp.AssertProblemAsync(joinMissing, HttpStatusCode.NotFound);
    }
}
