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

    /// <summary>
    /// Runs the package's server like its CLI does, with one fix: version 1.0.1 answers a point read
    /// of a missing document in a partitioned container with 500 (it dereferences the missing
    /// document) where Cosmos DB answers 404. The wrapper turns that TypeError into the 404 the SDK expects.
    /// </summary>
    private const string Launcher = """
        const path = require("path");
        const lib = path.join(process.argv[1], "lib");
        const readDocument = require(path.join(lib, "handler", "read-document.js"));
        const original = readDocument.default;
        readDocument.default = async (account, req, res, params) => {
          try {
            return await original(account, req, res, params);
          } catch (err) {
            if (!(err instanceof TypeError)) throw err;
            res.statusCode = 404;
            return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
          }
        };
        const { createHttpsServer } = require(lib);
        const server = createHttpsServer().listen(Number(process.argv[2]), "127.0.0.1", () => console.log("ready"));
        """;

    private LocalProcess? _process;

    /// <summary>The server's endpoint, e.g. <c>https://127.0.0.1:54321/</c>.</summary>
    public Uri Endpoint { get; private set; } = new("https://127.0.0.1/");

    /// <summary>What the server printed, for failure messages.</summary>
    public string Output => _process?.Output ?? string.Empty;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var port = LocalProcess.FreePorts(1)[0];

        // node_modules/.bin/cosmosdb-server links to <package>/lib/cli.js.
        var cli = new FileInfo(RepoPaths.NodeBin("cosmosdb-server")).ResolveLinkTarget(returnFinalTarget: true)?.FullName
            ?? RepoPaths.NodeBin("cosmosdb-server");
        var package = Path.GetDirectoryName(Path.GetDirectoryName(cli))!;
        _process = await LocalProcess.StartAsync(
            "node",
            ["-e", Launcher, package, port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
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
