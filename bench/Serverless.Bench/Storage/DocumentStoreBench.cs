using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Bench.Storage;

/// <summary>
/// The SQLite document store on a temp file: batched and single writes, point reads, and an indexed
/// filtered query over one million documents in one partition.
/// </summary>
internal static class DocumentStoreBench
{
    private const int LoadedDocuments = 1_000_000;
    private const int BatchSize = 100;

    // Concurrent callers, as on a server: the store commits batches that queue up together (group commit).
    private const int Loaders = 4;
    private const int UnindexedDocuments = 200_000;
    private const int PointWrites = 20_000;
    private const int PointReads = 50_000;
    private const int Queries = 200;
    private const int Statuses = 20;

    public static async Task RunAsync(TextWriter log, IDictionary<string, double> figures)
    {
        var folder = Directory.CreateTempSubdirectory("bench-sqlite-");
        try
        {
            await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(Path.Combine(folder.FullName, "bench.db")));
            await store.EnsureContainerAsync(new ContainerSpec("items", ["status", "dataset"]));
            var items = store.Container("items");

            await log.WriteLineAsync($"loading {LoadedDocuments:N0} documents in batches of {BatchSize} from {Loaders} concurrent callers ...");
            var clock = Stopwatch.StartNew();
            await LoadAsync(items, LoadedDocuments, log, clock);
            figures["sqlite_batch_writes_per_s"] = Math.Round(LoadedDocuments / clock.Elapsed.TotalSeconds);
            await log.WriteLineAsync($"batch writes: {figures["sqlite_batch_writes_per_s"]:N0}/s");

            // The same load into a container without indexed paths shows what each index costs.
            await store.EnsureContainerAsync(new ContainerSpec("plain"));
            clock.Restart();
            await LoadAsync(store.Container("plain"), UnindexedDocuments, log, clock);
            figures["sqlite_batch_writes_unindexed_per_s"] = Math.Round(UnindexedDocuments / clock.Elapsed.TotalSeconds);
            await log.WriteLineAsync($"batch writes without indexes: {figures["sqlite_batch_writes_unindexed_per_s"]:N0}/s");

            clock.Restart();
            for (var i = 0; i < PointWrites; i++)
            {
                await items.UpsertAsync("pw", Id(i), Body(i));
            }

            figures["sqlite_point_writes_per_s"] = Math.Round(PointWrites / clock.Elapsed.TotalSeconds);
            await log.WriteLineAsync($"point writes: {figures["sqlite_point_writes_per_s"]:N0}/s");

            var random = new Random(42);
            clock.Restart();
            for (var i = 0; i < PointReads; i++)
            {
                _ = await items.ReadAsync("p0", Id(random.Next(LoadedDocuments))) ?? throw new InvalidOperationException("A loaded document is missing.");
            }

            figures["sqlite_point_reads_per_s"] = Math.Round(PointReads / clock.Elapsed.TotalSeconds);
            await log.WriteLineAsync($"point reads: {figures["sqlite_point_reads_per_s"]:N0}/s");

            // Each status matches 50,000 of the 1M documents; every other query fetches the second page.
            var latencies = new List<double>(Queries);
            for (var i = 0; i < Queries; i++)
            {
                var query = new DocumentQuery("p0", Filter.Eq("status", Status(random.Next(Statuses))), PageSize: 100);
                clock.Restart();
                var page = await items.QueryAsync(query);
                if (i % 2 == 1)
                {
                    page = await items.QueryAsync(query with { ContinuationToken = page.ContinuationToken });
                }

                latencies.Add(clock.Elapsed.TotalMilliseconds / (i % 2 == 1 ? 2 : 1));
                if (page.Items.Count != 100)
                {
                    throw new InvalidOperationException($"Expected a full page, got {page.Items.Count} documents.");
                }
            }

            latencies.Sort();
            figures["sqlite_query_1m_p50_ms"] = Math.Round(Percentile(latencies, 0.50), 3);
            figures["sqlite_query_1m_p99_ms"] = Math.Round(Percentile(latencies, 0.99), 3);
            await log.WriteLineAsync($"indexed query over 1M: p50 {figures["sqlite_query_1m_p50_ms"]} ms, p99 {figures["sqlite_query_1m_p99_ms"]} ms");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static async Task LoadAsync(IDocumentContainer container, int count, TextWriter log, Stopwatch clock)
    {
        var loaded = 0;
        var loaders = Enumerable.Range(0, Loaders).Select(loader => Task.Run(async () =>
        {
            // Each loader writes every Loaders-th batch; together they fill ids 0..count-1.
            for (var batch = loader; batch < count / BatchSize; batch += Loaders)
            {
                var operations = new List<BatchOperation>(BatchSize);
                for (var i = batch * BatchSize; i < (batch + 1) * BatchSize; i++)
                {
                    operations.Add(BatchOperation.Create(Id(i), Body(i)));
                }

                await container.ExecuteBatchAsync("p0", operations);
                var total = Interlocked.Add(ref loaded, BatchSize);
                if (total % 200_000 == 0)
                {
                    await log.WriteLineAsync($"  {total:N0} loaded, {total / clock.Elapsed.TotalSeconds:N0}/s");
                }
            }
        }));
        await Task.WhenAll(loaders);
    }

    private static string Id(int i) => "item-" + i.ToString("D7", CultureInfo.InvariantCulture);

    private static string Status(int k) => "s" + k.ToString(CultureInfo.InvariantCulture);

    private static JsonObject Body(int i) => new()
    {
        ["status"] = Status(i % Statuses),
        ["size"] = i % 1000,
        ["name"] = "item number " + i.ToString(CultureInfo.InvariantCulture),
        ["dataset"] = "ds-" + (i % 7).ToString(CultureInfo.InvariantCulture),
        ["tags"] = new JsonArray("a", "b"),
        ["meta"] = new JsonObject { ["width"] = 1920, ["height"] = 1080, ["mime"] = "image/jpeg" },
    };

    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
