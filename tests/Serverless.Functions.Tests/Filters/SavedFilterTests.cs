using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Filters;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Filters;

/// <summary>Saved item filters of a project, through HTTP on SQLite.</summary>
public sealed class SavedFilterTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    [Fact]
    public async Task SavedFilter_CreateGetListUpdateDelete_RoundTrips()
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfcrud");
        using var client = app.Client(owner.Key);
        var query = new
        {
            filter = new { dir = "/cats", size = new Dictionary<string, int> { ["$gt"] = 5 } },
            sort = new[] { new { field = "createdAt", order = "desc" } },
            pageSize = 20,
        };

        // Act
        using var created = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "Big cats", query });
        var filter = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = filter.GetProperty("id").GetString()!;
        var fetched = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters/{id}");
        using var renamed = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/{id}", new { name = "Large cats" });
        using var requeried = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/{id}", new { query = new { filter = new { type = "image" } } });
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters");
        using var deleted = await client.DeleteAsync(new Uri($"/api/projects/{project}/filters/{id}", UriKind.Relative));
        using var afterDelete = await client.GetAsync(new Uri($"/api/projects/{project}/filters/{id}", UriKind.Relative));
        using var deleteAgain = await client.DeleteAsync(new Uri($"/api/projects/{project}/filters/{id}", UriKind.Relative));
        using var nameFreed = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "large CATS", query = new { } });

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(owner.Id, filter.GetProperty("createdBy").GetString());
        Assert.Equal("/cats", fetched.GetProperty("query").GetProperty("filter").GetProperty("dir").GetString());
        Assert.Equal(20, fetched.GetProperty("query").GetProperty("pageSize").GetInt32());
        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        Assert.Equal("Large cats", (await renamed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, requeried.StatusCode);
        var only = Assert.Single(list.EnumerateArray());
        Assert.Equal("Large cats", only.GetProperty("name").GetString());
        Assert.Equal("image", only.GetProperty("query").GetProperty("filter").GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await IdentityApp.AssertProblemAsync(afterDelete, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(deleteAgain, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Created, nameFreed.StatusCode);
    }

    [Theory]
    [InlineData("""{"name": "x", "query": {"filter": {"colour": "red"}}}""", "/query/filter/colour")]
    [InlineData("""{"name": "x", "query": {"filter": {"size": {"$gt": "big"}}}}""", "/query/filter/size/$gt")]
    [InlineData("""{"name": "x", "query": {"pageSize": 100000}}""", "/query/pageSize")]
    [InlineData("""{"name": "x", "query": {"filter": {}, "continuation": "abc"}}""", "/query/continuation")]
    [InlineData("""{"name": "x", "query": {"page": 2}}""", "/query/page")]
    [InlineData("""{"name": "x", "query": [1]}""", "/query")]
    [InlineData("""{"name": "x"}""", "query")]
    [InlineData("""{"query": {}}""", "name")]
    [InlineData("""{"name": "  ", "query": {}}""", "name")]
    public async Task Create_InvalidBody_400NamingThePath(string body, string field)
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfbad");
        using var client = app.Client(owner.Key);

        // Act
        using var response = await client.PostAsync(new Uri($"/api/projects/{project}/filters", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
        Assert.Equal(0, list.GetArrayLength());
    }

    [Fact]
    public async Task Update_InvalidQueryEmptyBodyTakenNameUnknownId_400Or409Or404_NothingChanges()
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfupd");
        using var client = app.Client(owner.Key);
        var a = await CreateAsync(client, project, "A");
        await CreateAsync(client, project, "B");

        // Act
        using var badQuery = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/{a}", new { query = new { filter = new { nope = 1 } } });
        using var empty = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/{a}", new { });
        using var taken = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/{a}", new { name = "b" });
        using var unknown = await client.PatchAsJsonAsync($"/api/projects/{project}/filters/f_nothing", new { name = "C" });
        using var unknownGet = await client.GetAsync(new Uri($"/api/projects/{project}/filters/f_nothing", UriKind.Relative));
        var fetched = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters/{a}");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(badQuery, "/query/filter/nope");
        await IdentityApp.AssertFieldErrorAsync(empty, "body");
        await IdentityApp.AssertProblemAsync(taken, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(unknownGet, HttpStatusCode.NotFound);
        Assert.Equal("A", fetched.GetProperty("name").GetString());
        Assert.Equal("/a", fetched.GetProperty("query").GetProperty("filter").GetProperty("dir").GetString());
    }

    [Fact]
    public async Task Create_DuplicateNameIgnoringCase_409()
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfdup");
        using var client = app.Client(owner.Key);
        await CreateAsync(client, project, "Cats");

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "CATS", query = new { } });
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters");

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Equal(1, list.GetArrayLength());
    }

    [Fact]
    public async Task Create_OverTheCap_409_AndDeleteMakesRoom()
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfcap");
        using var client = app.Client(owner.Key);
        string first = "";
        for (var i = 0; i < SavedFilter.MaxPerProject; i++)
        {
            var id = await CreateAsync(client, project, $"f{i}");
            first = i == 0 ? id : first;
        }

        // Act
        using var over = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "one more", query = new { } });
        using var deleted = await client.DeleteAsync(new Uri($"/api/projects/{project}/filters/{first}", UriKind.Relative));
        using var fits = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "one more", query = new { } });

        // Assert
        await IdentityApp.AssertProblemAsync(over, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.Created, fits.StatusCode);
    }

    [Fact]
    public async Task Annotator_ReadsButCannotManage_OtherProjectsFilter404()
    {
        // Arrange
        var (project, owner) = await ProjectAsync("sfroles");
        var annotator = await app.CreateUserAsync("sfannotator");
        await app.AddMemberAsync(owner.Key, project, annotator.Id, ProjectRole.Annotator);
        using var ownerClient = app.Client(owner.Key);
        var id = await CreateAsync(ownerClient, project, "mine");
        var otherProject = await app.CreateProjectAsync(owner.Key, "other");
        using var client = app.Client(annotator.Key);

        // Act
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/filters");
        using var get = await client.GetAsync(new Uri($"/api/projects/{project}/filters/{id}", UriKind.Relative));
        using var create = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "x", query = new { } });
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{project}/filters/{id}", UriKind.Relative));
        using var viaOtherProject = await ownerClient.GetAsync(new Uri($"/api/projects/{otherProject}/filters/{id}", UriKind.Relative));

        // Assert
        Assert.Equal(1, list.GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        await IdentityApp.AssertProblemAsync(create, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(delete, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(viaOtherProject, HttpStatusCode.NotFound);
    }

    private async Task<(string Project, TestUser Owner)> ProjectAsync(string name)
    {
        var owner = await app.CreateUserAsync(name);
        return (await app.CreateProjectAsync(owner.Key, name), owner);
    }

    private static async Task<string> CreateAsync(HttpClient client, string project, string name)
    {
        using var created = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name, query = new { filter = new { dir = "/a" } } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }
}
