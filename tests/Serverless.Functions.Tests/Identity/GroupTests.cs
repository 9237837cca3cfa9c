using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Identity;

/// <summary>Groups of an organization's users (<c>api/orgs/{orgId}/groups</c>), through HTTP on SQLite.</summary>
public sealed class GroupTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    private const string Org = IdentityBootstrap.DefaultOrganizationId;

    [Fact]
    public async Task Groups_CreateRenameListAddRemoveDelete_Reflected()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);
        var alice = await app.CreateUserAsync("galice");
        var bob = await app.CreateUserAsync("gbob");

        // Act
        using var created = await admin.PostAsJsonAsync($"/api/orgs/{Org}/groups", new { name = " labelers " });
        var group = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = group.GetProperty("id").GetString()!;
        using var renamed = await admin.PatchAsJsonAsync($"/api/orgs/{Org}/groups/{id}", new { name = "senior labelers" });
        using var addAlice = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/{alice.Id}", new { });
        using var addAliceAgain = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/{alice.Id}", new { });
        using var addBob = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/{bob.Id}", new { });
        using var removeBob = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{id}/members/{bob.Id}", UriKind.Relative));
        var members = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{Org}/groups/{id}/members");
        var fetched = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{Org}/groups/{id}");
        using var memberClient = app.Client(alice.Key);
        var listedByMember = await memberClient.GetFromJsonAsync<JsonElement>($"/api/orgs/{Org}/groups");
        using var deleted = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{id}", UriKind.Relative));
        using var afterDelete = await admin.GetAsync(new Uri($"/api/orgs/{Org}/groups/{id}", UriKind.Relative));
        var listedAfter = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{Org}/groups");

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("labelers", group.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        Assert.Equal(HttpStatusCode.Created, addAlice.StatusCode);
        Assert.Equal(HttpStatusCode.OK, addAliceAgain.StatusCode);
        Assert.Equal(HttpStatusCode.Created, addBob.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, removeBob.StatusCode);
        Assert.Equal(alice.Id, Assert.Single(members.EnumerateArray()).GetProperty("userId").GetString());
        Assert.Equal("senior labelers", fetched.GetProperty("name").GetString());
        Assert.Equal(1, fetched.GetProperty("memberCount").GetInt32());
        Assert.Contains(listedByMember.GetProperty("items").EnumerateArray(), g => g.GetProperty("id").GetString() == id && g.GetProperty("name").GetString() == "senior labelers");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await IdentityApp.AssertProblemAsync(afterDelete, HttpStatusCode.NotFound);
        Assert.DoesNotContain(listedAfter.GetProperty("items").EnumerateArray(), g => g.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task Groups_BadNameUnknownIdsOtherOrgUser_400Or404()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);
        var other = await app.CreateOrganizationAsync("group-elsewhere");
        using var created = await admin.PostAsJsonAsync($"/api/orgs/{Org}/groups", new { name = "g" });
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var otherAdmin = app.Client(other.Key);
        using var otherGroup = await otherAdmin.PostAsJsonAsync($"/api/orgs/{other.OrgId}/groups", new { name = "theirs" });
        var otherId = (await otherGroup.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // Act
        using var noName = await admin.PostAsJsonAsync($"/api/orgs/{Org}/groups", new { });
        using var blankRename = await admin.PatchAsJsonAsync($"/api/orgs/{Org}/groups/{id}", new { name = "  " });
        using var unknown = await admin.GetAsync(new Uri($"/api/orgs/{Org}/groups/g_nothing", UriKind.Relative));
        using var theirsViaOurOrg = await admin.GetAsync(new Uri($"/api/orgs/{Org}/groups/{otherId}", UriKind.Relative));
        using var renameUnknown = await admin.PatchAsJsonAsync($"/api/orgs/{Org}/groups/g_nothing", new { name = "x" });
        using var deleteUnknown = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/g_nothing", UriKind.Relative));
        using var membersUnknown = await admin.GetAsync(new Uri($"/api/orgs/{Org}/groups/g_nothing/members", UriKind.Relative));
        using var addToUnknown = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/g_nothing/members/u_admin", new { });
        using var foreignUser = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/{other.Id}", new { });
        using var noSuchUser = await admin.PutAsJsonAsync($"/api/orgs/{Org}/groups/{id}/members/u_nobody", new { });
        using var removeNonMember = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/{id}/members/u_admin", UriKind.Relative));
        using var removeFromUnknown = await admin.DeleteAsync(new Uri($"/api/orgs/{Org}/groups/g_nothing/members/u_admin", UriKind.Relative));
        var members = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{Org}/groups/{id}/members");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(noName, "name");
        await IdentityApp.AssertFieldErrorAsync(blankRename, "name");
        foreach (var response in new[] { unknown, theirsViaOurOrg, renameUnknown, deleteUnknown, membersUnknown, addToUnknown, foreignUser, noSuchUser, removeNonMember, removeFromUnknown })
        {
            await IdentityApp.AssertProblemAsync(response, HttpStatusCode.NotFound);
        }

        Assert.Equal(0, members.GetArrayLength());
    }

    [Fact]
    public async Task Groups_OrganizationMember_ReadsButCannotManage()
    {
        // Arrange
        var member = await app.CreateUserAsync("gmember");
        using var client = app.Client(member.Key);

        // Act
        using var list = await client.GetAsync(new Uri($"/api/orgs/{Org}/groups", UriKind.Relative));
        using var create = await client.PostAsJsonAsync($"/api/orgs/{Org}/groups", new { name = "mine" });

        // Assert
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        await IdentityApp.AssertProblemAsync(create, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task ListGroups_BadPageSize_400()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);

        // Act
        using var response = await admin.GetAsync(new Uri($"/api/orgs/{Org}/groups?pageSize=0", UriKind.Relative));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, "pageSize");
    }
}
