extern alias functions;

using System.Diagnostics;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Core.Storage.Blobs;
using Serverless.Storage.Sqlite;
using Serverless.Testing;
using functions::Serverless.Functions.Datasets;
using functions::Serverless.Functions.Items;
using functions::Serverless.Functions.RawZips;

namespace Serverless.Bench.Exports;

/// <summary>
/// The raw-data zip end to end on a fresh Azurite (disk-backed) and SQLite: <see cref="RawZipBuilder.BuildAsync"/>
/// (the activity of the BuildRawZip orchestration) over 32 files of 16 MiB, blob to blob through
/// <see cref="BlockStagingStream"/>. Figures: <c>raw_zip_mb_per_s</c>, <c>blob_copy_mb_per_s</c> (the same bytes
/// downloaded and uploaded blob by blob with nothing else: the floor the storage sets) and their ratio
/// <c>raw_zip_to_copy_ratio</c> (1.0 = the zip costs nothing beyond moving the bytes).
/// </summary>
internal sealed class RawZipBench : IBenchSuite
{
    private const int Files = 32;
    private const int FileMiB = 16;

    public string Name => "rawzip";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        var folder = Directory.CreateTempSubdirectory("bench-rawzip-");
        var azurite = new AzuriteFixture();
        try
        {
            await azurite.InitializeAsync();
            await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(Path.Combine(folder.FullName, "bench.db")));
            foreach (var spec in DatasetContainers.All)
            {
                await store.EnsureContainerAsync(spec);
            }

            var blobs = azurite.BlobStore;
            var itemsOptions = Options.Create(new ItemsOptions { BlobContainer = "items" });
            var zipOptions = Options.Create(new RawZipOptions { BlobContainer = "zips" });
            await blobs.CreateContainerIfNotExistsAsync("items");
            await blobs.CreateContainerIfNotExistsAsync("copies");
            var datasets = new DatasetStore(store, TimeProvider.System);
            const string projectId = "p_bench";
            var datasetId = (await datasets.CreateAsync(projectId, "bench", "u_bench", CancellationToken.None)).Id;
            var items = new ItemStore(store, blobs, new PathClaims(store), itemsOptions, TimeProvider.System, []);
            var bytes = new byte[FileMiB * 1024 * 1024];
            var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
            var names = new List<string>();
            for (var i = 0; i < Files; i++)
            {
                Random.Shared.NextBytes(bytes);
                var itemId = $"i_bench{i:D4}";
                var blobName = ItemStore.BlobName(projectId, datasetId, itemId);
                using (var content = new MemoryStream(bytes, writable: false))
                {
                    await blobs.UploadAsync("items", blobName, content, new BlobUploadOptions("image/jpeg", BlockSize: 8 * 1024 * 1024));
                }

                var system = new System.Text.Json.Nodes.JsonObject { ["mimetype"] = "image/jpeg" };
                var item = new Item(itemId, projectId, datasetId, $"f{i}.jpg", "/bench", $"/bench/f{i}.jpg", "image", bytes.Length, false, [],
                    new() { ["system"] = system, ["user"] = new System.Text.Json.Nodes.JsonObject() }, "u_bench", now, now);
                var error = (await items.WriteAsync(datasetId, [new NewItem(item, blobName)], CancellationToken.None))[0];
                if (error is not null)
                {
                    throw error;
                }

                names.Add(blobName);
            }

            var totalMb = Files * (double)bytes.Length / 1e6;
            var builder = new RawZipBuilder(store, blobs, datasets, itemsOptions, zipOptions, TimeProvider.System);
            double bestZip = 0, bestCopy = 0;
            RawZipResult? result = null;
            for (var round = 0; round < 2; round++)
            {
                var copy = Stopwatch.StartNew();
                foreach (var name in names)
                {
                    await using var download = await blobs.DownloadAsync("items", name);
                    await blobs.UploadAsync("copies", name, download.Content, new BlobUploadOptions("image/jpeg", BlockSize: 8 * 1024 * 1024));
                }

                bestCopy = Math.Max(bestCopy, totalMb / copy.Elapsed.TotalSeconds);
                var zip = Stopwatch.StartNew();
                result = await builder.BuildAsync(new RawZipInput(projectId, datasetId, null, "u_bench"), CancellationToken.None);
                bestZip = Math.Max(bestZip, totalMb / zip.Elapsed.TotalSeconds);
                if (result.Error is not null || result.Entries != Files)
                {
                    throw new InvalidOperationException($"The raw zip failed: {result.Error ?? result.Entries + " entries"}");
                }
            }

            await log.WriteLineAsync($"raw zip: {Files} x {FileMiB} MiB blob to blob at {bestZip:0} MB/s (archive {result!.ArchiveBytes / 1e6:0} MB); plain blob copy {bestCopy:0} MB/s");
            figures["raw_zip_mb_per_s"] = Math.Round(bestZip, 0);
            figures["blob_copy_mb_per_s"] = Math.Round(bestCopy, 0);
            figures["raw_zip_to_copy_ratio"] = Math.Round(bestZip / bestCopy, 3);
        }
        finally
        {
            await azurite.DisposeAsync();
            folder.Delete(recursive: true);
        }

        return figures;
    }
}
