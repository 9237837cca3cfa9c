extern alias functions;

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Exports.Zip;
using Serverless.Core.Filters;
using Serverless.Core.Media;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;
using Serverless.Durable;
using Serverless.Testing;
using functions::Serverless.Functions.Datasets;
using functions::Serverless.Functions.Durable;
using functions::Serverless.Functions.Exports;
using functions::Serverless.Functions.Identity;
using functions::Serverless.Functions.Items;

namespace Serverless.Bench.Exports;

/// <summary>
/// Bulk exports. Figures: <c>coco_export_s</c> and peak memory of a real COCO export (the ExportLabels
/// orchestration on SQLite + Azurite) of 100k images with 1M annotations; <c>zip_mb_per_s</c> (stored entries from ~1 GiB of temp files)
/// against <c>disk_copy_mb_per_s</c> (the same files concatenated by a plain copy), their ratio
/// <c>zip_to_disk_ratio</c>, and <c>crc32_mb_per_s</c>; <c>video_realtime_factor</c> for a 720p30
/// 10-second testsrc clip through <see cref="VideoConverter"/> (probe, convert, verify).
/// </summary>
internal sealed class ExportsSuite : IBenchSuite
{
    private const string AdminKey = "ak_bench-admin-key-0000000000000000000000000000";
    private static readonly int CocoImages = int.TryParse(Environment.GetEnvironmentVariable("EXPORTS_BENCH_IMAGES"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 100_000;
    private const int AnnotationsPerImage = 10;
    private const int ZipFiles = 64;
    private const int ZipFileMiB = 16;
    private const double ClipSeconds = 10;

    public string Name => "exports";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        var folder = Directory.CreateTempSubdirectory("bench-exports-");
        try
        {
            await CocoAsync(folder.FullName, log, figures);
            if (Environment.GetEnvironmentVariable("EXPORTS_BENCH_COCO_ONLY") != "1")
            {
                await ZipAsync(folder.FullName, log, figures);
                await VideoAsync(folder.FullName, log, figures);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return figures;
    }

    /// <summary>
    /// The real export path: the functions app in process on SQLite and Azurite, 100k image items with 1M annotations
    /// seeded in the stores' shapes through the document store in batches, then <c>POST .../exports</c> (COCO) timed
    /// until its orchestration completes (plan, 200 page activities writing part blobs, staging fan-out, commit).
    /// Peak memory is sampled over the export only, after a compacting collection of the seeding's garbage.
    /// </summary>
    private static async Task CocoAsync(string folder, TextWriter log, Dictionary<string, double> figures)
    {
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_SERVERLESS_FUNCTIONS", Path.Combine(RepoPaths.Root, "functions", "Serverless.Functions"));
        var azurite = new AzuriteFixture();
        await azurite.StartAsync();
        try
        {
            await using var app = new BenchApp(new Dictionary<string, string?>
            {
                ["DocumentStore:Provider"] = "Sqlite",
                ["DocumentStore:SqlitePath"] = Path.Combine(folder, "platform.db"),
                ["Storage:ConnectionString"] = azurite.ConnectionString,
                ["Bootstrap:AdminApiKey"] = AdminKey,
                ["Logging:LogLevel:Default"] = "Warning",
            });
            using var client = await OwnerClientAsync(app);
            var projectId = await CreateAsync(client, "/api/projects", new { name = "bench" });
            var datasetId = await CreateAsync(client, $"/api/projects/{projectId}/datasets", new { name = "coco" });
            var recipeId = await CreateAsync(client, $"/api/projects/{projectId}/recipes", new
            {
                name = "bench",
                classes = new object[]
                {
                    new { name = "car", color = "#ff0000", shape = "box" },
                    new { name = "road", color = "#00ff00", shape = "polygon" },
                    new { name = "person", color = "#0000ff", shape = "point" },
                },
            });
            using (var attached = await client.PutAsJsonAsync($"/api/projects/{projectId}/datasets/{datasetId}/recipe", new { recipeId }))
            {
                attached.EnsureSuccessStatusCode();
            }

            var dbPath = Path.Combine(folder, "platform.db");
            if (Environment.GetEnvironmentVariable("EXPORTS_BENCH_SEED_IN_APP") == "1")
            {
                // The earlier way: the app's own writer connection keeps the page cache the seeding filled (~64 MB).
                await SeedAsync(app.Services.GetRequiredService<IDocumentStore>(), projectId, datasetId, log, figures);
            }
            else
            {
                // The 1.1M documents are the fixture, as if written earlier by other instances: they go through a store
                // of their own on the same file, closed before the export, so its writer's page cache (SQLite's
                // cache_size, 64 MiB, filled by the seeding) is not counted as the export's. The app's own
                // connections stay open and are measured.
                var seeder = new SqliteDocumentStore(new SqliteDocumentStoreOptions(dbPath));
                await using (seeder)
                {
                    foreach (var spec in DatasetContainers.All)
                    {
                        await seeder.EnsureContainerAsync(spec);
                    }

                    await SeedAsync(seeder, projectId, datasetId, log, figures);
                }
            }

            figures["coco_db_mb"] = Math.Round(new FileInfo(dbPath).Length / 1e6, 1);
            await log.WriteLineAsync($"database file: {figures["coco_db_mb"]} MB");
            // Aggressive: compacts and gives the seeding's memory back to the OS, so the export's peak is its own.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            using (var process = Process.GetCurrentProcess())
            {
                figures["coco_baseline_working_set_mb"] = Math.Round(process.WorkingSet64 / 1e6, 1);
                await log.WriteLineAsync($"working set before the export: {figures["coco_baseline_working_set_mb"]} MB ({MemoryBreakdown.Read()})");
            }

            using var sampler = new MemorySampler();
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var watch = Stopwatch.StartNew();
            string exportId;
            using (var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/exports", new { format = "coco", name = "bench", scope = new { datasetId } }))
            {
                response.EnsureSuccessStatusCode();
                using var accepted = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                exportId = accepted.RootElement.GetProperty("exportId").GetString()!;
            }

            var durable = app.Services.GetRequiredService<DurableClient>();
            var state = await durable.WaitForCompletionAsync(ProjectOrchestrations.InstanceId(projectId, nameof(ExportLabels), exportId), TimeSpan.FromMinutes(30));
            watch.Stop();
            var cpuSeconds = (Environment.CpuUsage.TotalTime - cpuBefore).TotalSeconds;
            var (managed, workingSet) = sampler.Stop();
            using var export = JsonDocument.Parse(await client.GetStringAsync(new Uri($"/api/projects/{projectId}/exports/{exportId}", UriKind.Relative)));
            var root = export.RootElement;
            if (state.Status != OrchestrationRuntimeStatus.Completed || root.GetProperty("state").GetString() != "done")
            {
                throw new InvalidOperationException($"The export ended {state.Status}, state {root.GetProperty("state")}: {root.GetProperty("error")}");
            }

            var counts = root.GetProperty("counts");
            var images = counts.GetProperty("items").GetInt64();
            var annotations = counts.GetProperty("annotations").GetInt64();
            var size = root.GetProperty("sizeBytes").GetInt64();
            if (images != CocoImages || annotations != (long)CocoImages * AnnotationsPerImage)
            {
                throw new InvalidOperationException($"The export wrote {images} images and {annotations} annotations.");
            }

            await CheckFileAsync(client, projectId, exportId, size);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            await log.WriteLineAsync($"after the export and a full collection (what stays live): {MemoryBreakdown.Read()}");
            await log.WriteLineAsync($"at the peak ({sampler.PeakAt.TotalSeconds:0.0} s into {watch.Elapsed.TotalSeconds:0.0} s): {sampler.AtPeak}; GC: {(GCSettings.IsServerGC ? "server" : "workstation")}, {GCSettings.LatencyMode}, collections gen0/1/2 {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
            figures["coco_peak_rss_anon_mb"] = sampler.AtPeak.AnonMb;
            figures["coco_peak_rss_file_mb"] = sampler.AtPeak.FileMb;
            await log.WriteLineAsync($"coco (export orchestration on SQLite + Azurite): {images:N0} images, {annotations:N0} annotations, {size / 1e6:0} MB in {watch.Elapsed.TotalSeconds:0.00} s; peak managed {managed:0} MB, peak working set {workingSet:0} MB (targets < 60 s, < 300 MB)");
            // The machine is shared: CPU time of this process (the app, SQLite and the writer; Azurite runs apart) is the steadier figure.
            await log.WriteLineAsync($"coco export used {cpuSeconds:0.0} CPU-s in this process ({cpuSeconds / watch.Elapsed.TotalSeconds:0.00} cores busy on average), {images / cpuSeconds:0} images and {annotations / cpuSeconds:0} annotations per CPU-s");
            figures["coco_export_s"] = Math.Round(watch.Elapsed.TotalSeconds, 2);
            figures["coco_export_cpu_s"] = Math.Round(cpuSeconds, 2);
            figures["coco_annotations_per_cpu_s"] = Math.Round(annotations / cpuSeconds);
            figures["coco_file_mb"] = Math.Round(size / 1e6, 1);
            figures["coco_peak_managed_mb"] = Math.Round(managed, 1);
            figures["coco_peak_working_set_mb"] = Math.Round(workingSet, 1);
            figures["coco_peak_mb"] = Math.Round(Math.Max(managed, workingSet), 1);
            figures["coco_target_s"] = 60;
            figures["coco_target_mb"] = 300;
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }

    /// <summary>Item and annotation documents as ItemStore and AnnotationStore write them, in batches of whole items.</summary>
    private static async Task SeedAsync(IDocumentStore store, string projectId, string datasetId, TextWriter log, Dictionary<string, double> figures)
    {
        var container = store.Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
        var random = new Random(42);
        var perBatch = DocumentLimits.MaxBatchOperations / (AnnotationsPerImage + 1);
        await log.WriteLineAsync($"seeding {CocoImages:N0} items and {CocoImages * AnnotationsPerImage:N0} annotations ...");
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < CocoImages; start += perBatch)
        {
            var batch = new List<BatchOperation>(DocumentLimits.MaxBatchOperations);
            for (var i = start; i < Math.Min(CocoImages, start + perBatch); i++)
            {
                var id = $"i_{i:D7}";
                var name = $"image_{i:D6}.jpg";
                var dir = $"/folder{i / 1000:D3}";
                var metadata = new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "image/jpeg", ["width"] = 1920, ["height"] = 1080 } };
                var item = new Item(id, projectId, datasetId, name, dir, dir + "/" + name, "image", 100_000, true, [], metadata, "u_bench", now, now);
                var body = JsonNode.Parse(ItemStore.ItemDocument(new NewItem(item, ItemStore.BlobName(projectId, datasetId, id)), partition))!.AsObject();
                body["annotationCount"] = AnnotationsPerImage;
                batch.Add(BatchOperation.Create(id, body));
                for (var a = 0; a < AnnotationsPerImage; a++)
                {
                    double x = random.Next(0, 1800), y = random.Next(0, 1000);
                    var (label, shape, geometry) = (a % 10) switch
                    {
                        < 6 => ("car", "box", (JsonNode)new JsonObject { ["x"] = x, ["y"] = y, ["width"] = random.Next(1, 120), ["height"] = random.Next(1, 80) }),
                        < 9 => ("road", "polygon", new JsonObject { ["points"] = new JsonArray(P(x, y), P(x + 40.5, y), P(x + 60, y + 20), P(x + 40, y + 50.25), P(x, y + 45), P(x + 5, y + 20)) }),
                        _ => ("person", "point", new JsonObject { ["x"] = x, ["y"] = y }),
                    };
                    var annotationId = $"a_{i:D7}_{a}";
                    batch.Add(BatchOperation.Create(annotationId, new JsonObject
                    {
                        ["id"] = annotationId, ["projectId"] = projectId, ["datasetId"] = datasetId, ["itemId"] = id,
                        ["label"] = label, ["shape"] = shape, ["geometry"] = geometry, ["attributes"] = new JsonObject(),
                        ["frame"] = null, ["frames"] = null, ["createdBy"] = "u_bench", ["createdAt"] = now, ["updatedBy"] = "u_bench", ["updatedAt"] = now,
                        ["kind"] = "annotation",
                    }));
                }
            }

            await container.ExecuteBatchAsync(partition, batch);
        }

        await container.UpsertAsync(partition, DatasetContainers.StatsId, new JsonObject { ["kind"] = "stats", ["itemCount"] = CocoImages, ["byType"] = new JsonObject { ["image"] = CocoImages } });
        await container.UpsertAsync(partition, "annotation-stats", new JsonObject { ["kind"] = "stats", ["annotationCount"] = (long)CocoImages * AnnotationsPerImage });
        figures["coco_seed_docs_per_s"] = Math.Round(CocoImages * (AnnotationsPerImage + 1) / watch.Elapsed.TotalSeconds);
        await log.WriteLineAsync($"seeded in {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private static JsonArray P(double x, double y) => new(x, y);

    /// <summary>Reads the file through its download link and checks it is one complete JSON document of the reported size.</summary>
    private static async Task CheckFileAsync(HttpClient client, string projectId, string exportId, long size)
    {
        using var link = JsonDocument.Parse(await client.GetStringAsync(new Uri($"/api/projects/{projectId}/exports/{exportId}/download", UriKind.Relative)));
        using var plain = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        await using var stream = await plain.GetStreamAsync(new Uri(link.RootElement.GetProperty("url").GetString()!));
        var buffer = new byte[1 << 16];
        long total = 0;
        var state = new JsonReaderState();
        var pending = Array.Empty<byte>();
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            total += read;
            byte[] chunk = [.. pending, .. buffer.AsSpan(0, read)];
            pending = Scan(chunk, isFinal: false, ref state);
        }

        Scan(pending, isFinal: true, ref state);
        if (total != size)
        {
            throw new InvalidOperationException($"The download has {total} bytes; the export reports {size}.");
        }
    }

    /// <summary>Reads every token of <paramref name="chunk"/> it can; returns the bytes left for the next chunk.</summary>
    private static byte[] Scan(byte[] chunk, bool isFinal, ref JsonReaderState state)
    {
        var reader = new Utf8JsonReader(chunk, isFinal, state);
        while (reader.Read())
        {
        }

        state = reader.CurrentState;
        return chunk[(int)reader.BytesConsumed..];
    }

    private static async Task<HttpClient> OwnerClientAsync(BenchApp app)
    {
        using var admin = app.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/users", new { name = "bench", email = "bench@example.com", orgRole = "Member" });
        response.EnsureSuccessStatusCode();
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created.RootElement.GetProperty("apiKey").GetProperty("key").GetString());
        return client;
    }

    private static async Task<string> CreateAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        response.EnsureSuccessStatusCode();
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return created.RootElement.GetProperty("id").GetString()!;
    }

    private static async Task ZipAsync(string folder, TextWriter log, Dictionary<string, double> figures)
    {
        var sources = new List<string>();
        var block = new byte[ZipFileMiB * 1024 * 1024];
        new Random(5).NextBytes(block);
        for (var i = 0; i < ZipFiles; i++)
        {
            block[0] = (byte)i;
            var path = Path.Combine(folder, $"data{i:D3}.bin");
            await File.WriteAllBytesAsync(path, block);
            sources.Add(path);
        }

        var totalMb = ZipFiles * ZipFileMiB * 1024.0 * 1024.0 / 1e6;

        var crcWatch = Stopwatch.StartNew();
        uint crc = 0;
        for (var i = 0; i < ZipFiles; i++)
        {
            crc = Crc32.Update(crc, block);
        }

        crcWatch.Stop();
        figures["crc32_mb_per_s"] = Math.Round(totalMb / crcWatch.Elapsed.TotalSeconds, 0);

        // Plain copy first and zip second, then both again, keeping the better of each (page cache warm-up).
        double bestCopy = 0, bestZip = 0;
        for (var round = 0; round < 2; round++)
        {
            var copyPath = Path.Combine(folder, "copy.bin");
            var watch = Stopwatch.StartNew();
            await using (var output = new FileStream(copyPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                foreach (var source in sources)
                {
                    await using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    await input.CopyToAsync(output, 1024 * 1024);
                }
            }

            bestCopy = Math.Max(bestCopy, totalMb / watch.Elapsed.TotalSeconds);
            File.Delete(copyPath);

            var zipPath = Path.Combine(folder, "data.zip");
            watch.Restart();
            await using (var output = new FileStream(zipPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                var writer = new ZipStreamWriter(output);
                foreach (var source in sources)
                {
                    await using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
                    await writer.AddEntryAsync(Path.GetFileName(source), input, new ZipEntryOptions(ZipCompression.Stored));
                }

                await writer.CompleteAsync();
            }

            bestZip = Math.Max(bestZip, totalMb / watch.Elapsed.TotalSeconds);
            File.Delete(zipPath);
        }

        log.WriteLine($"zip: {totalMb:0} MB stored at {bestZip:0} MB/s; plain copy {bestCopy:0} MB/s; CRC-32 alone {figures["crc32_mb_per_s"]:0} MB/s (crc {crc:X8})");
        figures["zip_mb_per_s"] = Math.Round(bestZip, 0);
        figures["disk_copy_mb_per_s"] = Math.Round(bestCopy, 0);
        figures["zip_to_disk_ratio"] = Math.Round(bestZip / bestCopy, 3);
        foreach (var source in sources)
        {
            File.Delete(source);
        }
    }

    private static async Task VideoAsync(string folder, TextWriter log, Dictionary<string, double> figures)
    {
        var source = Path.Combine(folder, "clip720.mp4");
        var make = await MediaProcess.RunAsync(
            "ffmpeg",
            ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", $"testsrc=size=1280x720:rate=30:duration={ClipSeconds.ToString(CultureInfo.InvariantCulture)}", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", source],
            TimeSpan.FromMinutes(5));
        if (make.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg could not make the clip: {make.StandardErrorTail}");
        }

        var watch = Stopwatch.StartNew();
        var result = await new VideoConverter().ConvertAsync(source, Path.Combine(folder, "clip720.webm"));
        watch.Stop();
        if (result.State != VideoConversionState.Done)
        {
            throw new InvalidOperationException($"conversion failed: {result.FailureReason}");
        }

        log.WriteLine($"video: 720p30 {ClipSeconds} s clip, {result.Converted!.FrameCount} frames, probe+convert+verify in {watch.Elapsed.TotalSeconds:0.00} s");
        figures["video_convert_s"] = Math.Round(watch.Elapsed.TotalSeconds, 2);
        figures["video_realtime_factor"] = Math.Round(ClipSeconds / watch.Elapsed.TotalSeconds, 2);
    }

    /// <summary>The functions app in process with the bench's settings.</summary>
    private sealed class BenchApp(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<functions::Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }
        }
    }

    /// <summary>
    /// Samples managed heap and working set every 20 ms until stopped; reports peaks in MB. The working set is the
    /// kernel's resident set (<c>VmRSS</c>); at its peak the sampler keeps how it splits (<see cref="MemoryBreakdown"/>),
    /// so a figure can be traced to anonymous memory (managed heap, SQLite's page caches, native buffers) or to
    /// file pages mapped into the process (assemblies, SQLite's memory-mapped database).
    /// </summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _peakManaged;
        private long _peakWorkingSet;

        public MemorySampler() => _loop = Task.Run(LoopAsync);

        /// <summary>The split of the resident set at its peak.</summary>
        public MemoryBreakdown AtPeak { get; private set; } = MemoryBreakdown.Read();

        /// <summary>When the peak was reached, from the sampler's start.</summary>
        public TimeSpan PeakAt { get; private set; }

        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public (double ManagedMb, double WorkingSetMb) Stop()
        {
            _stop.Cancel();
            _loop.Wait();
            Sample();
            return (_peakManaged / 1e6, _peakWorkingSet / 1e6);
        }

        public void Dispose() => _stop.Dispose();

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Sample();
                try
                {
                    await Task.Delay(20, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        private void Sample()
        {
            using var process = Process.GetCurrentProcess();
            _peakManaged = Math.Max(_peakManaged, GC.GetTotalMemory(false));
            if (process.WorkingSet64 > _peakWorkingSet)
            {
                _peakWorkingSet = process.WorkingSet64;
                AtPeak = MemoryBreakdown.Read();
                PeakAt = _clock.Elapsed;
            }
        }
    }

    /// <summary>
    /// The resident set split as Linux accounts it (<c>/proc/self/status</c>: <c>RssAnon</c>, <c>RssFile</c>,
    /// <c>RssShmem</c>, in MB) and the GC's own view (heap bytes after the last collection, bytes committed).
    /// </summary>
    internal sealed record MemoryBreakdown(double RssMb, double AnonMb, double FileMb, double ShmemMb, double GcHeapMb, double GcCommittedMb, string Generations, double SqliteMb, double SqliteHighMb, double DbMappedMb)
    {
        public static MemoryBreakdown Read()
        {
            double Field(string[] lines, string name) =>
                lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal)) is { } line
                    ? Math.Round(long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024 / 1e6, 1)
                    : double.NaN;
            var status = File.Exists("/proc/self/status") ? File.ReadAllLines("/proc/self/status") : [];
            var gc = GC.GetGCMemoryInfo();
            return new MemoryBreakdown(
                Field(status, "VmRSS"), Field(status, "RssAnon"), Field(status, "RssFile"), Field(status, "RssShmem"),
                Math.Round(gc.HeapSizeBytes / 1e6, 1), Math.Round(gc.TotalCommittedBytes / 1e6, 1),
                string.Join('/', gc.GenerationInfo.ToArray().Select(g => Math.Round(g.SizeAfterBytes / 1e6, 1).ToString(CultureInfo.InvariantCulture))),
                // SQLite's own allocator counters: page caches, statements, schema of every connection in the process.
                SQLitePCL.raw.sqlite3_status(SQLitePCL.raw.SQLITE_STATUS_MEMORY_USED, out var used, out var high, 0) == 0 ? Math.Round(used / 1e6, 1) : double.NaN,
                Math.Round(high / 1e6, 1),
                DatabaseMappedMb());
        }

        /// <summary>Resident pages of memory-mapped database files (SQLite's mmap), from <c>/proc/self/smaps</c>.</summary>
        private static double DatabaseMappedMb()
        {
            if (!File.Exists("/proc/self/smaps"))
            {
                return double.NaN;
            }

            long kb = 0;
            var inDb = false;
            foreach (var line in File.ReadLines("/proc/self/smaps"))
            {
                // A mapping's header line starts with its address range ("7f..-7f.. r--s ... /path"); field lines with "Name:".
                var header = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (header.Length >= 5 && header[0].Contains('-', StringComparison.Ordinal) && !header[0].EndsWith(':'))
                {
                    inDb = header.Length >= 6 && header[5].EndsWith(".db", StringComparison.Ordinal);
                }
                else if (inDb && line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    kb += long.Parse(line[4..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }

            return Math.Round(kb * 1024 / 1e6, 1);
        }

        public override string ToString() =>
            $"rss {RssMb} MB = anon {AnonMb} + file {FileMb} + shmem {ShmemMb}; GC heap {GcHeapMb} MB (gen0/1/2/LOH/POH after the last collection {Generations} MB), committed {GcCommittedMb} MB; SQLite allocations {SqliteMb} MB (high-water {SqliteHighMb}); database file pages mapped {DbMappedMb} MB";
    }
}
