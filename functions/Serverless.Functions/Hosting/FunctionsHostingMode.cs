using System.Globalization;

namespace Serverless.Functions.Hosting;

/// <summary>Who delivers work to this process.</summary>
public enum HostingKind
{
    /// <summary>Run on our own: serve HTTP, poll queues, watch upload containers.</summary>
    Standalone,

    /// <summary>Started by the Azure Functions host, which forwards HTTP and posts trigger invocations.</summary>
    CustomHandler,
}

/// <summary>
/// The hosting mode, decided once at start-up from <c>FUNCTIONS_CUSTOMHANDLER_PORT</c> (set by the
/// Functions host for its custom handler, and only then); <c>CustomHandlerPort</c> is the loopback port the host calls.
/// </summary>
public sealed record FunctionsHostingMode(HostingKind Kind, int? CustomHandlerPort)
{
    /// <summary>The environment variable (configuration key) the Functions host sets.</summary>
    public const string PortVariable = "FUNCTIONS_CUSTOMHANDLER_PORT";

    /// <summary>Where the standalone host listens unless <c>--urls</c> or <c>ASPNETCORE_URLS</c> say otherwise.</summary>
    public const string DefaultStandaloneUrl = "http://127.0.0.1:7071";

    public bool IsCustomHandler => Kind == HostingKind.CustomHandler;

    /// <summary>Reads the mode from configuration (environment variables included).</summary>
    /// <exception cref="InvalidOperationException">The port variable is set but is not a TCP port.</exception>
    public static FunctionsHostingMode FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var raw = configuration[PortVariable];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return new FunctionsHostingMode(HostingKind.Standalone, null);
        }

        if (!int.TryParse(raw.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"{PortVariable} is '{raw}', which is not a TCP port (1..65535). The Azure Functions host sets it for custom handlers; unset it to run standalone.");
        }

        return new FunctionsHostingMode(HostingKind.CustomHandler, port);
    }
}
