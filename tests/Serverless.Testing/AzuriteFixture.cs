using Serverless.Storage.Azure;
using Xunit;

namespace Serverless.Testing;

/// <summary>
/// Azurite (Blob, Queue and Table) on free loopback ports with a throw-away data folder. Shared by
/// a test collection so it starts once per test assembly; give every test its own container and
/// queue via <see cref="UniqueName"/>. It can be stopped and restarted on the same ports.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>The collection name test classes use: <c>[Collection(AzuriteFixture.Collection)]</c>.</summary>
    public const string Collection = "azurite";

    private readonly int[] _ports = LocalProcess.FreePorts(3);
    private readonly string _location = Path.Combine(Path.GetTempPath(), "azurite-" + Guid.NewGuid().ToString("N")[..12]);
    private LocalProcess? _process;

    public AzuriteFixture()
    {
        ConnectionString =
            $"DefaultEndpointsProtocol=http;AccountName={AzureStorageOptions.DevelopmentAccountName};AccountKey={AzureStorageOptions.DevelopmentAccountKey};" +
            $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{AzureStorageOptions.DevelopmentAccountName};" +
            $"QueueEndpoint=http://127.0.0.1:{QueuePort}/{AzureStorageOptions.DevelopmentAccountName};" +
            $"TableEndpoint=http://127.0.0.1:{TablePort}/{AzureStorageOptions.DevelopmentAccountName};";
        Options = AzureStorageOptions.FromConnectionString(ConnectionString);
        BlobStore = new AzureBlobStore(Options);
        QueueStore = new AzureQueueStore(Options);
    }

    public int BlobPort => _ports[0];

    public int QueuePort => _ports[1];

    public int TablePort => _ports[2];

    /// <summary>A Shared Key connection string with Azurite's path-style endpoints.</summary>
    public string ConnectionString { get; }

    public AzureStorageOptions Options { get; }

    public AzureBlobStore BlobStore { get; }

    public AzureQueueStore QueueStore { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>A valid container/queue name unique to this call, e.g. <c>blobs-3f2a9c1d7e</c>.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 63)];

    public Task InitializeAsync() => StartAsync();

    /// <summary>Starts Azurite (again) on the fixture's ports and data folder.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            return;
        }

        Directory.CreateDirectory(_location);
        _process = await LocalProcess.StartAsync(
            RepoPaths.NodeBin("azurite"),
            [
                "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--location", _location,
                "--silent", "--skipApiVersionCheck", "--loose",
            ],
            _ports,
            TimeSpan.FromSeconds(60)).ConfigureAwait(false);
    }

    /// <summary>Stops Azurite; the stores then fail with "unreachable" errors until <see cref="StartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync().ConfigureAwait(false);
            _process = null;
        }
    }

    public async Task DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_location, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless; never fail a test run over it.
        }
    }
}
