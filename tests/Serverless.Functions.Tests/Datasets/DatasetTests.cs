using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>Datasets through HTTP on SQLite and Azurite: create, rename, list with counts, get, delete.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class DatasetTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task Create_ThenGet_NameTrimmedAndCountZero()
    {
        // Arrange
        var scene = await _app.SceneAsync("dscreate");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var created = await client.PostAsJsonAsync($"/api/projects/{scene.ProjectId}/datasets", new { name = "  Cats  " });
        var dataset = (await created.Content.ReadFromJsonAsync<Dataset>(IdentityApp.Json))!;
        var fetched = await client.GetFromJsonAsync<Dataset>($"/api/projects/{scene.ProjectId}/datasets/{dataset.Id}", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/projects/{scene.ProjectId}/datasets/{dataset.Id}", created.Headers.Location?.OriginalString);
        Assert.Equal("Cats", dataset.Name);
        Assert.Equal(dataset, fetched);
        Assert.Equal(0, fetched!.ItemCount);
        Assert.Equal(scene.Owner.Id, fetched.CreatedBy);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"name\":\"   \"}")]
    [InlineData("{\"name\":42}")]
    public async Task Create_BadName_400NamingName(string json)
    {
        // Arrange
        var scene = await _app.SceneAsync("dsbad");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PostAsync(new Uri($"/api/projects/{scene.ProjectId}/datasets", UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{scene.ProjectId}/datasets");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "name");
        Assert.Equal(1, list.GetProperty("items").GetArrayLength()); // only the scene's own dataset
    }

    [Fact]
    public async Task Rename_ChangesNameOnly()
    {
        // Arrange
        var scene = await _app.SceneAsync("dsrename");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.PatchAsJsonAsync(scene.Dataset, new { name = "renamed" });
        var renamed = (await response.Content.ReadFromJsonAsync<Dataset>(IdentityApp.Json))!;
        using var missing = await client.PatchAsJsonAsync($"/api/projects/{scene.ProjectId}/datasets/d_doesnotexist", new { name = "x" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("renamed", renamed.Name);
        Assert.Equal(scene.DatasetId, renamed.Id);
        await IdentityApp.AssertProblemAsync(missing, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task List_PagedWithItemCountsMaintainedByItemWrites()
    {
        // Arrange
        var scene = await _app.SceneAsync("dslist");
        using var client = _app.Client(scene.Owner.Key);
        using var second = await client.PostAsJsonAsync($"/api/projects/{scene.ProjectId}/datasets", new { name = "second" });
        using var bulk = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = new[] { new { path = "/a.json", content = 1 }, new { path = "/b.json", content = 2 }, new { path = "/c.json", content = 3 } } });
        using var upload = await client.PutAsync(new Uri(scene.Items + "?path=/d.txt", UriKind.Relative), new ByteArrayContent("hello"u8.ToArray()));
        var items = await client.PostAsync(new Uri(scene.Items + "/query", UriKind.Relative), new StringContent("{}"));
        var firstItem = (await items.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items")[0].GetProperty("id").GetString();
        using var deleted = await client.DeleteAsync(new Uri($"{scene.Items}/{firstItem}", UriKind.Relative));

        // Act
        var page1 = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{scene.ProjectId}/datasets?pageSize=1");
        var token = Uri.EscapeDataString(page1.GetProperty("continuationToken").GetString()!);
        var page2 = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{scene.ProjectId}/datasets?pageSize=1&continuationToken={token}");

        // Assert
        Assert.Equal(HttpStatusCode.OK, bulk.StatusCode);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        var first = Assert.Single(page1.GetProperty("items").EnumerateArray());
        var next = Assert.Single(page2.GetProperty("items").EnumerateArray());
        Assert.Equal(scene.DatasetId, first.GetProperty("id").GetString());
        Assert.Equal(3, first.GetProperty("itemCount").GetInt64());
        Assert.Equal("second", next.GetProperty("name").GetString());
        Assert.Equal(0, next.GetProperty("itemCount").GetInt64());
    }

    [Fact]
    public async Task Delete_WithItems_409UnlessForced()
    {
        // Arrange
        var scene = await _app.SceneAsync("dsdelete");
        using var client = _app.Client(scene.Owner.Key);
        using var bulk = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = new[] { new { path = "/a.json", content = "x" } } });

        // Act
        using var refused = await client.DeleteAsync(new Uri(scene.Dataset, UriKind.Relative));
        using var stillThere = await client.GetAsync(new Uri(scene.Dataset, UriKind.Relative));
        using var forced = await client.DeleteAsync(new Uri(scene.Dataset + "?force=true", UriKind.Relative));
        using var gone = await client.GetAsync(new Uri(scene.Dataset, UriKind.Relative));
        using var again = await client.DeleteAsync(new Uri(scene.Dataset + "?force=true", UriKind.Relative));

        // Assert
        var problem = await IdentityApp.AssertProblemAsync(refused, HttpStatusCode.Conflict);
        Assert.Contains("force=true", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, forced.StatusCode);
        await IdentityApp.AssertProblemAsync(gone, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(again, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_Empty_202AndGoneFromList()
    {
        // Arrange
        var scene = await _app.SceneAsync("dsdelempty");
        using var client = _app.Client(scene.Owner.Key);

        // Act
        using var response = await client.DeleteAsync(new Uri(scene.Dataset, UriKind.Relative));
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{scene.ProjectId}/datasets");

        // Assert
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(0, list.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task DatasetOfAnotherProject_ThroughOwnProject_404()
    {
        // Arrange: one owner of two projects aims project 1's route at project 2's dataset.
        var scene = await _app.SceneAsync("dscross");
        using var client = _app.Client(scene.Owner.Key);
        using var project = await client.PostAsJsonAsync("/api/projects", new { name = "other" });
        var otherProject = (await project.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // Act
        using var get = await client.GetAsync(new Uri($"/api/projects/{otherProject}/datasets/{scene.DatasetId}", UriKind.Relative));
        using var delete = await client.DeleteAsync(new Uri($"/api/projects/{otherProject}/datasets/{scene.DatasetId}", UriKind.Relative));
        using var items = await client.PostAsync(new Uri($"/api/projects/{otherProject}/datasets/{scene.DatasetId}/items/query", UriKind.Relative), new StringContent("{}"));
        using var stillThere = await client.GetAsync(new Uri(scene.Dataset, UriKind.Relative));

        // Assert
        await IdentityApp.AssertProblemAsync(get, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(delete, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(items, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);
    }

    [Theory]
    [InlineData(ProjectRole.Annotator, "POST")]
    [InlineData(ProjectRole.Reviewer, "PATCH")]
    [InlineData(ProjectRole.AnnotationManager, "DELETE")]
    public async Task RoleWithoutPermission_403AndNothingChanges(ProjectRole role, string method)
    {
        // Arrange
        var scene = await _app.SceneAsync("dsrole" + role);
        var member = await _app.CreateUserAsync("dsmember" + role);
        await _app.AddMemberAsync(scene, member, role);
        using var client = _app.Client(member.Key);
        using var request = new HttpRequestMessage(new HttpMethod(method), method == "POST" ? $"/api/projects/{scene.ProjectId}/datasets" : scene.Dataset)
        {
            Content = JsonContent.Create(new { name = "changed" }),
        };

        // Act
        using var response = await client.SendAsync(request);
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{scene.ProjectId}/datasets");

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        var only = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal("d", only.GetProperty("name").GetString());
    }
}
