using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Projects;

/// <summary>Project members and the one-Owner rule, through HTTP on SQLite.</summary>
public sealed class MemberTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    [Fact]
    public async Task SetRole_AddChangeRemove_ReflectedInListsAndAccess()
    {
        // Arrange
        var owner = await app.CreateUserAsync("mowner");
        var user = await app.CreateUserAsync("mdev");
        var id = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);
        using var userClient = app.Client(user.Key);

        // Act
        using var add = await client.PutAsJsonAsync($"/api/projects/{id}/members/{user.Id}", new { role = "Annotator" });
        using var settingsAsAnnotator = await userClient.PatchAsJsonAsync($"/api/projects/{id}/settings", new { frameTolerance = 1 });
        using var change = await client.PutAsJsonAsync($"/api/projects/{id}/members/{user.Id}", new { role = "Developer" });
        using var settingsAsDeveloper = await userClient.PatchAsJsonAsync($"/api/projects/{id}/settings", new { frameTolerance = 1 });
        var members = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{id}/members");
        var mine = await userClient.GetFromJsonAsync<JsonElement>("/api/projects");
        using var remove = await client.DeleteAsync(new Uri($"/api/projects/{id}/members/{user.Id}", UriKind.Relative));
        using var afterRemoval = await userClient.GetAsync(new Uri($"/api/projects/{id}", UriKind.Relative));
        using var removeAgain = await client.DeleteAsync(new Uri($"/api/projects/{id}/members/{user.Id}", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        await IdentityApp.AssertProblemAsync(settingsAsAnnotator, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);
        Assert.Equal(HttpStatusCode.OK, settingsAsDeveloper.StatusCode);
        Assert.Equal(2, members.GetProperty("items").GetArrayLength());
        Assert.Equal("Developer", Assert.Single(mine.GetProperty("items").EnumerateArray()).GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.NoContent, remove.StatusCode);
        await IdentityApp.AssertProblemAsync(afterRemoval, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(removeAgain, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task SetRole_BadRoleOrUnknownUser_400Or404()
    {
        // Arrange
        var owner = await app.CreateUserAsync("badrole");
        var id = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);
        using var otherOrgAdmin = app.Client(IdentityApp.AdminKey);
        using var orgResponse = await otherOrgAdmin.PostAsJsonAsync("/api/orgs", new { name = "elsewhere", admin = new { name = "x" } });
        var foreign = (await orgResponse.Content.ReadFromJsonAsync<CreatedOrganization>(IdentityApp.Json))!.Admin;

        // Act
        using var noRole = await client.PutAsJsonAsync($"/api/projects/{id}/members/{owner.Id}", new { });
        using var badRole = await client.PutAsJsonAsync($"/api/projects/{id}/members/{owner.Id}", new { role = "Boss" });
        using var unknown = await client.PutAsJsonAsync($"/api/projects/{id}/members/u_nobody", new { role = "Annotator" });
        using var otherOrg = await client.PutAsJsonAsync($"/api/projects/{id}/members/{foreign.Id}", new { role = "Annotator" });
        var members = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{id}/members");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(noRole, "role");
        await IdentityApp.AssertFieldErrorAsync(badRole, "role");
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(otherOrg, HttpStatusCode.NotFound);
        Assert.Equal(1, members.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task LastOwner_DemoteOrRemove_409()
    {
        // Arrange
        var owner = await app.CreateUserAsync("lastowner");
        var id = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);

        // Act
        using var demote = await client.PutAsJsonAsync($"/api/projects/{id}/members/{owner.Id}", new { role = "Developer" });
        using var remove = await client.DeleteAsync(new Uri($"/api/projects/{id}/members/{owner.Id}", UriKind.Relative));

        // Assert
        await IdentityApp.AssertProblemAsync(demote, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(remove, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri($"/api/projects/{id}", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task TwoOwners_DemoteEachOtherConcurrently_ExactlyOneOwnerRemains()
    {
        // Arrange
        var a = await app.CreateUserAsync("owner-a");
        var b = await app.CreateUserAsync("owner-b");
        var id = await app.CreateProjectAsync(a.Key);
        await app.AddMemberAsync(a.Key, id, b.Id, ProjectRole.Owner);
        using var clientA = app.Client(a.Key);
        using var clientB = app.Client(b.Key);

        // Act: each demotes the other (and themselves) at the same time.
        var responses = await Task.WhenAll(
            clientA.PutAsJsonAsync($"/api/projects/{id}/members/{b.Id}", new { role = "Annotator" }),
            clientB.PutAsJsonAsync($"/api/projects/{id}/members/{a.Id}", new { role = "Annotator" }),
            clientA.PutAsJsonAsync($"/api/projects/{id}/members/{a.Id}", new { role = "Reviewer" }),
            clientB.PutAsJsonAsync($"/api/projects/{id}/members/{b.Id}", new { role = "Reviewer" }));
        using var admin = app.Client(IdentityApp.AdminKey);
        using var join = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/projects/{id}/join", new { role = "AnnotationManager" });
        var members = await admin.GetFromJsonAsync<JsonElement>($"/api/projects/{id}/members");

        // Assert: each request succeeds, hits the one-Owner rule (409), or finds its caller already demoted (403); one Owner is left.
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict or HttpStatusCode.Forbidden, r.StatusCode.ToString()));
        Assert.Contains(responses, r => r.StatusCode != HttpStatusCode.OK);
        var owners = members.GetProperty("items").EnumerateArray().Count(m => m.GetProperty("role").GetString() == "Owner");
        Assert.Equal(1, owners);
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task SetRole_FiveOwnersDemotedConcurrently_FourSucceedOneRefused()
    {
        // Arrange
        var store = app.Factory.Services.GetRequiredService<ProjectStore>();
        var owners = new List<TestUser>();
        for (var i = 0; i < 5; i++)
        {
            owners.Add(await app.CreateUserAsync($"co-owner{i}"));
        }

        var id = await app.CreateProjectAsync(owners[0].Key);
        foreach (var o in owners.Skip(1))
        {
            await app.AddMemberAsync(owners[0].Key, id, o.Id, ProjectRole.Owner);
        }

        // Act
        var outcomes = await Task.WhenAll(owners.Select(async o =>
        {
            try
            {
                await store.SetRoleAsync(id, o.Id, ProjectRole.Developer, CancellationToken.None);
                return "ok";
            }
            catch (LastOwnerException)
            {
                return "last owner";
            }
        }));
        var page = await store.ListMembersAsync(id, 10, null, CancellationToken.None);

        // Assert
        Assert.Equal(4, outcomes.Count(o => o == "ok"));
        Assert.Equal(1, outcomes.Count(o => o == "last owner"));
        Assert.Single(page.Items, m => m.Role == ProjectRole.Owner);
        Assert.Equal(1, (await store.GetAsync(id, CancellationToken.None))!.Project.OwnerCount);
    }

    [Fact]
    public async Task Owner_RevokesAMembersKey_KeyIs401AtOnce_NonMemberKeys404()
    {
        // Arrange
        var owner = await app.CreateUserAsync("keyowner");
        var member = await app.CreateUserAsync("keymember");
        var stranger = await app.CreateUserAsync("keystranger");
        var id = await app.CreateProjectAsync(owner.Key);
        await app.AddMemberAsync(owner.Key, id, member.Id, ProjectRole.Annotator);
        using var client = app.Client(owner.Key);
        using var memberClient = app.Client(member.Key);
        Assert.Equal(HttpStatusCode.OK, (await memberClient.GetAsync(new Uri("/api/me", UriKind.Relative))).StatusCode);

        // Act
        var keys = await client.GetFromJsonAsync<List<ApiKeyInfo>>($"/api/projects/{id}/members/{member.Id}/api-keys", IdentityApp.Json);
        using var revoke = await client.DeleteAsync(new Uri($"/api/projects/{id}/members/{member.Id}/api-keys/{keys![0].Id}", UriKind.Relative));
        using var memberAfter = await memberClient.GetAsync(new Uri("/api/me", UriKind.Relative));
        using var strangerKeys = await client.GetAsync(new Uri($"/api/projects/{id}/members/{stranger.Id}/api-keys", UriKind.Relative));
        using var unknownKey = await client.DeleteAsync(new Uri($"/api/projects/{id}/members/{owner.Id}/api-keys/0000000000000000", UriKind.Relative));

        // Assert
        Assert.Single(keys);
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        await IdentityApp.AssertProblemAsync(memberAfter, HttpStatusCode.Unauthorized);
        await IdentityApp.AssertProblemAsync(strangerKeys, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(unknownKey, HttpStatusCode.NotFound);
    }
}
