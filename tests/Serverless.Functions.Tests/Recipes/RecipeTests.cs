using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Recipes;
using Serverless.Functions.Identity;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Recipes;

/// <summary>Recipes through HTTP on a real SQLite file: CRUD, validation, ETags, access and the in-use guard.</summary>
public sealed class RecipeTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    private static object Car(string name = "car") => new
    {
        name,
        color = "#FF0000",
        shape = "box",
        attributes = new object[]
        {
            new { key = "occluded", kind = "boolean", required = true },
            new { key = "color", kind = "radio", options = new[] { "red", "blue" } },
            new { key = "speed", kind = "number", min = 0, max = 200, step = 0.5 },
        },
    };

    private static object Body(string name = "Vehicles", params object[] classes) => new { name, classes, instructions = "Draw tight boxes." };

    private async Task<(HttpClient Client, string ProjectId)> OwnerWithProjectAsync()
    {
        var owner = await app.CreateUserAsync("owner");
        var projectId = await app.CreateProjectAsync(owner.Key);
        return (app.Client(owner.Key), projectId);
    }

    private static async Task<(Recipe Recipe, string ETag)> CreateAsync(HttpClient client, string projectId, object? body = null)
    {
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", body ?? Body("Vehicles", Car()));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return ((await response.Content.ReadFromJsonAsync<Recipe>(IdentityApp.Json))!, response.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Create_ValidRecipe_201ThenGetAndListReturnIt()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;

        // Act
        using var created = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", Body(" Vehicles ", Car(), new { name = "road", color = "#00ff00", shape = "polygon" }));
        var recipe = (await created.Content.ReadFromJsonAsync<Recipe>(IdentityApp.Json))!;
        using var get = await client.GetAsync(new Uri($"/api/projects/{projectId}/recipes/{recipe.Id}", UriKind.Relative));
        var fetched = (await get.Content.ReadFromJsonAsync<Recipe>(IdentityApp.Json))!;
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/recipes");

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/api/projects/{projectId}/recipes/{recipe.Id}", created.Headers.Location!.OriginalString);
        Assert.NotNull(created.Headers.ETag);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(created.Headers.ETag, get.Headers.ETag);
        Assert.Equal("Vehicles", fetched.Name);
        Assert.Equal(projectId, fetched.ProjectId);
        Assert.Equal(["car", "road"], fetched.Classes.Select(c => c.Name));
        Assert.Equal("#ff0000", fetched.Classes[0].Color);
        Assert.Equal([AttributeKind.Boolean, AttributeKind.Radio, AttributeKind.Number], fetched.Classes[0].Attributes.Select(a => a.Kind));
        Assert.Equal(ShapeKind.Polygon, fetched.Classes[1].Shape);
        Assert.Empty(fetched.UsedBy);
        Assert.Null(fetched.InstructionsPdf);
        var item = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal(recipe.Id, item.GetProperty("id").GetString());
        Assert.Equal(2, item.GetProperty("classCount").GetInt32());
    }

    [Fact]
    public async Task Create_DuplicateClassName_400NamingClassesOneName()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", Body("Vehicles", Car("Car"), Car("CAR")));
        var list = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/recipes");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "/classes/1/name");
        Assert.Empty(list.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task Create_SeveralErrors_400NamingEveryPointer()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var body = new
        {
            name = "",
            classes = new object[]
            {
                new { name = "a", color = "red", shape = "circle" },
                new { name = "b", color = "#000000", shape = "point", attributes = new object[] { new { key = "n", kind = "number", min = 5, max = 1 } } },
            },
        };

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", body);
        var problem = await IdentityApp.AssertProblemAsync(response, HttpStatusCode.BadRequest);

        // Assert
        var keys = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(["/classes/0/color", "/classes/0/shape", "/classes/1/attributes/0/max", "/name"], keys);
    }

    [Fact]
    public async Task Create_WrongJsonType_400NamingTheField()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;

        // Act
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", new { name = "r", classes = "not a list" });

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "classes");
    }

    [Fact]
    public async Task Update_WithCurrentETag_200_WithStaleETag_412AndUnchanged()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (recipe, etag) = await CreateAsync(client, projectId);
        var uri = new Uri($"/api/projects/{projectId}/recipes/{recipe.Id}", UriKind.Relative);

        // Act
        using var first = new HttpRequestMessage(HttpMethod.Put, uri) { Content = JsonContent.Create(Body("Renamed", Car(), Car("bus"))) };
        first.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        using var ok = await client.SendAsync(first);
        using var second = new HttpRequestMessage(HttpMethod.Put, uri) { Content = JsonContent.Create(Body("Stale write", Car())) };
        second.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        using var stale = await client.SendAsync(second);
        var current = (await client.GetFromJsonAsync<Recipe>(uri, IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.NotEqual(etag, ok.Headers.ETag!.Tag);
        await IdentityApp.AssertProblemAsync(stale, HttpStatusCode.PreconditionFailed);
        Assert.Equal("Renamed", current.Name);
        Assert.Equal(["car", "bus"], current.Classes.Select(c => c.Name));
        Assert.Equal(recipe.CreatedAt, current.CreatedAt);
    }

    [Fact]
    public async Task Update_Invalid_400AndUnchanged()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (recipe, _) = await CreateAsync(client, projectId);
        var uri = new Uri($"/api/projects/{projectId}/recipes/{recipe.Id}", UriKind.Relative);

        // Act
        using var response = await client.PutAsJsonAsync(uri, Body("Bad", new { name = "car", color = "#ff0000", shape = "box", attributes = new object[] { new { key = "c", kind = "radio" } } }));
        var current = (await client.GetFromJsonAsync<Recipe>(uri, IdentityApp.Json))!;

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "/classes/0/attributes/0/options");
        Assert.Equal("Vehicles", current.Name);
    }

    [Fact]
    public async Task Routes_UnknownOrMalformedRecipeId_404()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var prefix = $"/api/projects/{projectId}/recipes";

        // Act
        using var get = await client.GetAsync(new Uri($"{prefix}/r_doesnotexist", UriKind.Relative));
        using var malformed = await client.GetAsync(new Uri($"{prefix}/bad%20id", UriKind.Relative));
        using var put = await client.PutAsJsonAsync($"{prefix}/r_doesnotexist", Body("x"));
        using var delete = await client.DeleteAsync(new Uri($"{prefix}/r_doesnotexist", UriKind.Relative));
        using var instructions = await client.GetAsync(new Uri($"{prefix}/r_doesnotexist/instructions", UriKind.Relative));

        // Assert
        foreach (var response in new[] { get, malformed, put, delete, instructions })
        {
            await IdentityApp.AssertProblemAsync(response, HttpStatusCode.NotFound);
        }
    }

    [Fact]
    public async Task OtherProject_RecipeIdOfAnotherProjectOrNonMember_404AndUnchanged()
    {
        // Arrange: owner A has a recipe; owner B uses its id under B's project; B also aims at A's project directly.
        var (clientA, projectA) = await OwnerWithProjectAsync();
        using var _ = clientA;
        var (recipe, _) = await CreateAsync(clientA, projectA);
        var (clientB, projectB) = await OwnerWithProjectAsync();
        using var __ = clientB;

        // Act
        using var viaOwnProject = await clientB.GetAsync(new Uri($"/api/projects/{projectB}/recipes/{recipe.Id}", UriKind.Relative));
        using var deleteViaOwnProject = await clientB.DeleteAsync(new Uri($"/api/projects/{projectB}/recipes/{recipe.Id}", UriKind.Relative));
        using var direct = await clientB.GetAsync(new Uri($"/api/projects/{projectA}/recipes/{recipe.Id}", UriKind.Relative));
        using var directPut = await clientB.PutAsJsonAsync($"/api/projects/{projectA}/recipes/{recipe.Id}", Body("hijack"));
        var current = (await clientA.GetFromJsonAsync<Recipe>($"/api/projects/{projectA}/recipes/{recipe.Id}", IdentityApp.Json))!;

        // Assert
        foreach (var response in new[] { viaOwnProject, deleteViaOwnProject, direct, directPut })
        {
            await IdentityApp.AssertProblemAsync(response, HttpStatusCode.NotFound);
        }

        Assert.Equal("Vehicles", current.Name);
    }

    [Fact]
    public async Task Annotator_ReadsButCannotChange_403AndUnchanged()
    {
        // Arrange
        var (owner, projectId) = await OwnerWithProjectAsync();
        using var _ = owner;
        var (recipe, _) = await CreateAsync(owner, projectId);
        var annotator = await app.CreateUserAsync("annotator");
        var ownerKey = owner.DefaultRequestHeaders.Authorization!.Parameter!;
        await app.AddMemberAsync(ownerKey, projectId, annotator.Id, ProjectRole.Annotator);
        using var client = app.Client(annotator.Key);
        var uri = $"/api/projects/{projectId}/recipes/{recipe.Id}";

        // Act
        using var get = await client.GetAsync(new Uri(uri, UriKind.Relative));
        using var list = await client.GetAsync(new Uri($"/api/projects/{projectId}/recipes", UriKind.Relative));
        using var instructions = await client.GetAsync(new Uri(uri + "/instructions", UriKind.Relative));
        using var create = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", Body("mine", Car()));
        using var update = await client.PutAsJsonAsync(uri, Body("changed", Car()));
        using var delete = await client.DeleteAsync(new Uri(uri, UriKind.Relative));
        using var pdf = await client.PutAsync(new Uri(uri + "/instructions/pdf", UriKind.Relative), new ByteArrayContent("%PDF-1.4\n"u8.ToArray()));
        var after = (await owner.GetFromJsonAsync<Recipe>(uri, IdentityApp.Json))!;
        var count = (await owner.GetFromJsonAsync<JsonElement>($"/api/projects/{projectId}/recipes")).GetProperty("items").GetArrayLength();

        // Assert
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal(HttpStatusCode.OK, instructions.StatusCode);
        foreach (var response in new[] { create, update, delete, pdf })
        {
            await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        }

        Assert.Equal("Vehicles", after.Name);
        Assert.Equal(1, count);
    }

    [Fact]
    public async Task Delete_WhileADatasetUsesIt_409_AfterRelease_204ThenGone()
    {
        // Arrange: the datasets feature will call the store; here the test does.
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (recipe, _) = await CreateAsync(client, projectId);
        var store = app.Factory.Services.GetRequiredService<RecipeStore>();
        Assert.True(await store.AddUserAsync(projectId, recipe.Id, "d_one", CancellationToken.None));
        Assert.True(await store.AddUserAsync(projectId, recipe.Id, "d_one", CancellationToken.None));
        var uri = new Uri($"/api/projects/{projectId}/recipes/{recipe.Id}", UriKind.Relative);

        // Act
        using var refused = await client.DeleteAsync(uri);
        var whileUsed = (await client.GetFromJsonAsync<Recipe>(uri, IdentityApp.Json))!;
        Assert.True(await store.RemoveUserAsync(projectId, recipe.Id, "d_one", CancellationToken.None));
        using var deleted = await client.DeleteAsync(uri);
        using var get = await client.GetAsync(uri);
        using var again = await client.DeleteAsync(uri);

        // Assert
        var problem = await IdentityApp.AssertProblemAsync(refused, HttpStatusCode.Conflict);
        Assert.Contains("d_one", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(["d_one"], whileUsed.UsedBy);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await IdentityApp.AssertProblemAsync(get, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(again, HttpStatusCode.NotFound);
        Assert.False(await store.AddUserAsync(projectId, recipe.Id, "d_two", CancellationToken.None));
    }

    [Fact]
    public async Task Update_KeepsUsedByThatADatasetSetMeanwhile()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (recipe, _) = await CreateAsync(client, projectId);
        var store = app.Factory.Services.GetRequiredService<RecipeStore>();
        await store.AddUserAsync(projectId, recipe.Id, "d_keep", CancellationToken.None);

        // Act
        using var response = await client.PutAsJsonAsync($"/api/projects/{projectId}/recipes/{recipe.Id}", Body("Renamed", Car()));
        var updated = (await response.Content.ReadFromJsonAsync<Recipe>(IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Renamed", updated.Name);
        Assert.Equal(["d_keep"], updated.UsedBy);
    }

    [Fact]
    public async Task Delete_StaleIfMatch_412AndKept()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (recipe, etag) = await CreateAsync(client, projectId);
        var uri = new Uri($"/api/projects/{projectId}/recipes/{recipe.Id}", UriKind.Relative);
        using var change = await client.PutAsJsonAsync(uri, Body("Changed", Car()));

        // Act
        using var request = new HttpRequestMessage(HttpMethod.Delete, uri);
        request.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        using var response = await client.SendAsync(request);
        using var get = await client.GetAsync(uri);

        // Assert
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.PreconditionFailed);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
    }

    [Fact]
    public async Task StoredRecipe_ValidatesAnnotationsThroughToOntology()
    {
        // Arrange
        var (client, projectId) = await OwnerWithProjectAsync();
        using var _ = client;
        var (created, _) = await CreateAsync(client, projectId);
        var recipe = (await client.GetFromJsonAsync<Recipe>($"/api/projects/{projectId}/recipes/{created.Id}", IdentityApp.Json))!;

        // Act
        var ok = AnnotationValidator.Validate(recipe.ToOntology(), "Car", ShapeKind.Box, new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["occluded"] = true, ["speed"] = 10.5 });
        var bad = AnnotationValidator.Validate(recipe.ToOntology(), "car", ShapeKind.Box, new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["speed"] = 10.25 });

        // Assert
        Assert.Empty(ok);
        Assert.Equal(["/attributes/occluded", "/attributes/speed"], bad.Select(e => e.Path));
    }
}
