extern alias functions;

using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using functions::Serverless.Functions.Activity;
using functions::Serverless.Functions.Analytics;
using functions::Serverless.Functions.Identity;
using Serverless.Storage.Sqlite;

namespace Serverless.Bench.Analytics;

/// <summary>
/// Analytics at scale on SQLite: a project's activity log of 10M events (ANALYTICS_BENCH_EVENTS to change it), 10%
/// of them <c>annotation.created</c> (1M annotations), spread over 30 days, 50 users, 20 tasks and 30 label classes.
/// Events are loaded directly into the SQLite activity table in the exact shape <see cref="ActivityLog"/> writes
/// (see <c>SeedAsync</c>; the API path would take hours). Then: a full rebuild (events/s), the first query (loads the cube
/// into the instance's cache), every analytics route with random filters (p50/p99, as the endpoints call them:
/// catch-up then the query over the cube), and a read right after 1,000 new events (incremental catch-up).
/// </summary>
internal sealed class AnalyticsSuite : IBenchSuite
{
    private const string ProjectId = "p_bench";
    private const int Days = 30;
    private const int Users = 50;
    private const int Reviewers = 10;
    private const int AnnotationTasks = 10;
    private const int Labels = 30;
    private const int Datasets = 4;
    private const int CallsPerRoute = 200;

    public string Name => "analytics";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var total = long.TryParse(Environment.GetEnvironmentVariable("ANALYTICS_BENCH_EVENTS"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 10_000_000;
        var figures = new Dictionary<string, double>(StringComparer.Ordinal) { ["events"] = total };
        var folder = Directory.CreateTempSubdirectory("bench-analytics-");
        try
        {
            await using var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(Path.Combine(folder.FullName, "bench.db")));
            foreach (var spec in ActivityContainers.All.Concat(AnalyticsContainers.All))
            {
                await store.EnsureContainerAsync(spec);
            }

            await log.WriteLineAsync($"seeding {total:N0} events ...");
            var clock = Stopwatch.StartNew();
            var annotations = await SeedAsync(store, Path.Combine(folder.FullName, "bench.db"), total, log, figures);
            figures["seed_events_per_s"] = Math.Round(total / clock.Elapsed.TotalSeconds);
            figures["annotation_created_events"] = annotations;
            figures["load_average_after_seed"] = LoadAverage();
            await log.WriteLineAsync($"seeded in {clock.Elapsed.TotalSeconds:N0} s (insert {figures["seed_insert_s"]} s, indexes {figures["seed_index_build_s"]} s); load {figures["load_average_after_seed"]}");

            await ProfileScanAsync(store, Math.Min(total, 1_000_000), log, figures);

            var projector = new AnalyticsProjector(store);
            var cpu = Cpu();
            clock.Restart();
            var rebuilt = await projector.RebuildAsync(ProjectId, CancellationToken.None);
            figures["rebuild_events_per_s"] = Math.Round(rebuilt.Events / clock.Elapsed.TotalSeconds);
            figures["rebuild_events_per_cpu_s"] = Math.Round(rebuilt.Events / (Cpu() - cpu).TotalSeconds);
            figures["rebuild_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            figures["rebuild_read_aggregate_events_per_s"] = Math.Round(rebuilt.Events / rebuilt.ReadSeconds);
            figures["rebuild_write_rows_s"] = Math.Round(rebuilt.Seconds - rebuilt.ReadSeconds, 1);
            figures["cube_rows"] = rebuilt.Rows;
            figures["rebuild_target_events_per_s"] = 200_000;
            figures["load_average_after_rebuild"] = LoadAverage();
            await log.WriteLineAsync($"rebuild: {rebuilt.Events:N0} events, {rebuilt.Rows:N0} rows in {clock.Elapsed.TotalSeconds:N1} s (read+aggregate {rebuilt.ReadSeconds:N1} s); {figures["rebuild_events_per_cpu_s"]:N0} events/CPU-s; load {figures["load_average_after_rebuild"]}");

            // A fresh instance: its first read loads the cube into the cache.
            projector = new AnalyticsProjector(store);
            clock.Restart();
            var summary = await projector.ReadAsync(ProjectId, cells => AnalyticsQueries.Summary(cells, new AnalyticsFilter(null, null, null, null, null, null, null, null)), CancellationToken.None);
            figures["first_read_cache_load_ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
            await log.WriteLineAsync($"first read (cube load) {figures["first_read_cache_load_ms"]} ms; labels created {summary.LabelsCreated:N0}");
            if (summary.LabelsCreated != annotations)
            {
                throw new InvalidOperationException($"The cube counts {summary.LabelsCreated} labels created; the log holds {annotations}.");
            }

            var random = new Random(7);
            var routes = new (string Name, Func<IReadOnlyDictionary<CubeKey, long[]>, AnalyticsFilter, object> Query)[]
            {
                ("summary", (c, f) => AnalyticsQueries.Summary(c, f)),
                ("tasks", (c, f) => AnalyticsQueries.Tasks(c, f)),
                ("throughput", (c, f) => AnalyticsQueries.Throughput(c, f)),
                ("labels", (c, f) => AnalyticsQueries.Labels(c, f)),
                ("collaborators", (c, f) => AnalyticsQueries.Collaborators(c, f)),
                ("issues", (c, f) => AnalyticsQueries.Issues(c, f)),
                ("time", (c, f) => AnalyticsQueries.Time(c, f)),
            };
            var all = new List<double>();
            var queryCpu = Cpu();
            foreach (var (name, query) in routes)
            {
                var latencies = new List<double>(CallsPerRoute);
                for (var i = 0; i < CallsPerRoute; i++)
                {
                    var filter = RandomFilter(random);
                    clock.Restart();
                    _ = await projector.ReadAsync(ProjectId, cells => query(cells, filter), CancellationToken.None);
                    latencies.Add(clock.Elapsed.TotalMilliseconds);
                }

                latencies.Sort();
                all.AddRange(latencies);
                figures[$"{name}_p50_ms"] = Math.Round(Percentile(latencies, 0.50), 2);
                figures[$"{name}_p99_ms"] = Math.Round(Percentile(latencies, 0.99), 2);
                await log.WriteLineAsync($"{name}: p50 {figures[$"{name}_p50_ms"]} ms, p99 {figures[$"{name}_p99_ms"]} ms");
            }

            figures["all_routes_cpu_ms_per_call"] = Math.Round((Cpu() - queryCpu).TotalMilliseconds / all.Count, 2);
            figures["load_average_after_queries"] = LoadAverage();
            all.Sort();
            figures["all_routes_p50_ms"] = Math.Round(Percentile(all, 0.50), 2);
            figures["all_routes_p99_ms"] = Math.Round(Percentile(all, 0.99), 2);
            figures["latency_target_ms"] = 100;

            // 1,000 new events through the log, then one read that projects them first.
            var log2 = new ActivityLog(store, []);
            var readsBefore = projector.EventsRead;
            var last = DateTimeOffset.UtcNow;
            var fresh = Enumerable.Range(0, 1000).Select(i => new ActivityEvent($"new{i:D6}", ProjectId, ActivityKinds.AnnotationCreated, "u_00", "key:u_00", StoredTimestamp.Format(last.AddMilliseconds(i)),
                TaskId: "t_00", Stage: "annotation", DatasetId: "d_0", ItemId: $"i_new{i}", Label: "label_00")).ToList();
            await log2.RecordAsync(fresh, CancellationToken.None);
            clock.Restart();
            var after = await projector.ReadAsync(ProjectId, cells => AnalyticsQueries.Summary(cells, new AnalyticsFilter(null, null, null, null, null, null, null, null)), CancellationToken.None);
            figures["read_after_1000_new_events_ms"] = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
            if (after.LabelsCreated != annotations + 1000)
            {
                throw new InvalidOperationException($"After 1,000 new events the cube counts {after.LabelsCreated} labels created, expected {annotations + 1000}.");
            }

            figures["read_after_1000_new_events_events_read"] = projector.EventsRead - readsBefore;
            await log.WriteLineAsync($"read after 1,000 new events: {figures["read_after_1000_new_events_ms"]} ms");

            // The write path under load: one event per write, a catch-up after each (what the background projector
            // did before wake-ups were coalesced): each must cost the new event, not the 10 s window behind it.
            var single = Stopwatch.StartNew();
            var singleCpu = Cpu();
            const int Singles = 500;
            var singleStart = DateTimeOffset.UtcNow.AddSeconds(5);
            var before = projector.EventsRead;
            for (var i = 0; i < Singles; i++)
            {
                // 5 ms apart: 200 events/s of log time, so the straggler window holds ~2,000 events.
                await log2.RecordAsync([new ActivityEvent($"one{i:D6}", ProjectId, ActivityKinds.StatusSet, "u_11", "key:u_11", StoredTimestamp.Format(singleStart.AddMilliseconds(5 * i)),
                    TaskId: "t_01", Stage: "annotation", DatasetId: "d_1", ItemId: $"i_one{i}", Data: new JsonObject { ["status"] = "COMPLETED", ["previous"] = null })], CancellationToken.None);
                await projector.CatchUpAsync(ProjectId, CancellationToken.None);
            }

            figures["single_write_catch_up_ms"] = Math.Round(single.Elapsed.TotalMilliseconds / Singles, 2);
            figures["single_write_catch_up_cpu_ms"] = Math.Round((Cpu() - singleCpu).TotalMilliseconds / Singles, 2);
            figures["single_write_events_read_per_write"] = Math.Round((projector.EventsRead - before) / (double)Singles, 2);
            figures["window_rereads"] = projector.WindowRereads;
            await log.WriteLineAsync($"write + catch-up, one event each: {figures["single_write_catch_up_ms"]} ms ({figures["single_write_catch_up_cpu_ms"]} CPU-ms), {figures["single_write_events_read_per_write"]} events read from the log per write");
            figures["load_average_end"] = LoadAverage();
            return figures;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Loads the log straight into the SQLite adapter's activity table: bodies are built on every core exactly as
    /// the store builds them (<see cref="DocumentRules.Serialize"/> of the serialized <see cref="ActivityEvent"/>),
    /// and one connection inserts them in transactions of 100,000 rows, the table's expression indexes dropped and
    /// then rebuilt by the store itself (<c>EnsureContainerAsync</c>), since sorting once is far cheaper than
    /// inserting 10M random keys into five B-trees. Through the port (batches of 100) seeding ran at 1.4-4k
    /// events/s here. Returns how many events are annotation.created.
    /// </summary>
    private static async Task<long> SeedAsync(SqliteDocumentStore store, string databasePath, long total, TextWriter log, Dictionary<string, double> figures)
    {
        const int Chunk = 10_000;
        const string Table = "\"doc_activity\""; // SqliteSql.Table(ActivityContainers.Activity)
        var partition = ActivityContainers.Partition(ProjectId);
        var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
        long annotations = 0;
        var chunks = (int)((total + Chunk - 1) / Chunk);
        var channel = Channel.CreateBounded<(string Id, byte[] Body)[]>(new BoundedChannelOptions(32) { SingleReader = true });
        var nextChunk = -1;
        var producers = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Task.Run(async () =>
        {
            int c;
            while ((c = Interlocked.Increment(ref nextChunk)) < chunks)
            {
                // One seed per chunk: the log is the same whatever the number of cores.
                var random = new Random(1000 + c);
                var first = (long)c * Chunk;
                var rows = new (string, byte[])[(int)Math.Min(Chunk, total - first)];
                long created = 0;
                for (var j = 0; j < rows.Length; j++)
                {
                    var e = Event(random, first + j, start);
                    if (e.Kind == ActivityKinds.AnnotationCreated)
                    {
                        created++;
                    }

                    rows[j] = (e.Id, DocumentRules.Serialize(partition, e.Id, JsonSerializer.SerializeToNode(e, DocumentJson.Options)!.AsObject()));
                }

                Interlocked.Add(ref annotations, created);
                await channel.Writer.WriteAsync(rows);
            }
        })).ToList();
        var closer = Task.WhenAll(producers).ContinueWith(t => channel.Writer.Complete(t.Exception), TaskScheduler.Default);

        var clock = Stopwatch.StartNew();
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ToString());
        await using (connection)
        {
            await connection.OpenAsync();
            using (var pragma = connection.CreateCommand())
            {
                // A bench database: losing it on power loss costs nothing.
                pragma.CommandText = "PRAGMA busy_timeout=30000; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;";
                await pragma.ExecuteNonQueryAsync();
            }

            var indexes = new List<string>();
            using (var list = connection.CreateCommand())
            {
                list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'doc_activity' AND sql IS NOT NULL";
                await using var reader = await list.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    indexes.Add(reader.GetString(0));
                }
            }

            foreach (var index in indexes)
            {
                using var drop = connection.CreateCommand();
                drop.CommandText = $"DROP INDEX \"{index}\"";
                await drop.ExecuteNonQueryAsync();
            }

            long written = 0;
            SqliteTransaction? transaction = null;
            using var insert = connection.CreateCommand();
            // The store's key columns ("k.{path}", see SqliteFields) hold json_extract of each indexed path: filters, counts
            // and sorts read them, so rows without them would be invisible to every query on the log but a scan. Filled here
            // rather than by the store's own fill (forgetting the container's paths so EnsureContainerAsync refills them):
            // that rewrote every row once more and left the rebuild reading a file fresh from
            // that update: seeding 30,928 against 42,667 events/s, rebuild 177k against 210k events/s (one run each, 10M).
            var keyPaths = ActivityContainers.All.Single(c => c.Name == ActivityContainers.Activity).IndexedPaths;
            var keyColumns = string.Concat(keyPaths.Select(p => $", \"k.{p}\""));
            var keyValues = string.Concat(keyPaths.Select(p => $", json_extract(CAST(@body AS TEXT), '$.{p}')"));
            insert.CommandText = $"INSERT INTO {Table} (pk, id, etag, body{keyColumns}) VALUES (@pk, @id, @etag, jsonb(CAST(@body AS TEXT)){keyValues})";
            var pk = insert.Parameters.Add("@pk", SqliteType.Text);
            var id = insert.Parameters.Add("@id", SqliteType.Text);
            var etag = insert.Parameters.Add("@etag", SqliteType.Text);
            var body = insert.Parameters.Add("@body", SqliteType.Blob);
            pk.Value = partition;
            await foreach (var rows in channel.Reader.ReadAllAsync())
            {
                if (transaction is null)
                {
                    transaction = connection.BeginTransaction();
                    insert.Transaction = transaction;
                    insert.Prepare();
                }

                foreach (var (rowId, rowBody) in rows)
                {
                    id.Value = rowId;
                    etag.Value = "\"seed\"";
                    body.Value = rowBody;
                    insert.ExecuteNonQuery();
                }

                written += rows.Length;
                if (written % 100_000 == 0)
                {
                    transaction.Commit();
                    transaction.Dispose();
                    transaction = null;
                    if (written % 1_000_000 == 0)
                    {
                        await log.WriteLineAsync($"  {written:N0} written, {written / clock.Elapsed.TotalSeconds:N0}/s");
                    }
                }
            }

            if (transaction is not null)
            {
                transaction.Commit();
                transaction.Dispose();
            }

            await closer;
            figures["seed_insert_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        }

        clock.Restart();
        await store.EnsureContainerAsync(ActivityContainers.All[0]);
        figures["seed_index_build_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        var count = await store.Container(ActivityContainers.Activity).CountAsync(partition, null);
        if (count != total)
        {
            throw new InvalidOperationException($"Seeded {count} events; expected {total}.");
        }

        return annotations;
    }

    /// <summary>
    /// Where a rebuild's time goes, on the first <paramref name="sample"/> events: the SQLite read alone (raw pages),
    /// the read plus parsing every body into a <c>JsonObject</c> (the old rebuild), and the read plus the
    /// <c>Utf8JsonReader</c> projection on one thread. Events per wall-second and per CPU-second of the process.
    /// </summary>
    private static async Task ProfileScanAsync(SqliteDocumentStore store, long sample, TextWriter log, Dictionary<string, double> figures)
    {
        var container = store.Container(ActivityContainers.Activity);
        var raw = (IRawDocumentQuery)container;
        var partition = ActivityContainers.Partition(ProjectId);
        async Task Measure(string name, Func<string?, Task<(int Count, string? Token)>> page)
        {
            var cpu = Cpu();
            var clock = Stopwatch.StartNew();
            long events = 0;
            string? token = null;
            do
            {
                var (count, next) = await page(token);
                events += count;
                token = next;
            }
            while (token is not null && events < sample);
            var cpuSeconds = (Cpu() - cpu).TotalSeconds;
            figures[$"scan_{name}_events_per_s"] = Math.Round(events / clock.Elapsed.TotalSeconds);
            figures[$"scan_{name}_events_per_cpu_s"] = Math.Round(events / Math.Max(cpuSeconds, 1e-6));
            await log.WriteLineAsync($"scan {name}: {events:N0} events, {figures[$"scan_{name}_events_per_s"]:N0}/s, {figures[$"scan_{name}_events_per_cpu_s"]:N0}/CPU-s");
        }

        DocumentQuery Query(string? token) => new(partition, null, null, DocumentLimits.MaxPageSize, token);
        await Measure("sqlite_raw_read", async token =>
        {
            var page = await raw.QueryRawAsync(Query(token));
            return (page.Items.Count, page.ContinuationToken);
        });
        await Measure("read_and_jsonobject_parse", async token =>
        {
            var page = await container.QueryAsync(Query(token));
            return (page.Items.Count, page.ContinuationToken);
        });
        var fields = new ProjectedEvent();
        var pool = new StringPool();
        var deltas = new CubeDeltas();
        await Measure("read_and_utf8_projection_1_thread", async token =>
        {
            var page = await raw.QueryRawAsync(Query(token));
            foreach (var doc in page.Items)
            {
                fields.From(doc.Utf8Body.Span, pool);
                AnalyticsProjection.Project(fields, deltas);
            }

            return (page.Items.Count, page.ContinuationToken);
        });
    }

    private static TimeSpan Cpu() => System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;

    private static double LoadAverage() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture, out var load) ? load : double.NaN;

    /// <summary>
    /// One event: 10% annotation.created, 5% edited, 1% deleted, 4% COMPLETED, 1% skipped, 3% QA approvals (with
    /// labels), 1% issues opened, 1% resolved or reopened, 74% time heartbeats. Each annotator works on two tasks.
    /// </summary>
    private static ActivityEvent Event(Random random, long i, DateTimeOffset start)
    {
        var id = $"e{i:D9}";
        var at = StoredTimestamp.Format(start.AddSeconds(random.NextDouble() * Days * 86_400));
        var annotator = random.Next(Reviewers, Users);
        var reviewer = random.Next(0, Reviewers);
        var task = (annotator + random.Next(2)) % AnnotationTasks;
        var taskId = $"t_{task:D2}";
        var qaTaskId = $"t_{task + AnnotationTasks:D2}";
        var dataset = $"d_{task % Datasets}";
        var item = $"i_{random.Next(1_000_000)}";
        var label = $"label_{random.Next(Labels):D2}";
        var user = $"u_{annotator:D2}";
        var rev = $"u_{reviewer:D2}";
        var roll = random.Next(100);
        ActivityEvent Work(string kind, string? lbl = null, JsonObject? data = null) =>
            new(id, ProjectId, kind, user, "key:" + user, at, taskId, "annotation", dataset, item, lbl is null ? null : "a_" + id, lbl, data);
        ActivityEvent Review(string kind, JsonObject data) =>
            new(id, ProjectId, kind, rev, "key:" + rev, at, qaTaskId, "qa", dataset, item, null, kind.StartsWith("issue.", StringComparison.Ordinal) ? label : null, data);
        return roll switch
        {
            < 10 => Work(ActivityKinds.AnnotationCreated, label),
            < 15 => Work(ActivityKinds.AnnotationEdited, label),
            < 16 => Work(ActivityKinds.AnnotationDeleted, label),
            < 20 => Work(ActivityKinds.StatusSet, data: new JsonObject { ["status"] = "COMPLETED", ["previous"] = null, ["assignee"] = user }),
            < 21 => Work(ActivityKinds.ItemSkipped),
            < 24 => Review(ActivityKinds.StatusSet, new JsonObject
            {
                ["status"] = "APPROVED", ["previous"] = null, ["assignee"] = rev, ["sourceTaskId"] = taskId, ["annotator"] = user,
                ["labels"] = new JsonObject { [label] = 1 + random.Next(3) },
            }),
            < 25 => Review(ActivityKinds.IssueOpened, new JsonObject { ["issueId"] = "q_" + id, ["tag"] = $"tag{random.Next(5)}", ["annotator"] = user, ["reviewer"] = rev, ["sourceTaskId"] = taskId }),
            < 26 => Review(random.Next(3) == 0 ? ActivityKinds.IssueReopened : ActivityKinds.IssueResolved,
                new JsonObject { ["issueId"] = "q_" + id, ["tag"] = $"tag{random.Next(5)}", ["annotator"] = user, ["reviewer"] = rev, ["wasResolved"] = true }),
            _ => random.Next(5) == 0
                ? Review("time.heartbeat", new JsonObject { ["ms"] = random.Next(1000, 60_000), ["newItem"] = random.Next(4) == 0 })
                : Work("time.heartbeat", data: new JsonObject { ["ms"] = random.Next(1000, 60_000), ["newItem"] = random.Next(4) == 0 }),
        };
    }

    /// <summary>Each filter present with some probability: a date range, a task, a stage, a user, a label, a dataset.</summary>
    private static AnalyticsFilter RandomFilter(Random random)
    {
        string? Maybe(int percent, Func<string> value) => random.Next(100) < percent ? value() : null;
        var from = random.Next(Days);
        var start = new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);
        return new AnalyticsFilter(
            Maybe(50, () => start.AddDays(from).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            Maybe(50, () => start.AddDays(from + 1 + random.Next(Days - from)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
            Maybe(30, () => $"t_{random.Next(AnnotationTasks * 2):D2}"),
            Maybe(15, () => $"d_{random.Next(Datasets)}"),
            Maybe(20, () => random.Next(2) == 0 ? "annotation" : "qa"),
            Maybe(30, () => $"u_{random.Next(Users):D2}"),
            Maybe(20, () => $"label_{random.Next(Labels):D2}"),
            null);
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
