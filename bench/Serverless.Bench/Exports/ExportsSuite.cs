using System.Diagnostics;
using System.Globalization;
using Serverless.Core.Exports;
using Serverless.Core.Exports.Coco;
using Serverless.Core.Exports.Zip;
using Serverless.Core.Media;

namespace Serverless.Bench.Exports;

/// <summary>
/// Bulk export building blocks. Figures: <c>coco_export_s</c> and peak memory for 100k images with
/// 1M annotations written to a file; <c>zip_mb_per_s</c> (stored entries from ~1 GiB of temp files)
/// against <c>disk_copy_mb_per_s</c> (the same files concatenated by a plain copy), their ratio
/// <c>zip_to_disk_ratio</c>, and <c>crc32_mb_per_s</c>; <c>video_realtime_factor</c> for a 720p30
/// 10-second testsrc clip through <see cref="VideoConverter"/> (probe, convert, verify).
/// </summary>
internal sealed class ExportsSuite : IBenchSuite
{
    private const int CocoImages = 100_000;
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
            await ZipAsync(folder.FullName, log, figures);
            await VideoAsync(folder.FullName, log, figures);
        }
        finally
        {
            folder.Delete(recursive: true);
        }

        return figures;
    }

    private static async Task CocoAsync(string folder, TextWriter log, Dictionary<string, double> figures)
    {
        var header = new CocoHeader(
            new CocoInfo("bench", "1", 2026, "bench", "https://example.test", DateTimeOffset.UnixEpoch),
            [],
            [new CocoCategory(1, "car", "vehicle"), new CocoCategory(2, "road", "surface"), new CocoCategory(3, "person", "human", ["head", "left_hand", "right_hand"], [new(1, 2), new(1, 3)])]);
        var path = Path.Combine(folder, "coco.json");
        GC.Collect();
        using var sampler = new MemorySampler();
        var watch = Stopwatch.StartNew();
        CocoExportResult result;
        await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            result = await CocoWriter.WriteAsync(file, header, SyntheticImages());
        }

        watch.Stop();
        var (managed, workingSet) = sampler.Stop();
        var size = new FileInfo(path).Length;
        File.Delete(path);
        log.WriteLine($"coco: {result.Images} images, {result.Annotations} annotations, {size / 1e6:0} MB in {watch.Elapsed.TotalSeconds:0.00} s; peak managed {managed:0} MB, peak working set {workingSet:0} MB");
        figures["coco_export_s"] = Math.Round(watch.Elapsed.TotalSeconds, 2);
        figures["coco_file_mb"] = Math.Round(size / 1e6, 1);
        figures["coco_peak_managed_mb"] = Math.Round(managed, 1);
        figures["coco_peak_working_set_mb"] = Math.Round(workingSet, 1);
        figures["coco_peak_mb"] = Math.Round(Math.Max(managed, workingSet), 1);
    }

    private static async IAsyncEnumerable<CocoImage> SyntheticImages()
    {
        var random = new Random(42);
        for (var i = 0; i < CocoImages; i++)
        {
            var annotations = new List<CocoAnnotationInput>(AnnotationsPerImage);
            for (var a = 0; a < AnnotationsPerImage; a++)
            {
                double x = random.Next(0, 1800), y = random.Next(0, 1000);
                AnnotationShape shape = (a % 10) switch
                {
                    < 6 => new BoxShape(x, y, random.Next(1, 120), random.Next(1, 80)),
                    < 9 => new PolygonShape([new(x, y), new(x + 40.5, y), new(x + 60, y + 20), new(x + 40, y + 50.25), new(x, y + 45), new(x - 10, y + 20)]),
                    _ => new KeypointsShape([new(x, y, KeypointVisibility.Visible), new(x - 20, y + 40, KeypointVisibility.Occluded), new(0, 0, KeypointVisibility.NotLabeled)]),
                };
                annotations.Add(new CocoAnnotationInput(a % 10 < 6 ? 1 : a % 10 < 9 ? 2 : 3, shape));
            }

            yield return new CocoImage($"dataset/folder{i / 1000:D3}/image_{i:D6}.jpg", 1920, 1080, annotations, $"https://example.test/items/{i}?sig=0123456789abcdef");
            if (i % 10_000 == 0)
            {
                await Task.Yield();
            }
        }
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

    /// <summary>Samples managed heap and working set every 20 ms until stopped; reports peaks in MB.</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _peakManaged;
        private long _peakWorkingSet;

        public MemorySampler() => _loop = Task.Run(LoopAsync);

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
            _peakWorkingSet = Math.Max(_peakWorkingSet, process.WorkingSet64);
        }
    }
}
