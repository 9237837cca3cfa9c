extern alias functions;

using Stopwatch = System.Diagnostics.Stopwatch;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
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
/// Events are written directly into the activity container in the exact shape <see cref="ActivityLog"/> writes, in
/// plain batches (the API path would take hours). Then: a full rebuild (events/s), the first query (loads the cube
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
            var annotations = await SeedAsync(store, total, log);
            figures["seed_events_per_s"] = Math.Round(total / clock.Elapsed.TotalSeconds);
            figures["annotation_created_events"] = annotations;

            var projector = new AnalyticsProjector(store);
            clock.Restart();
            var rebuilt = await projector.RebuildAsync(ProjectId, CancellationToken.None);
            figures["rebuild_events_per_s"] = Math.Round(rebuilt.Events / clock.Elapsed.TotalSeconds);
            figures["rebuild_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            figures["rebuild_read_aggregate_events_per_s"] = Math.Round(rebuilt.Events / rebuilt.ReadSeconds);
            figures["rebuild_write_rows_s"] = Math.Round(rebuilt.Seconds - rebuilt.ReadSeconds, 1);
            figures["cube_rows"] = rebuilt.Rows;
            figures["rebuild_target_events_per_s"] = 200_000;
            await log.WriteLineAsync($"rebuild: {rebuilt.Events:N0} events, {rebuilt.Rows:N0} rows in {clock.Elapsed.TotalSeconds:N1} s");

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

            all.Sort();
            figures["all_routes_p50_ms"] = Math.Round(Percentile(all, 0.50), 2);
            figures["all_routes_p99_ms"] = Math.Round(Percentile(all, 0.99), 2);
            figures["latency_target_ms"] = 100;

            // 1,000 new events through the log, then one read that projects them first.
            var log2 = new ActivityLog(store, []);
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

            await log.WriteLineAsync($"read after 1,000 new events: {figures["read_after_1000_new_events_ms"]} ms");
            return figures;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Writes the events in batches of 100, two writers; returns how many are annotation.created.</summary>
    private static async Task<long> SeedAsync(SqliteDocumentStore store, long total, TextWriter log)
    {
        var container = store.Container(ActivityContainers.Activity);
        var partition = ActivityContainers.Partition(ProjectId);
        var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
        long annotations = 0;
        long written = 0;
        var clock = Stopwatch.StartNew();
        const int Writers = 2;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(1000 + w);
            var batch = new List<BatchOperation>(DocumentLimits.MaxBatchOperations);
            for (var i = (long)w; i < total; i += Writers)
            {
                var e = Event(random, i, start);
                if (e.Kind == ActivityKinds.AnnotationCreated)
                {
                    Interlocked.Increment(ref annotations);
                }

                batch.Add(BatchOperation.Create(e.Id, JsonSerializer.SerializeToNode(e, DocumentJson.Options)!.AsObject()));
                if (batch.Count == DocumentLimits.MaxBatchOperations)
                {
                    await container.ExecuteBatchAsync(partition, batch);
                    batch.Clear();
                    var done = Interlocked.Add(ref written, DocumentLimits.MaxBatchOperations);
                    if (done % 500_000 < DocumentLimits.MaxBatchOperations)
                    {
                        await log.WriteLineAsync($"  {done:N0} written, {done / clock.Elapsed.TotalSeconds:N0}/s");
                    }
                }
            }

            if (batch.Count > 0)
            {
                await container.ExecuteBatchAsync(partition, batch);
            }
        })));
        return annotations;
    }

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
