using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Projects;

/// <summary>Labeling companies and the "show tasks by organization" setting, through HTTP on SQLite.</summary>
public sealed class LabelingCompanyTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    [Fact]
    public async Task AddCompany_ItsUsersCanBeMembers_RemoveRefusedWhileTheyAre()
    {
        // Arrange
        var owner = await app.CreateUserAsync("lcowner");
        var project = await app.CreateProjectAsync(owner.Key);
        var company = await app.CreateOrganizationAsync("lc vendor");
        var worker = await app.CreateUserAsync("lcworker", orgId: company.OrgId, adminKey: company.Key);
        using var client = app.Client(owner.Key);
        using var before = await client.PutAsJsonAsync($"/api/projects/{project}/members/{worker.Id}", new { role = "Annotator" });

        // Act
        using var added = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative), null);
        using var addedAgain = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative), null);
        var companies = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/labeling-companies");
        using var member = await client.PutAsJsonAsync($"/api/projects/{project}/members/{worker.Id}", new { role = "Annotator" });
        using var workerClient = app.Client(worker.Key);
        using var workerReads = await workerClient.GetAsync(new Uri($"/api/projects/{project}", UriKind.Relative));
        using var removeWhileMember = await client.DeleteAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative));
        using var memberRemoved = await client.DeleteAsync(new Uri($"/api/projects/{project}/members/{worker.Id}", UriKind.Relative));
        using var removed = await client.DeleteAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative));
        var after = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/labeling-companies");

        // Assert
        await IdentityApp.AssertProblemAsync(before, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        Assert.Equal(HttpStatusCode.OK, addedAgain.StatusCode);
        var listed = Assert.Single(companies.EnumerateArray());
        Assert.Equal(company.OrgId, listed.GetProperty("orgId").GetString());
        Assert.Equal("lc vendor", listed.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.Created, member.StatusCode);
        Assert.Equal(company.OrgId, (await member.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("orgId").GetString());
        Assert.Equal(HttpStatusCode.OK, workerReads.StatusCode);
        await IdentityApp.AssertProblemAsync(removeWhileMember, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.NoContent, memberRemoved.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.Equal(0, after.GetArrayLength());
    }

    [Fact]
    public async Task AddCompany_UnknownOrOwnOrganization_404Or409_RemoveUnknown404()
    {
        // Arrange
        var owner = await app.CreateUserAsync("lcerr");
        var project = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);

        // Act
        using var unknown = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/o_nothing", UriKind.Relative), null);
        using var own = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{IdentityBootstrap.DefaultOrganizationId}", UriKind.Relative), null);
        using var removeUnknown = await client.DeleteAsync(new Uri($"/api/projects/{project}/labeling-companies/o_nothing", UriKind.Relative));
        var companies = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/labeling-companies");

        // Assert
        await IdentityApp.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(own, HttpStatusCode.Conflict);
        await IdentityApp.AssertProblemAsync(removeUnknown, HttpStatusCode.NotFound);
        Assert.Equal(0, companies.GetArrayLength());
    }

    [Fact]
    public async Task CompanyGroup_CanBeAddedToTheProject()
    {
        // Arrange
        var owner = await app.CreateUserAsync("lcgowner");
        var project = await app.CreateProjectAsync(owner.Key);
        var company = await app.CreateOrganizationAsync("lcg vendor");
        var worker = await app.CreateUserAsync("lcgworker", orgId: company.OrgId, adminKey: company.Key);
        using var companyAdmin = app.Client(company.Key);
        using var group = await companyAdmin.PostAsJsonAsync($"/api/orgs/{company.OrgId}/groups", new { name = "vendor team" });
        var groupId = (await group.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var _ = await companyAdmin.PutAsJsonAsync($"/api/orgs/{company.OrgId}/groups/{groupId}/members/{worker.Id}", new { });
        using var client = app.Client(owner.Key);
        using var beforeCompany = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{groupId}", new { role = "Annotator" });
        using var addCompany = await client.PutAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative), null);

        // Act
        using var added = await client.PutAsJsonAsync($"/api/projects/{project}/groups/{groupId}", new { role = "Annotator" });
        using var removeCompany = await client.DeleteAsync(new Uri($"/api/projects/{project}/labeling-companies/{company.OrgId}", UriKind.Relative));
        using var workerClient = app.Client(worker.Key);
        using var workerReads = await workerClient.GetAsync(new Uri($"/api/projects/{project}/datasets", UriKind.Relative));

        // Assert
        await IdentityApp.AssertProblemAsync(beforeCompany, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Created, addCompany.StatusCode);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        await IdentityApp.AssertProblemAsync(removeCompany, HttpStatusCode.Conflict);
        Assert.Equal(HttpStatusCode.OK, workerReads.StatusCode);
    }

    [Fact]
    public async Task ShowTasksByOrganization_DefaultFalse_StoredAndExposed()
    {
        // Arrange
        var owner = await app.CreateUserAsync("stbo");
        var project = await app.CreateProjectAsync(owner.Key);
        using var client = app.Client(owner.Key);
        var defaults = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/settings");

        // Act
        using var patched = await client.PatchAsJsonAsync($"/api/projects/{project}/settings", new { showTasksByOrganization = true });
        var settings = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}/settings");
        var full = await client.GetFromJsonAsync<JsonElement>($"/api/projects/{project}");
        using var wrongType = await client.PatchAsync(new Uri($"/api/projects/{project}/settings", UriKind.Relative), JsonContent.Create(new { showTasksByOrganization = "yes" }));

        // Assert
        Assert.False(defaults.GetProperty("showTasksByOrganization").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.True(settings.GetProperty("showTasksByOrganization").GetBoolean());
        Assert.Equal(0, settings.GetProperty("frameTolerance").GetInt32());
        Assert.True(full.GetProperty("settings").GetProperty("showTasksByOrganization").GetBoolean());
        await IdentityApp.AssertProblemAsync(wrongType, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData(false, "o_home", null)]
    [InlineData(false, "o_vendor", null)]
    [InlineData(true, "o_home", null)]
    [InlineData(true, "o_vendor", "o_vendor")]
    public void WorkVisibility_BySettingAndCallerOrganization(bool showByOrganization, string callerOrg, string? expected)
    {
        // Arrange
        var now = DateTimeOffset.UnixEpoch;
        var project = new Project("p_1", "p", "o_home", ProjectStatus.InProgress, new ProjectSettings(ShowTasksByOrganization: showByOrganization), "u_1", now, now, 1, LabelingCompanies: ["o_vendor"]);
        var caller = new Caller("u_2", callerOrg, OrgRole.Member, false, "k");

        // Act
        var scope = WorkVisibility.For(project, caller);
        var filter = scope.ToFilter("workerOrgId");

        // Assert
        Assert.Equal(expected, scope.OrganizationId);
        Assert.Equal(expected is null, scope.AllOrganizations);
        Assert.Equal(expected is null, filter is null);
    }
}
