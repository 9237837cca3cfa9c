using System.Diagnostics;
using System.Globalization;
using Serverless.Storage.Azure;
using Serverless.Testing;

namespace Serverless.Bench.Storage;

/// <summary>
/// Queue and blob throughput of our Azure Storage REST client against a freshly started Azurite.
/// Figures: <c>queue_send_per_s</c>, <c>queue_receive_delete_per_s</c> (16 in flight),
/// <c>queue_roundtrip_per_s</c> (send → receive → delete, one at a time), and
/// <c>blob_upload_mb_per_s</c> / <c>blob_download_mb_per_s</c> for one 64 MiB blob.
/// </summary>
internal static class QueueBench
{
    private const int Concurrency = 16;
    private const int Messages = 3200;
    private const int RoundTrips = 300;
    private const int BlobMiB = 64;

    /// <summary>Starts its own Azurite, measures, and stops it.</summary>
    public static async Task RunAsync(TextWriter log, IDictionary<string, double> figures)
    {
        var azurite = new AzuriteFixture();
        await azurite.StartAsync().ConfigureAwait(false);
        try
        {
            await RunAsync(azurite, log, figures).ConfigureAwait(false);
        }
        finally
        {
            await azurite.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Measures against an already running <paramref name="azurite"/>.</summary>
    public static async Task RunAsync(AzuriteFixture azurite, TextWriter log, IDictionary<string, double> figures)
    {
        ArgumentNullException.ThrowIfNull(azurite);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(figures);
        await QueuesAsync(azurite.QueueStore, log, figures).ConfigureAwait(false);
        await BlobsAsync(azurite.BlobStore, log, figures).ConfigureAwait(false);
    }

    private static async Task QueuesAsync(AzureQueueStore queues, TextWriter log, IDictionary<string, double> figures)
    {
        var queue = AzuriteFixture.UniqueName("bench");
        await queues.CreateIfNotExistsAsync(queue).ConfigureAwait(false);
        var payload = "{\"kind\":\"activity\",\"instance\":\"" + new string('x', 160) + "\"}";

        // Warm up connections and the JIT so the timings measure steady state.
        for (var i = 0; i < 20; i++)
        {
            var sent = await queues.SendAsync(queue, payload).ConfigureAwait(false);
            await queues.DeleteAsync(queue, sent.MessageId, sent.PopReceipt).ConfigureAwait(false);
        }

        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            for (var i = 0; i < Messages / Concurrency; i++)
            {
                await queues.SendAsync(queue, payload).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        Record(figures, log, "queue_send_per_s", Messages / watch.Elapsed.TotalSeconds, $"{Messages} sends, {Concurrency} in flight");

        var processed = 0;
        watch.Restart();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            var empty = 0;
            while (Volatile.Read(ref processed) < Messages && empty < 20)
            {
                var batch = await queues.ReceiveAsync(queue, 32, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    empty++;
                    continue;
                }

                foreach (var message in batch)
                {
                    await queues.DeleteAsync(queue, message.MessageId, message.PopReceipt).ConfigureAwait(false);
                }

                Interlocked.Add(ref processed, batch.Count);
            }
        })).ConfigureAwait(false);
        Record(figures, log, "queue_receive_delete_per_s", processed / watch.Elapsed.TotalSeconds, $"{processed} messages received in batches of 32 and deleted, {Concurrency} in flight");

        watch.Restart();
        for (var i = 0; i < RoundTrips; i++)
        {
            await queues.SendAsync(queue, payload).ConfigureAwait(false);
            var received = await queues.ReceiveAsync(queue, 1, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            foreach (var message in received)
            {
                await queues.DeleteAsync(queue, message.MessageId, message.PopReceipt).ConfigureAwait(false);
            }
        }

        Record(figures, log, "queue_roundtrip_per_s", RoundTrips / watch.Elapsed.TotalSeconds, $"{RoundTrips} sequential send → receive → delete");
    }

    private static async Task BlobsAsync(AzureBlobStore blobs, TextWriter log, IDictionary<string, double> figures)
    {
        var container = AzuriteFixture.UniqueName("bench");
        await blobs.CreateContainerIfNotExistsAsync(container).ConfigureAwait(false);
        await blobs.UploadAsync(container, "warmup.bin", new PatternStream(1024 * 1024)).ConfigureAwait(false);

        const long bytes = BlobMiB * 1024L * 1024L;
        var watch = Stopwatch.StartNew();
        var uploaded = await blobs.UploadAsync(container, "big.bin", new PatternStream(bytes)).ConfigureAwait(false);
        Record(figures, log, "blob_upload_mb_per_s", BlobMiB / watch.Elapsed.TotalSeconds, $"{BlobMiB} MiB in 4 MiB blocks");
        if (uploaded.Length != bytes)
        {
            throw new InvalidOperationException($"Uploaded {uploaded.Length} bytes, expected {bytes}.");
        }

        watch.Restart();
        long read = 0;
        await using (var download = await blobs.DownloadAsync(container, "big.bin").ConfigureAwait(false))
        {
            var buffer = new byte[128 * 1024];
            int n;
            while ((n = await download.Content.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                read += n;
            }
        }

        Record(figures, log, "blob_download_mb_per_s", BlobMiB / watch.Elapsed.TotalSeconds, $"{read / (1024 * 1024)} MiB streamed");
        await blobs.DeleteAsync(container, "big.bin").ConfigureAwait(false);
    }

    private static void Record(IDictionary<string, double> figures, TextWriter log, string name, double value, string what)
    {
        figures[name] = Math.Round(value, 1);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} = {value:0.0} ({what})"));
    }

    /// <summary>A non-seekable source of <paramref name="length"/> pseudo-random bytes that never holds them all.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private static readonly byte[] Pattern = CreatePattern();
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            for (var done = 0; done < n;)
            {
                var start = (int)((_position + done) % Pattern.Length);
                var chunk = Math.Min(n - done, Pattern.Length - start);
                Pattern.AsSpan(start, chunk).CopyTo(buffer[done..]);
                done += chunk;
            }

            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private static byte[] CreatePattern()
        {
            // 1 MiB + 7 bytes so blocks never repeat exactly (no accidental dedupe or compression wins).
            var pattern = new byte[(1024 * 1024) + 7];
            new Random(42).NextBytes(pattern);
            return pattern;
        }
    }
}
