using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Identity;

/// <summary>API keys and the authentication handler, through HTTP on SQLite.</summary>
public sealed class ApiKeyTests(IdentityApp app) : IClassFixture<IdentityApp>
{
    [Fact]
    public async Task GetMe_BootstrapKeyAsBearerOrHeader_200PlatformAdmin()
    {
        // Arrange
        using var bearer = app.Client(IdentityApp.AdminKey);
        using var header = app.Client();
        header.DefaultRequestHeaders.Add("X-Api-Key", IdentityApp.AdminKey);

        // Act
        var viaBearer = await bearer.GetFromJsonAsync<UserAccount>("/api/me", IdentityApp.Json);
        var viaHeader = await header.GetFromJsonAsync<UserAccount>("/api/me", IdentityApp.Json);

        // Assert
        Assert.Equal(IdentityBootstrap.AdminUserId, viaBearer!.Id);
        Assert.True(viaBearer.IsPlatformAdmin);
        Assert.Equal(OrgRole.Admin, viaBearer.OrgRole);
        Assert.Equal(viaBearer, viaHeader);
    }

    [Fact]
    public async Task GetMe_NoKey_401ProblemWithChallenge()
    {
        // Arrange
        using var client = app.Client();

        // Act
        using var response = await client.GetAsync(new Uri("/api/me", UriKind.Relative));

        // Assert
        var body = await IdentityApp.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("Authorization: Bearer", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateKey_ThenUseListRevoke_RevokedKeyIs401AtOnce()
    {
        // Arrange
        var user = await app.CreateUserAsync("keyuser");
        using var client = app.Client(user.Key);

        // Act
        using var created = await client.PostAsJsonAsync("/api/me/api-keys", new { description = "ci" });
        var key = (await created.Content.ReadFromJsonAsync<CreatedApiKey>(IdentityApp.Json))!;
        using var second = app.Client(key.Key);
        var meBefore = await second.GetAsync(new Uri("/api/me", UriKind.Relative)); // warms the cache
        var listed = await client.GetFromJsonAsync<List<ApiKeyInfo>>("/api/me/api-keys", IdentityApp.Json);
        var listedJson = await client.GetStringAsync(new Uri("/api/me/api-keys", UriKind.Relative));
        using var revoke = await client.DeleteAsync(new Uri($"/api/me/api-keys/{key.Id}", UriKind.Relative));
        using var meAfter = await second.GetAsync(new Uri("/api/me", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.StartsWith(ApiKeyHashing.Prefix, key.Key, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, meBefore.StatusCode);
        Assert.Equal(2, listed!.Count);
        Assert.Contains(listed, k => k.Id == key.Id && k.Description == "ci");
        Assert.DoesNotContain(key.Key, listedJson, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        var problem = await IdentityApp.AssertProblemAsync(meAfter, HttpStatusCode.Unauthorized);
        Assert.Contains("revoked", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("invalid_token", meAfter.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        meBefore.Dispose();
    }

    [Fact]
    public async Task CreateKey_EleventhKey_409AndTenRemain()
    {
        // Arrange: the user already holds their first key.
        var user = await app.CreateUserAsync("tenkeys");
        using var client = app.Client(user.Key);
        for (var i = 0; i < IdentityStore.MaxApiKeysPerUser - 1; i++)
        {
            using var ok = await client.PostAsJsonAsync("/api/me/api-keys", new { description = $"k{i}" });
            Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
        }

        // Act
        using var eleventh = await client.PostAsJsonAsync("/api/me/api-keys", new { description = "one too many" });

        // Assert
        var body = await IdentityApp.AssertProblemAsync(eleventh, HttpStatusCode.Conflict);
        Assert.Contains("at most 10", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(10, (await client.GetFromJsonAsync<List<ApiKeyInfo>>("/api/me/api-keys", IdentityApp.Json))!.Count);
    }

    [Fact]
    public async Task CreateKey_ConcurrentCreations_NeverMoreThanTen()
    {
        // Arrange
        var user = await app.CreateUserAsync("racer");
        using var client = app.Client(user.Key);

        // Act
        var responses = await Task.WhenAll(Enumerable.Range(0, 15).Select(i => client.PostAsJsonAsync("/api/me/api-keys", new { description = $"r{i}" })));

        // Assert
        var codes = string.Join(",", responses.Select(r => (int)r.StatusCode));
        Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.Created) == 9, codes);
        Assert.Equal(6, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        Assert.Equal(10, (await client.GetFromJsonAsync<List<ApiKeyInfo>>("/api/me/api-keys", IdentityApp.Json))!.Count);
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Theory]
    [InlineData("{}", "description")]
    [InlineData("{\"description\":\"   \"}", "description")]
    [InlineData("{\"description\":42}", "description")]
    public async Task CreateKey_BadDescription_400NamingTheField(string json, string field)
    {
        // Arrange
        var user = await app.CreateUserAsync("badkey");
        using var client = app.Client(user.Key);

        // Act
        using var response = await client.PostAsync(new Uri("/api/me/api-keys", UriKind.Relative), new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        // Assert
        await IdentityApp.AssertFieldErrorAsync(response, field);
        Assert.Single((await client.GetFromJsonAsync<List<ApiKeyInfo>>("/api/me/api-keys", IdentityApp.Json))!);
    }

    [Fact]
    public async Task RevokeKey_SomeoneElsesKey_404AndTheKeyStillWorks()
    {
        // Arrange
        var victim = await app.CreateUserAsync("victim");
        var attacker = await app.CreateUserAsync("attacker");
        using var victimClient = app.Client(victim.Key);
        var keyId = (await victimClient.GetFromJsonAsync<List<ApiKeyInfo>>("/api/me/api-keys", IdentityApp.Json))![0].Id;
        using var attackerClient = app.Client(attacker.Key);

        // Act
        using var response = await attackerClient.DeleteAsync(new Uri($"/api/me/api-keys/{keyId}", UriKind.Relative));

        // Assert
        await IdentityApp.AssertProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, (await victimClient.GetAsync(new Uri("/api/me", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Store_AfterCreatingKeys_HoldsOnlyHashes()
    {
        // Arrange
        var user = await app.CreateUserAsync("hashonly");
        var store = app.Factory.Services.GetRequiredService<IDocumentStore>();

        // Act
        var documents = new List<string>();
        foreach (var container in IdentityContainers.All)
        {
            string? token = null;
            do
            {
                var page = await store.Container(container.Name).QueryAsync(new DocumentQuery(PageSize: 1000, ContinuationToken: token));
                documents.AddRange(page.Items.Select(d => d.Body.ToJsonString()));
                token = page.ContinuationToken;
            }
            while (token is not null);
        }

        // Assert
        Assert.NotEmpty(documents);
        Assert.DoesNotContain(documents, d => d.Contains(user.Key, StringComparison.Ordinal) || d.Contains(IdentityApp.AdminKey, StringComparison.Ordinal));
        var hash = Convert.ToHexStringLower(ApiKeyHashing.Hash(user.Key));
        Assert.Contains(documents, d => d.Contains(hash, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authenticate_MalformedHeaders_401()
    {
        // Arrange
        using var client = app.Client();
        using var tooLong = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        tooLong.Headers.Add("X-Api-Key", new string('a', 300));
        using var emptyBearer = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        emptyBearer.Headers.TryAddWithoutValidation("Authorization", "Bearer ");

        // Act
        using var r1 = await client.SendAsync(tooLong);
        using var r2 = await client.SendAsync(emptyBearer);

        // Assert
        await IdentityApp.AssertProblemAsync(r1, HttpStatusCode.Unauthorized);
        await IdentityApp.AssertProblemAsync(r2, HttpStatusCode.Unauthorized);
    }
}
