using System.Net;
using System.Net.Http.Headers;
using Serverless.Functions.Dashboard;

namespace Serverless.Browser.Tests;

/// <summary>How the platform serves the page: anonymous static files with a strict policy, never in the way of the API.</summary>
[Collection(BrowserCollectionDefinition.Name)]
public sealed class DashboardHostingTests(SeededPlatform platform)
{
    [Fact]
    public async Task GetRoot_NoKey_ServesThePageWithStrictContentSecurityPolicy()
    {
        // Arrange
        using var client = new HttpClient { BaseAddress = platform.Address };

        // Act
        using var page = await client.GetAsync(new Uri("/", UriKind.Relative));
        using var chart = await client.GetAsync(new Uri("/vendor/chart.umd.min.js", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();

        // Assert
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var policy = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Equal(DashboardPage.ContentSecurityPolicy, policy);
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http", html.Replace("http-equiv", string.Empty, StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, chart.StatusCode);
        Assert.Contains("Chart.js v4", await chart.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetApi_PageFilesPresent_ApiStillAnswersAndNeedsItsKey()
    {
        // Arrange
        using var anonymous = new HttpClient { BaseAddress = platform.Address };
        using var owner = platform.Client(platform.Seeded.Owner.Key);

        // Act
        using var shadowed = await anonymous.GetAsync(new Uri("/api/index.html", UriKind.Relative));
        using var data = await anonymous.GetAsync(new Uri($"/api/projects/{platform.Seeded.ProjectId}/dashboard", UriKind.Relative));
        using var withKey = await owner.GetAsync(new Uri($"/api/projects/{platform.Seeded.ProjectId}/dashboard", UriKind.Relative));

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, shadowed.StatusCode);
        Assert.False(shadowed.Headers.Contains("Content-Security-Policy"), "nothing under /api comes from the page's folder");
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withKey.StatusCode);
        Assert.Equal(new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" }.MediaType, withKey.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task GetRoot_CustomHandlerMode_TheExecutableServesThePageToo()
    {
        // Arrange: the mode the Azure Functions host starts (it sets the port variable).
        var dir = Path.Combine(Path.GetTempPath(), $"browser-ch-{Guid.NewGuid():N}");
        await using var factory = new PlatformFactory(new Dictionary<string, string?>
        {
            [Serverless.Functions.Hosting.FunctionsHostingMode.PortVariable] = "7199",
            ["DocumentStore:Provider"] = "Sqlite",
            ["DocumentStore:SqlitePath"] = Path.Combine(dir, "platform.db"),
            ["Storage:ConnectionString"] = platform.StorageConnectionString,
        });
        using var client = factory.CreateClient();

        try
        {
            // Act
            using var page = await client.GetAsync(new Uri("/", UriKind.Relative));

            // Assert
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(DashboardPage.ContentSecurityPolicy, Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
