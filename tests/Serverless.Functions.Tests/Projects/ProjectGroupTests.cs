using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Projects;

/// <summary>Groups added to projects: memberships, their sources, access and the one-Owner rule, through HTTP on SQLite.</summary>
public sealed class ProjectGroupTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    private const string Org = IdentityBootstrap.DefaultOrganizationId;

    [Fact]
    public async Task AddGroup_EveryUserGetsTheRole_VisibleWithSource_AndAccessFollows()
    {
        // Arrange
        var owner = await app.CreateUserAsync("pgowner");
        var (a, b) = (await app.CreateUserAsync("pga"), await app.CreateUserAsync("pgb"));
        var project = await app.CreateProjectAsync(owner.Key);
        var group = await CreateGroupAsync("pg team", a, b);
        using var client = app.Client(owner.Key);
        using var aClient = app.Client(a.Key);
        using var before = await aClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));

        // Act
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Developer" });
        using var addedAgain = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Developer" });
        using var asDeveloper = await aClient.PatchAsJsonAsync($"/api/projects/{project}/settings", new { frameTolerance = 3 });
        var members = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        var groups = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/groups");
        var mine = await aClient.GetFromJsonAsync<JsonElement>("/api/projects");

        // Assert
        await IdentityApp.AssertProblemAsync(before, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal(HttpStatusCode.OK, addedAgain.StatusCode);
        Assert.Equal(HttpStatusCode.OK, asDeveloper.StatusCode);
        Assert.Equal(3, members.GetProperty("items").GetArrayLength());
        var memberA = Member(members, a.Id);
        Assert.Equal("Developer", memberA.GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, memberA.GetProperty("directRole").ValueKind);
        var grant = Assert.Single(memberA.GetProperty("groups").EnumerateArray());
        Assert.Equal(group, grant.GetProperty("groupId").GetString());
        Assert.Equal("Owner", Member(members, owner.Id).GetProperty("directRole").GetString());
        Assert.Equal("Developer", Assert.Single(groups.EnumerateArray()).GetProperty("role").GetString());
        Assert.Equal("Developer", Assert.Single(mine.GetProperty("items").EnumerateArray()).GetProperty("role").GetString());
    }

    [Fact]
    public async Task RemoveGroup_RemovesItsMemberships_ButKeepsDirectMembers()
    {
        // Arrange
        var owner = await app.CreateUserAsync("rgowner");
        var (onlyGroup, alsoDirect) = (await app.CreateUserAsync("rgonly"), await app.CreateUserAsync("rgdirect"));
        var project = await app.CreateProjectAsync(owner.Key);
        var group = await CreateGroupAsync("rg team", onlyGroup, alsoDirect);
        using var client = app.Client(owner.Key);
        await app.AddMemberAsync(owner.Key, project, alsoDirect.Id, ProjectRole.Reviewer);
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "AnnotationManager" });
        var during = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        using var removeDirectOnlyGroup = await client.DeleteAsync(new Uri($"/api/projects/{project}/members/{onlyGroup.Id}", UriKind.Relative));

        // Act
        using var removed = await client.DeleteAsync(new Uri($"/api/projects/{project}/groups/{group}", UriKind.Relative));
        using var removedAgain = await client.DeleteAsync(new Uri($"/api/projects/{project}/groups/{group}", UriKind.Relative));
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        using var onlyGroupClient = app.Client(onlyGroup.Key);
        using var access = await onlyGroupClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));
        var groups = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/groups");

        // Assert
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal("Reviewer", Member(during, alsoDirect.Id).GetProperty("role").GetString()); // the direct role wins
        Assert.Equal("AnnotationManager", Member(during, onlyGroup.Id).GetProperty("role").GetString());
        await IdentityApp.AssertProblemAsync(removeDirectOnlyGroup, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        await IdentityApp.AssertProblemAsync(removedAgain, HttpStatusCode.NotFound);
        Assert.Equal(2, after.GetProperty("items").GetArrayLength());
        var kept = Member(after, alsoDirect.Id);
        Assert.Equal("Reviewer", kept.GetProperty("role").GetString());
        Assert.Empty(kept.GetProperty("groups").EnumerateArray());
        await IdentityApp.AssertProblemAsync(access, HttpStatusCode.NotFound);
        Assert.Equal(0, groups.GetArrayLength());
    }

    [Fact]
    public async Task GroupMembershipChanges_FollowIntoProjects()
    {
        // Arrange
        var owner = await app.CreateUserAsync("fgowner");
        var late = await app.CreateUserAsync("fglate");
        var project = await app.CreateProjectAsync(owner.Key);
        var group = await CreateGroupAsync("fg team");
        using var client = app.Client(owner.Key);
        using var admin = app.Client(IdentityApp.AdminKey);
        using var lateClient = app.Client(late.Key);
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Annotator" });

        // Act
        using var join = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{group}/members/{late.Id}", new { });
        using var readAfterJoin = await lateClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));
        using var roleChange = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Reviewer" });
        var afterRoleChange = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        using var leave = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{group}/members/{late.Id}", UriKind.Relative));
        using var readAfterLeave = await lateClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal(HttpStatusCode.Created, join.StatusCode);
        Assert.Equal(HttpStatusCode.OK, readAfterJoin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, roleChange.StatusCode);
        Assert.Equal("Reviewer", Member(afterRoleChange, late.Id).GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.NoContent, leave.StatusCode);
        await IdentityApp.AssertProblemAsync(readAfterLeave, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task OwnersOnlyThroughGroup_RemovingGroupUserOrDeletingGroup_409AndNothingChanges()
    {
        // Arrange: the creator hands ownership to a group, then leaves.
        var creator = await app.CreateUserAsync("ogcreator");
        var groupOwner = await app.CreateUserAsync("ogowner");
        var project = await app.CreateProjectAsync(creator.Key);
        var group = await CreateGroupAsync("og owners", groupOwner);
        using var client = app.Client(creator.Key);
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Owner" });
        using var creatorLeaves = await client.DeleteAsync(new Uri($"/api/projects/{project}/members/{creator.Id}", UriKind.Relative));
        using var ownerClient = app.Client(groupOwner.Key);
        using var admin = app.Client(IdentityApp.AdminKey);

        // Act
        using var demoteGroup = await ownerClient.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Developer" });
        using var removeGroup = await ownerClient.DeleteAsync(new Uri($"/api/projects/{project}/groups/{group}", UriKind.Relative));
        using var removeUser = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{group}/members/{groupOwner.Id}", UriKind.Relative));
        using var deleteGroup = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{group}", UriKind.Relative));
        var members = await ownerClient.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
        var project2 = await ownerClient.GetFromJsonAsync<JsonElement>($"/api/projects/{project}");

        // Assert
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, creatorLeaves.StatusCode);
        await IdentityApp.AssertProblemAsync(demoteGroup, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(removeGroup, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(removeUser, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(deleteGroup, HttpStatusCode.Conflict);
        Assert.Equal("Owner", Assert.Single(members.GetProperty("items").EnumerateArray()).GetProperty("role").GetString());
        Assert.Equal(1, project2.GetProperty("ownerCount").GetInt32());
    }

    [Fact]
    public async Task RemoveGroupAndLastDirectOwnerLeave_Concurrently_OneOwnerAlwaysRemains()
    {
        for (var round = 0; round < 5; round++)
        {
            // Arrange: Owner A directly, Owner B only through a group.
            var a = await app.CreateUserAsync($"ccA{round}");
            var b = await app.CreateUserAsync($"ccB{round}");
            var project = await app.CreateProjectAsync(a.Key);
            var group = await CreateGroupAsync($"cc owners {round}", b);
            using var aClient = app.Client(a.Key);
            using var bClient = app.Client(b.Key);
            using var added = await aClient.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Owner" });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);

            // Act
            var removeGroup = bClient.DeleteAsync(new Uri($"/api/projects/{project}/groups/{group}", UriKind.Relative));
            var aLeaves = aClient.DeleteAsync(new Uri($"/api/projects/{project}/members/{a.Id}", UriKind.Relative));
            using var groupResponse = await removeGroup;
            using var leaveResponse = await aLeaves;

            // Assert: never both; whoever is left is an Owner and the group's state is whole.
            Assert.False(groupResponse.IsSuccessStatusCode && leaveResponse.IsSuccessStatusCode, "both succeeded: no Owner left");
            using var survivor = app.Client(leaveResponse.IsSuccessStatusCode ? b.Key : a.Key);
            var members = await survivor.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/members");
            var projectBody = await survivor.GetFromJsonAsync<JsonElement>($"/api/projects/{project}");
            var owners = members.GetProperty("items").EnumerateArray().Count(m => m.GetProperty("role").GetString() == "Owner");
            Assert.True(owners >= 1);
            Assert.Equal(owners, projectBody.GetProperty("ownerCount").GetInt32());
            var groups = await survivor.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/groups");
            Assert.Equal(groupResponse.IsSuccessStatusCode ? 0 : 1, groups.GetArrayLength());
        }
    }

    [Fact]
    public async Task DeleteGroup_RemovesItsMembershipsInEveryProject()
    {
        // Arrange
        var owner = await app.CreateUserAsync("dgowner");
        var user = await app.CreateUserAsync("dguser");
        var (p1, p2) = (await app.CreateProjectAsync(owner.Key, "dg1"), await app.CreateProjectAsync(owner.Key, "dg2"));
        var group = await CreateGroupAsync("dg team", user);
        using var client = app.Client(owner.Key);
        using var admin = app.Client(IdentityApp.AdminKey);
        using var add1 = await client.PutAsJsonAsync($"/api/projects/{p1}/groups/{group}", new { role = "Annotator" });
        using var add2 = await client.PutAsJsonAsync($"/api/projects/{p2}/groups/{group}", new { role = "Reviewer" });
        using var userClient = app.Client(user.Key);
        var mineBefore = await userClient.GetFromJsonAsync<JsonElement>("/api/projects");

        // Act
        using var deleted = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{group}", UriKind.Relative));
        var mineAfter = await userClient.GetFromJsonAsync<JsonElement>("/api/projects");
        var groups1 = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{p1}/groups");

        // Assert
        Assert.Equal(2, mineBefore.GetProperty("items").GetArrayLength());
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(0, mineAfter.GetProperty("items").GetArrayLength());
        Assert.Equal(0, groups1.GetArrayLength());
    }

    [Fact]
    public async Task SetGroup_MissingRoleUnknownOrForeignGroup_400Or404()
    {
        // Arrange
        var owner = await app.CreateUserAsync("sgowner");
        var project = await app.CreateProjectAsync(owner.Key);
        var group = await CreateGroupAsync("sg team");
        var other = await app.CreateOrganizationAsync("sg-elsewhere");
        using var otherAdmin = app.Client(other.Key);
        using var foreign = await otherAdmin.PostAsJsonAsync($"/api/orgs/{other.OrgId}/groups", new { name = "theirs" });
        var foreignId = (await foreign.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var client = app.Client(owner.Key);

        // Act
        using var noRole = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { });
        using var badRole = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Boss" });
        using var unknown = await client.PutAsJsonAsync($"/api/projects/{project}/groups/g_nothing", new { role = "Annotator" });
        using var foreignGroup = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{foreignId}", new { role = "Annotator" });
        using var removeUnknown = await client.DeleteAsync(new Uri($"/api/projects/{project}/groups/g_nothing", UriKind.Relative));
        var groups = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/groups");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(noRole, "role");
        await IdentityApp.AssertFieldErrorAsync(badRole, "role");
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(foreignGroup, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(removeUnknown, HttpStatusCode.NotFound);
        Assert.Equal(0, groups.GetArrayLength());
    }

    [Fact]
    public async Task SetGroup_OverTheCap_409()
    {
        // Arrange
        var owner = await app.CreateUserAsync("capowner");
        var project = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);
        for (var i = 0; i < Serverless.Functions.Projects.ProjectStore.MaxGroupsPerProject; i++)
        {
            var g = await CreateGroupAsync($"cap {i}");
            using var ok = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{g}", new { role = "Annotator" });
            Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
        }

        var extra = await CreateGroupAsync("cap extra");

        // Act
        using var response = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{extra}", new { role = "Annotator" });

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task ProjectStoreDelete_UnlinksItsGroupsAndDeletesItsSavedFilters()
    {
        // Arrange
        var owner = await app.CreateUserAsync("dpowner");
        var user = await app.CreateUserAsync("dpuser");
        var project = await app.CreateProjectAsync(owner.Key);
        var group = await CreateGroupAsync("dp team", user);
        using var client = app.Client(owner.Key);
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{group}", new { role = "Annotator" });
        using var filter = await client.PostAsJsonAsync($"/api/projects/{project}/filters", new { name = "f", query = new { } });
        var groups = app.Factory.Services.GetRequiredService<GroupStore>();
        var filters = app.Factory.Services.GetRequiredService<Serverless.Functions.Filters.SavedFilterStore>();
        var linkedBefore = await groups.ListProjectsAsync(group, CancellationToken.None);

        // Act: the last step of the delete cascade (the HTTP delete runs it in an orchestration; see ProjectDeleteTests).
        var deleted = await app.Factory.Services.GetRequiredService<ProjectStore>().DeleteAsync(project, CancellationToken.None);
        var linkedAfter = await groups.ListProjectsAsync(group, CancellationToken.None);
        var filtersAfter = await filters.ListAsync(project, CancellationToken.None);
        using var userClient = app.Client(user.Key);
        var mine = await userClient.GetFromJsonAsync<JsonElement>("/api/projects");

        // Assert
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal(HttpStatusCode.Created, filter.StatusCode);
        Assert.Single(linkedBefore);
        Assert.True(deleted);
        Assert.Empty(linkedAfter);
        Assert.Empty(filtersAfter);
        Assert.Equal(0, mine.GetProperty("items").GetArrayLength());
    }

    private async Task<string> CreateGroupAsync(string name, params TestUser[] users)
    {
        using var admin = app.Client(IdentityApp.AdminKey);
        using var created = await admin.PostAsJsonAsync($"/api/orgs/{Org}/groups", new { name });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        foreach (var user in users)
        {
            using var added = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/{user.Id}", new { });
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        return id;
    }

    private static JsonElement Member(JsonElement page, string userId) =>
        page.GetProperty("items").EnumerateArray().Single(m => m.GetProperty("userId").GetString() == userId);
}
