using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Identity;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Projects;

/// <summary>Moving a project to another organization and copying a project, through HTTP on SQLite.</summary>
public sealed class MoveCopyTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    private const string Home = IdentityBootstrap.DefaultOrganizationId;

    [Fact]
    public async Task Move_OwnerWhoAdministersTarget_TargetAdminsListAndJoin_OldOrgBecomesCompany()
    {
        // Arrange: a project of the default org; the admin of another org is made its Owner through a labeling company.
        var creator = await app.CreateUserAsync("mvcreator");
        var project = await app.CreateProjectAsync(creator.Key, "moving");
        var target = await app.CreateOrganizationAsync("mv target");
        using var creatorClient = app.Client(creator.Key);
        using var company = await creatorClient.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{target.OrgId}", UriKind.Relative), null);
        await app.AddMemberAsync(creator.Key, project, target.Id, ProjectRole.Owner);
        var targetAdmin2 = await app.CreateUserAsync("mvadmin2", OrgRole.Admin, target.OrgId, target.Key);
        using var mover = app.Client(target.Key);
        using var homeAdmin = app.Client(IdentityApp.AdminKey);

        // Act
        using var moved = await mover.PostAsJsonAsync($"/api/projects/{project}/move", new { orgId = target.OrgId });
        var body = await moved.Content.ReadFromJsonAsync<JsonElement>();
        using var admin2 = app.Client(targetAdmin2.Key);
        var listedInTarget = await admin2.GetFromJsonAsync<JsonElement>($"/api/orgs/{target.OrgId}/projects");
        using var join = await admin2.PostAsJsonAsync($"/api/orgs/{target.OrgId}/projects/{project}/join", new { role = "Developer" });
        var listedInHome = await homeAdmin.GetFromJsonAsync<JsonElement>($"/api/orgs/{Home}/projects");
        using var homeJoin = await homeAdmin.PostAsJsonAsync($"/api/orgs/{Home}/projects/{project}/join", new { });
        using var creatorReads = await creatorClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));
        using var movedAgain = await mover.PostAsJsonAsync($"/api/projects/{project}/move", new { orgId = target.OrgId });

        // Assert
        Assert.Equal(HttpStatusCode.Created, company.StatusCode);
        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);
        Assert.Equal(target.OrgId, body.GetProperty("orgId").GetString());
        Assert.Equal([Home], body.GetProperty("labelingCompanies").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains(listedInTarget.GetProperty("items").EnumerateArray(), p => p.GetProperty("id").GetString() == project);
        Assert.Equal(HttpStatusCode.Created, join.StatusCode);
        Assert.DoesNotContain(listedInHome.GetProperty("items").EnumerateArray(), p => p.GetProperty("id").GetString() == project);
        await IdentityApp.AssertProblemAsync(homeJoin, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, creatorReads.StatusCode); // still a member, now from a labeling company
        await IdentityApp.AssertProblemAsync(movedAgain, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Move_NotAdminOfTarget_OtherOrg_UnknownOrg_MissingOrg_403Or404Or400()
    {
        // Arrange
        var owner = await app.CreateUserAsync("mvowner");
        var project = await app.CreateProjectAsync(owner.Key);
        var other = await app.CreateOrganizationAsync("mv other");
        using var client = app.Client(owner.Key);

        // Act
        using var memberOfHome = await client.PostAsJsonAsync($"/api/projects/{project}/move", new { orgId = Home });
        using var foreign = await client.PostAsJsonAsync($"/api/projects/{project}/move", new { orgId = other.OrgId });
        using var unknown = await client.PostAsJsonAsync($"/api/projects/{project}/move", new { orgId = "o_nothing" });
        using var missing = await client.PostAsJsonAsync($"/api/projects/{project}/move", new { });
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}");

        // Assert
        await IdentityApp.AssertProblemAsync(memberOfHome, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(foreign, HttpStatusCode.Forbidden);
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertFieldErrorAsync(missing, "orgId");
        Assert.Equal(Home, after.GetProperty("orgId").GetString());
    }

    [Fact]
    public async Task Copy_SettingsRecipesMembersGroups_CallerOwner_SourceUnchanged()
    {
        // Arrange
        var owner = await app.CreateUserAsync("cpowner");
        var developer = await app.CreateUserAsync("cpdev");
        var annotator = await app.CreateUserAsync("cpann");
        var grouped = await app.CreateUserAsync("cpgrouped");
        var project = await app.CreateProjectAsync(owner.Key, "source");
        using var ownerClient = app.Client(owner.Key);
        await app.AddMemberAsync(owner.Key, project, developer.Id, ProjectRole.Developer);
        await app.AddMemberAsync(owner.Key, project, annotator.Id, ProjectRole.Annotator);
        using var admin = app.Client(IdentityApp.AdminKey);
        using var group = await admin.PostAsJsonAsync($"/api/orgs/{Home}/groups", new { name = "cp team" });
        var groupId = (await group.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var _ = await admin.PutAsJsonAsync($"/api/orgs/{Home}/groups/{groupId}/members/{grouped.Id}", new { });
        using var __ = await ownerClient.PutAsJsonAsync($"/api/projects/{project}/groups/{groupId}", new { role = "Reviewer" });
        using var ___ = await ownerClient.PatchAsJsonAsync($"/api/projects/{project}/settings", new { frameTolerance = 7, showTasksByOrganization = true });
        using var recipe = await ownerClient.PostAsJsonAsync($"/api/projects/{project}/recipes", new
        {
            name = "vehicles",
            classes = new object[] { new { name = "car", color = "#FF0000", shape = "box" } },
            instructions = "Box every car.",
        });
        Assert.Equal(HttpStatusCode.Created, recipe.StatusCode);
        using var devClient = app.Client(developer.Key);

        // Act
        using var copied = await devClient.PostAsJsonAsync($"/api/projects/{project}/copy", new { name = "the copy" });
        var copy = await copied.Content.ReadFromJsonAsync<JsonElement>();
        var copyId = copy.GetProperty("id").GetString()!;
        var members = await devClient.GetFromJsonAsync<JsonElement>($"/api/projects/{copyId}/members");
        var groups = await devClient.GetFromJsonAsync<JsonElement>($"/api/projects/{copyId}/groups");
        var recipes = await devClient.GetFromJsonAsync<JsonElement>($"/api/projects/{copyId}/recipes");
        var sourceMembers = await ownerClient.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        using var defaultName = await ownerClient.PostAsJsonAsync($"/api/projects/{project}/copy", new { });

        // Assert
        Assert.Equal(HttpStatusCode.Created, copied.StatusCode);
        Assert.Equal("the copy", copy.GetProperty("name").GetString());
        Assert.Equal(Home, copy.GetProperty("orgId").GetString());
        Assert.Equal(7, copy.GetProperty("settings").GetProperty("frameTolerance").GetInt32());
        Assert.True(copy.GetProperty("settings").GetProperty("showTasksByOrganization").GetBoolean());
        var roles = members.GetProperty("items").EnumerateArray().ToDictionary(m => m.GetProperty("userId").GetString()!, m => m.GetProperty("role").GetString());
        Assert.Equal("Owner", roles[developer.Id]);
        Assert.Equal("Owner", roles[owner.Id]);
        Assert.Equal("Annotator", roles[annotator.Id]);
        Assert.Equal("Reviewer", roles[grouped.Id]);
        Assert.Equal(2, copy.GetProperty("ownerCount").GetInt32());
        Assert.Equal(groupId, Assert.Single(groups.EnumerateArray()).GetProperty("groupId").GetString());
        var copiedRecipe = Assert.Single(recipes.GetProperty("items").EnumerateArray());
        Assert.Equal("vehicles", copiedRecipe.GetProperty("name").GetString());
        Assert.Equal(1, copiedRecipe.GetProperty("classCount").GetInt32());
        Assert.Equal("Developer", sourceMembers.GetProperty("items").EnumerateArray().Single(m => m.GetProperty("userId").GetString() == developer.Id).GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.Created, defaultName.StatusCode);
        Assert.Equal("source (copy)", (await defaultName.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task OpenApi_CopyOperation_SaysDatasetsNotYet()
    {
        // Arrange
        using var client = app.Client();

        // Act
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        // Assert
        var copy = document.GetProperty("paths").GetProperty("/api/projects/{projectId}/copy").GetProperty("post");
        Assert.Contains("includeDatasets", copy.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.True(document.GetProperty("paths").TryGetProperty("/api/projects/{projectId}/move", out _));
    }

    [Fact]
    public async Task Copy_BadName400_CallerOfAnotherOrg403_NothingCreated()
    {
        // Arrange
        var owner = await app.CreateUserAsync("cperr");
        var project = await app.CreateProjectAsync(owner.Key);
        var company = await app.CreateOrganizationAsync("cp vendor");
        using var client = app.Client(owner.Key);
        using var _ = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative), null);
        await app.AddMemberAsync(owner.Key, project, company.Id, ProjectRole.Developer);
        using var vendor = app.Client(company.Key);
        var before = await client.GetFromJsonAsync<JsonElement>("/api/projects");

        // Act
        using var blankName = await client.PostAsJsonAsync($"/api/projects/{project}/copy", new { name = " " });
        using var byVendor = await vendor.PostAsJsonAsync($"/api/projects/{project}/copy", new { });
        var after = await client.GetFromJsonAsync<JsonElement>("/api/projects");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(blankName, "name");
        await IdentityApp.AssertProblemAsync(byVendor, HttpStatusCode.Forbidden);
        Assert.Equal(before.GetProperty("items").GetArrayLength(), after.GetProperty("items").GetArrayLength());
    }
}
