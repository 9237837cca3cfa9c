using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Identity;

/// <summary>Organizations and their users, through HTTP on SQLite.</summary>
public sealed class OrganizationTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    [Fact]
    public async Task CreateOrganization_PlatformAdmin_201WithWorkingAdminKey()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);

        // Act
        using var response = await admin.PostAsJsonAsync("/api/orgs", new { name = "Acme labeling", admin = new { name = "Ann", email = "ann@acme.test" } });
        var created = (await response.Content.ReadFromJsonAsync<CreatedOrganization>(IdentityApp.Json))!;
        using var orgAdmin = app.Client(created.AdminApiKey.Key);
        var org = await orgAdmin.GetFromJsonAsync<Organization>($"/api/orgs/{created.Organization.Id}", IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("Acme labeling", org!.Name);
        Assert.Equal(OrgRole.Admin, created.Admin.OrgRole);
        Assert.False(created.Admin.IsPlatformAdmin);
    }

    [Theory]
    [InlineData("{\"admin\":{\"name\":\"a\"}}", "name")]
    [InlineData("{\"name\":\"x\"}", "admin")]
    [InlineData("{\"name\":\"x\",\"admin\":{\"name\":\"\"}}", "admin.name")]
    [InlineData("{\"name\":\"x\",\"admin\":{\"name\":\"a\",\"email\":\"not-an-email\"}}", "admin.email")]
    [InlineData("{\"name\":\"x\u0001y\",\"admin\":{\"name\":\"a\"}}", "name")]
    [InlineData("not json", "body")]
    public async Task CreateOrganization_BadInput_400NamingTheField(string json, string field)
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);

        // Act
        using var response = await admin.PostAsync(new Uri("/api/orgs", UriKind.Relative), new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
    }

    [Fact]
    public async Task CreateUser_OrgAdmin_201_ListedWithPaging()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);
        using var orgResponse = await admin.PostAsJsonAsync("/api/orgs", new { name = "Paged", admin = new { name = "boss" } });
        var org = (await orgResponse.Content.ReadFromJsonAsync<CreatedOrganization>(IdentityApp.Json))!;
        using var orgAdmin = app.Client(org.AdminApiKey.Key);
        for (var i = 0; i < 3; i++)
        {
            using var r = await orgAdmin.PostAsJsonAsync($"/api/orgs/{org.Organization.Id}/users", new { name = $"worker{i}" });
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        }

        // Act
        var first = await orgAdmin.GetFromJsonAsync<JsonElement>($"/api/orgs/{org.Organization.Id}/users?pageSize=3");
        var token = first.GetProperty("continuationToken").GetString();
        var second = await orgAdmin.GetFromJsonAsync<JsonElement>($"/api/orgs/{org.Organization.Id}/users?pageSize=3&continuationToken={Uri.EscapeDataString(token!)}");

        // Assert
        Assert.Equal(3, first.GetProperty("items").GetArrayLength());
        Assert.Equal(1, second.GetProperty("items").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, second.GetProperty("continuationToken").ValueKind);
    }

    [Theory]
    [InlineData("?pageSize=0", "pageSize")]
    [InlineData("?pageSize=100000", "pageSize")]
    [InlineData("?pageSize=abc", "pageSize")]
    [InlineData("?continuationToken=garbage", "continuationToken")]
    public async Task ListUsers_BadPaging_400NamingTheParameter(string query, string field)
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);

        // Act
        using var response = await admin.GetAsync(new Uri($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users{query}", UriKind.Relative));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
    }

    [Fact]
    public async Task CreateUser_BadInput_400AndNoUserCreated()
    {
        // Arrange
        using var admin = app.Client(IdentityApp.AdminKey);
        var before = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users?pageSize=200");

        // Act
        using var noName = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { email = "x@y.z" });
        using var badRole = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name = "n", orgRole = "King" });
        var after = await admin.GetFromJsonAsync<JsonElement>($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users?pageSize=200");

        // Assert
        await IdentityApp.AssertFieldErrorAsync(noName, "name");
        await IdentityApp.AssertFieldErrorAsync(badRole, "orgRole");
        Assert.Equal(before.GetProperty("items").GetArrayLength(), after.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task GetOrganization_Member200_OtherOrganization404()
    {
        // Arrange
        var member = await app.CreateUserAsync("plainmember");
        using var client = app.Client(member.Key);

        // Act
        using var own = await client.GetAsync(new Uri($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}", UriKind.Relative));
        using var other = await client.GetAsync(new Uri("/api/orgs/o_doesnotexist", UriKind.Relative));
        using var users = await client.GetAsync(new Uri($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        await IdentityApp.AssertProblemAsync(other, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(users, HttpStatusCode.Forbidden);
    }
}
