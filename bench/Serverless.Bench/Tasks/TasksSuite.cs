extern alias functions;

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Microsoft.Extensions.Hosting;
using functions::Serverless.Functions.Analytics;
using functions::Serverless.Functions.Datasets;
using functions::Serverless.Functions.Identity;
using functions::Serverless.Functions.Items;
using Serverless.Testing;

namespace Serverless.Bench.Tasks;

/// <summary>
/// Tasks at scale through the functions app in process (HTTP on TestServer, the durable runtime's workers on a
/// fresh Azurite, SQLite file). Items are loaded straight into the document store in <c>ItemStore</c>'s shape
/// (the split reads them through <c>ItemStore.QueryAsync</c>). Figures: <c>task_split_s</c> (POST a task over all
/// items among 10 assignees until it is open), <c>status_p50_ms</c>/<c>status_p99_ms</c> (single status updates
/// from 200 concurrent clients each submitting about once a second), <c>status_saturated_*</c> (the same clients
/// without pause: throughput), <c>batch_status_s</c> (POST .../statuses over a tenth
/// of the items until the orchestration completes).
/// </summary>
internal sealed class TasksSuite : IBenchSuite
{
    private const string AdminKey = "ak_bench-admin-key-0000000000000000000000000000";
    private const int Assignees = 10;
    private const int Clients = 200;
    private const int UpdatesPerClient = 25;
    private const int PacedUpdatesPerClient = 15;
    private const int Folders = 10;

    // TASKS_BENCH_ITEMS gives a quick look at a smaller scale; the figures to quote use the default.
    private static readonly int TotalItems = BenchApp.FromEnvironment("TASKS_BENCH_ITEMS", 1_000_000);

    // TASKS_BENCH_PROJECTOR=off leaves out the background analytics projector, which every activity-log write wakes:
    // comparing the two runs separates its cost from the tasks path's own.
    private static readonly bool ProjectorOff = string.Equals(Environment.GetEnvironmentVariable("TASKS_BENCH_PROJECTOR"), "off", StringComparison.OrdinalIgnoreCase);

    public string Name => "tasks";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        var folder = Directory.CreateTempSubdirectory("bench-tasks-");
        var azurite = new AzuriteFixture();
        await azurite.StartAsync();
        try
        {
            await using var app = new BenchApp(new Dictionary<string, string?>
            {
                ["DocumentStore:Provider"] = "Sqlite",
                ["DocumentStore:SqlitePath"] = Path.Combine(folder.FullName, "platform.db"),
                ["Storage:ConnectionString"] = azurite.ConnectionString,
                ["Bootstrap:AdminApiKey"] = AdminKey,
                ["Logging:LogLevel:Default"] = "Warning",
            }, ProjectorOff ? WithoutBackgroundProjector : null);
            if (ProjectorOff)
            {
                await log.WriteLineAsync("background analytics projector: off");
                figures["projector_off"] = 1;
            }

            var (owner, _) = await app.UserAsync("owner", AdminKey);
            using var client = owner;
            var projectId = await BenchApp.CreateAsync(client, "/api/projects", new { name = "bench" });
            var datasetId = await BenchApp.CreateAsync(client, $"/api/projects/{projectId}/datasets", new { name = "million" });
            var assignees = new List<string>();
            for (var i = 0; i < Assignees; i++)
            {
                var (annotator, userId) = await app.UserAsync($"annotator{i}", AdminKey);
                annotator.Dispose();
                using var member = await client.PutAsJsonAsync($"/api/projects/{projectId}/members/{userId}", new { role = "Annotator" });
                member.EnsureSuccessStatusCode();
                assignees.Add(userId);
            }

            await SeedAsync(app.Services.GetRequiredService<IDocumentStore>(), projectId, datasetId, log, figures);
            var tasks = $"/api/projects/{projectId}/tasks";
            var taskId = await SplitAsync(client, tasks, datasetId, assignees, log, figures);
            await StatusUpdatesAsync(client, $"{tasks}/{taskId}", log, figures);
            await BatchStatusAsync(client, $"{tasks}/{taskId}", log, figures);
        }
        finally
        {
            await azurite.DisposeAsync();
            folder.Delete(recursive: true);
        }

        return figures;
    }

    private static void WithoutBackgroundProjector(IServiceCollection services)
    {
        foreach (var hosted in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(AnalyticsBackgroundProjector)).ToList())
        {
            services.Remove(hosted);
        }
    }

    private static async Task SeedAsync(IDocumentStore store, string projectId, string datasetId, TextWriter log, Dictionary<string, double> figures)
    {
        await log.WriteLineAsync($"loading {TotalItems:N0} items ...");
        var watch = Stopwatch.StartNew();
        var container = store.Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(datasetId);
        var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
        for (var start = 0; start < TotalItems; start += DocumentLimits.MaxBatchOperations)
        {
            var operations = Enumerable.Range(start, Math.Min(DocumentLimits.MaxBatchOperations, TotalItems - start)).Select(i =>
            {
                var dir = $"/f{i % Folders}";
                var name = $"{i:D7}.jpg";
                var item = new Item(ItemId(i), projectId, datasetId, name, dir, dir + "/" + name, "image", 1000, false, [], new JsonObject(), "bench", now, now);
                // The product's item document, as bulk creation writes it.
                return BatchOperation.CreateRaw(item.Id, ItemStore.ItemDocument(new NewItem(item, $"{projectId}/{datasetId}/{item.Id}"), partition));
            }).ToList();
            await container.ExecuteBatchAsync(partition, operations);
        }

        figures["seed_items_per_s"] = Math.Round(TotalItems / watch.Elapsed.TotalSeconds);
        await log.WriteLineAsync($"loaded in {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task<string> SplitAsync(HttpClient client, string tasks, string datasetId, List<string> assignees, TextWriter log, Dictionary<string, double> figures)
    {
        var cpu = CpuSeconds();
        var watch = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync(tasks, new { name = "million", datasetId, assignees = assignees.Select(userId => new { userId }) });
        response.EnsureSuccessStatusCode();
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var taskId = created.RootElement.GetProperty("task").GetProperty("id").GetString()!;
        var split = new Uri(created.RootElement.GetProperty("split").GetProperty("statusQueryGetUri").GetString()!);
        while (true)
        {
            (await ThrowIfEndedBadlyAsync(client, split)).Dispose();
            using var task = JsonDocument.Parse(await client.GetStringAsync(new Uri($"{tasks}/{taskId}", UriKind.Relative)));
            var total = task.RootElement.GetProperty("progress").GetProperty("total").GetInt64();
            if (task.RootElement.GetProperty("task").GetProperty("state").GetString() != "creating")
            {
                if (total != TotalItems)
                {
                    throw new InvalidOperationException($"The split put {total} items in the task, not {TotalItems}.");
                }

                break;
            }

            await Task.Delay(200);
        }

        figures["task_split_s"] = Math.Round(watch.Elapsed.TotalSeconds, 1);
        figures["task_split_items_per_s"] = Math.Round(TotalItems / watch.Elapsed.TotalSeconds);
        figures["task_split_target_s"] = 30;

        // The machine may be shared: items per CPU-second of this process says what the code costs.
        figures["task_split_items_per_cpu_s"] = Math.Round(TotalItems / (CpuSeconds() - cpu));
        await log.WriteLineAsync($"task over {TotalItems:N0} items among {Assignees} assignees: open after {figures["task_split_s"]} s");
        return taskId;
    }

    /// <summary>
    /// Single status updates from <see cref="Clients"/> concurrent clients, twice: paced like people (each client
    /// submits about once a second, 0.5–1.5 s apart, so 200 updates/s are offered: the p50/p99 to quote), then
    /// saturated (each client submits again as soon as it has its answer: what the process sustains).
    /// </summary>
    private static async Task StatusUpdatesAsync(HttpClient client, string task, TextWriter log, Dictionary<string, double> figures)
    {
        var paced = await UpdateRoundAsync(client, task, 0, PacedUpdatesPerClient, paced: true);
        figures["status_p50_ms"] = Math.Round(BenchApp.Percentile(paced.Latencies, 0.50), 2);
        figures["status_p99_ms"] = Math.Round(BenchApp.Percentile(paced.Latencies, 0.99), 2);
        figures["status_p99_target_ms"] = 20;
        figures["status_cpu_ms_per_update"] = Math.Round(paced.CpuSeconds * 1000 / paced.Latencies.Count, 2);
        await log.WriteLineAsync($"{paced.Latencies.Count:N0} status updates from {Clients} clients at ~1/s each: p50 {figures["status_p50_ms"]} ms, p99 {figures["status_p99_ms"]} ms");

        var saturated = await UpdateRoundAsync(client, task, Clients * PacedUpdatesPerClient, UpdatesPerClient, paced: false);
        figures["status_saturated_updates_per_s"] = Math.Round(saturated.Latencies.Count / saturated.Seconds);
        figures["status_saturated_p50_ms"] = Math.Round(BenchApp.Percentile(saturated.Latencies, 0.50), 2);
        figures["status_saturated_p99_ms"] = Math.Round(BenchApp.Percentile(saturated.Latencies, 0.99), 2);
        await log.WriteLineAsync($"{saturated.Latencies.Count:N0} status updates from {Clients} clients without pause: {figures["status_saturated_updates_per_s"]}/s, p50 {figures["status_saturated_p50_ms"]} ms, p99 {figures["status_saturated_p99_ms"]} ms");
    }

    /// <summary>One round of updates on distinct items of folder 1 (index % 10 == 1) from <paramref name="first"/> on: every update is a real change.</summary>
    private static async Task<(List<double> Latencies, double Seconds, double CpuSeconds)> UpdateRoundAsync(HttpClient client, string task, int first, int perClient, bool paced)
    {
        var cpu = CpuSeconds();
        var watch = Stopwatch.StartNew();
        var rounds = await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(c);
            var samples = new List<double>(perClient);
            for (var u = 0; u < perClient; u++)
            {
                if (paced)
                {
                    await Task.Delay(500 + random.Next(1000));
                }

                // Wraps only at a reduced TASKS_BENCH_ITEMS (then repeats are same-status no-ops).
                var index = (((first + (c * perClient) + u) % (TotalItems / Folders)) * Folders) + 1;
                var started = Stopwatch.GetTimestamp();
                using var response = await client.PutAsJsonAsync($"{task}/items/{ItemId(index)}/status", new { status = "COMPLETED" });
                response.EnsureSuccessStatusCode();
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return samples;
        })));
        var latencies = rounds.SelectMany(r => r).Order().ToList();
        return (latencies, watch.Elapsed.TotalSeconds, CpuSeconds() - cpu);
    }

    private static async Task BatchStatusAsync(HttpClient client, string task, TextWriter log, Dictionary<string, double> figures)
    {
        var cpu = CpuSeconds();
        var watch = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync($"{task}/statuses", new { status = "DISCARDED", filter = new { dir = "/f3" } });
        response.EnsureSuccessStatusCode();
        using var accepted = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var status = new Uri(accepted.RootElement.GetProperty("statusQueryGetUri").GetString()!);
        while (true)
        {
            using var state = await ThrowIfEndedBadlyAsync(client, status);
            if (state.RootElement.GetProperty("runtimeStatus").GetString() == "Completed")
            {
                var changed = state.RootElement.GetProperty("output").GetProperty("changed").GetInt64();
                if (changed != TotalItems / Folders)
                {
                    throw new InvalidOperationException($"The batch changed {changed} items, not {TotalItems / Folders}.");
                }

                break;
            }


            await Task.Delay(200);
        }

        figures["batch_status_s"] = Math.Round(watch.Elapsed.TotalSeconds, 1);
        figures["batch_status_items_per_s"] = Math.Round(TotalItems / Folders / watch.Elapsed.TotalSeconds);
        figures["batch_status_target_s"] = 10;
        figures["batch_status_items_per_cpu_s"] = Math.Round(TotalItems / Folders / (CpuSeconds() - cpu));
        await log.WriteLineAsync($"batch status over {TotalItems / Folders:N0} items: {figures["batch_status_s"]} s");
    }

    /// <summary>The orchestration's status; throws when it failed or was terminated (a bench must not wait forever).</summary>
    private static async Task<JsonDocument> ThrowIfEndedBadlyAsync(HttpClient client, Uri status)
    {
        var state = JsonDocument.Parse(await client.GetStringAsync(status));
        var runtime = state.RootElement.GetProperty("runtimeStatus").GetString();
        if (runtime is "Failed" or "Terminated")
        {
            throw new InvalidOperationException($"{status} ended {runtime}: {state.RootElement}");
        }

        return state;
    }

    private static double CpuSeconds()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    private static string ItemId(int i) => $"i_{i.ToString("D20", CultureInfo.InvariantCulture)}";
}
