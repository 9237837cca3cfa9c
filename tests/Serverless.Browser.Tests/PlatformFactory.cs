using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Serverless.Browser.Tests;

/// <summary>
/// The functions app standalone on a real Kestrel socket (127.0.0.1, free port), so a browser can reach it;
/// real SQLite file and real Azurite. The page is served from the <c>dashboard/</c> folder the build copies
/// beside the assemblies, exactly as in a deployment.
/// </summary>
public sealed class PlatformFactory(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
{
    /// <summary>The address Kestrel listens on, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address => new(Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

    public static PlatformFactory Start(IReadOnlyDictionary<string, string?> settings)
    {
        var factory = new PlatformFactory(settings);
        factory.UseKestrel();
        factory.StartServer();
        return factory;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("urls", "http://127.0.0.1:0");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
