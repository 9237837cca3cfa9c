using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Hosting;

namespace Serverless.Functions.Tests;

/// <summary>The functions app in memory, in either hosting mode, with valid storage settings.</summary>
public sealed class FunctionsAppFactory(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? configureServices = null)
    : WebApplicationFactory<Program>
{
    /// <summary>Azurite's well-known development account on its default ports; tests that need a live Azurite pass the fixture's string instead.</summary>
    public const string AzuriteConnectionString =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1";

    public static FunctionsAppFactory CustomHandler(Action<IServiceCollection>? configureServices = null) =>
        new(BaseSettings(new() { [FunctionsHostingMode.PortVariable] = "7199" }), configureServices);

    public static FunctionsAppFactory Standalone(Dictionary<string, string?>? extra = null, Action<IServiceCollection>? configureServices = null) =>
        new(BaseSettings(extra ?? []), configureServices);

    public static Dictionary<string, string?> BaseSettings(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["DocumentStore:Provider"] = "Sqlite",
            ["DocumentStore:SqlitePath"] = Path.Combine(Path.GetTempPath(), "functions-tests.db"),
            ["Storage:ConnectionString"] = AzuriteConnectionString,
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        if (configureServices is not null)
        {
            builder.ConfigureServices(configureServices);
        }
    }
}
