using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Serverless.Functions.CustomHandler;
using Serverless.Functions.Functions;
using Serverless.Functions.Local;

namespace Serverless.Functions.Hosting;

/// <summary>Registers what differs between the two ways this executable runs.</summary>
public static class FunctionsHostingExtensions
{
    /// <summary>
    /// Custom handler mode: listen on 127.0.0.1:<c>FUNCTIONS_CUSTOMHANDLER_PORT</c> and let the host
    /// trigger queue and Event Grid functions. Standalone: listen on 127.0.0.1:7071 unless URLs are
    /// configured, and run the queue pollers and the blob watcher in-process.
    /// </summary>
    public static FunctionsHostingMode AddFunctionsHosting(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var mode = FunctionsHostingMode.FromConfiguration(builder.Configuration);
        builder.Services.AddSingleton(mode);

        if (mode.IsCustomHandler)
        {
            // Explicit endpoints win over any URLs in configuration: the host only ever calls this port.
            builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.Listen(IPAddress.Loopback, mode.CustomHandlerPort!.Value));
        }
        else if (!HasConfiguredUrls(builder.Configuration))
        {
            builder.Configuration["urls"] = FunctionsHostingMode.DefaultStandaloneUrl;
        }

        builder.AddFunctionHandlers();
        if (!mode.IsCustomHandler)
        {
            builder.AddLocalTriggers();
        }

        return mode;
    }

    private static bool HasConfiguredUrls(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["urls"])
        || !string.IsNullOrWhiteSpace(configuration["http_ports"])
        || !string.IsNullOrWhiteSpace(configuration["https_ports"]);
}
