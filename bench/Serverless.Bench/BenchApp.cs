extern alias functions;

using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using functions::Serverless.Functions.Identity;
using Serverless.Testing;

namespace Serverless.Bench;

/// <summary>
/// The functions app in process (ASP.NET Core TestServer: routing, API-key checks, JSON, the durable runtime's
/// workers) with a bench's settings, and the HTTP helpers the suites share.
/// </summary>
internal sealed class BenchApp : WebApplicationFactory<functions::Program>
{
    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _services;

    /// <param name="settings">Configuration the app starts with.</param>
    /// <param name="services">Changes to the app's services after its own registrations (e.g. a background service
    /// left out to measure what it costs).</param>
    public BenchApp(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        // WebApplicationFactory looks for the app's content root next to a solution named after the
        // assembly; tell it where the project is instead.
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_SERVERLESS_FUNCTIONS", Path.Combine(RepoPaths.Root, "functions", "Serverless.Functions"));
        _settings = settings;
        _services = services;
    }

    /// <summary>Creates an organization member through the admin key; returns a client with their key, and their id.</summary>
    public async Task<HttpClient> UserClientAsync(string name, string adminKey) => (await UserAsync(name, adminKey)).Client;

    /// <summary>Creates an organization member through the admin key: a client with their key, and their id.</summary>
    public async Task<(HttpClient Client, string UserId)> UserAsync(string name, string adminKey)
    {
        using var admin = CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
        using var response = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name, email = $"{name}@example.com", orgRole = "Member" });
        response.EnsureSuccessStatusCode();
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var key = created.RootElement.GetProperty("apiKey").GetProperty("key").GetString();
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return (client, created.RootElement.GetProperty("user").GetProperty("id").GetString()!);
    }

    /// <summary>POSTs <paramref name="body"/> and returns the created resource's <c>id</c>.</summary>
    public static async Task<string> CreateAsync(HttpClient client, string path, object body)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var response = await client.PostAsJsonAsync(path, body);
        response.EnsureSuccessStatusCode();
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return created.RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>A positive integer from the environment (for a quick look at a smaller scale), else <paramref name="fallback"/>.</summary>
    public static int FromEnvironment(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    public static double Percentile(List<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        if (_services is not null)
        {
            builder.ConfigureServices(_services);
        }
    }
}
