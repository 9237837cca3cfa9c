using Xunit;

namespace Serverless.Testing;

/// <summary>
/// Starts the npm Cosmos DB server (<c>@vercel/cosmosdb-server</c>) once for a test collection, on a
/// free loopback port, serving HTTPS with its bundled self-signed certificate.
/// </summary>
/// <remarks>
/// The server is in memory, so each test should use its own container (or partition) to stay
/// independent. It implements the REST surface the SDK uses for CRUD, ETags, patch and reads; see the
/// Cosmos adapter's tests for what it does not support.
/// </remarks>
public sealed class CosmosServerFixture : IAsyncLifetime
{
    /// <summary>The Cosmos emulator's published, well-known key; the local server accepts any key.</summary>
    public const string EmulatorKey = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

    private LocalProcess? _process;

    /// <summary>The server's endpoint, e.g. <c>https://127.0.0.1:54321/</c>.</summary>
    public Uri Endpoint { get; private set; } = new("https://127.0.0.1/");

    /// <summary>What the server printed, for failure messages.</summary>
    public string Output => _process?.Output ?? string.Empty;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var port = LocalProcess.FreePorts(1)[0];
        _process = await LocalProcess.StartAsync(
            RepoPaths.NodeBin("cosmosdb-server"),
            ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--host", "127.0.0.1"],
            [port],
            TimeSpan.FromSeconds(30));
        Endpoint = new Uri($"https://127.0.0.1:{port}/");
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }
}
