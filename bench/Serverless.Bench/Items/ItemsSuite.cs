extern alias functions;

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using functions::Serverless.Functions.Identity;
using functions::Serverless.Functions.Items;
using Serverless.Testing;

namespace Serverless.Bench.Items;

/// <summary>
/// Items at scale, through the functions app in process (ASP.NET Core TestServer: routing, API-key
/// access checks, JSON binding and serialization, without sockets) on a SQLite file and a fresh Azurite.
/// Figures:
/// <c>bulk_items_per_s</c>: <c>POST .../items/bulk</c> with <see cref="BulkEntries"/> JSON entries per call;
/// <c>list_p50_ms</c>/<c>list_p99_ms</c> (and per filter): <c>POST .../items/query</c> over HTTP on a dataset
/// of <see cref="ListedItems"/> items, seeded through <see cref="ItemStore.WriteAsync"/> (the store path
/// bulk uses, without HTTP), first page of 100; <c>dashboard_p50_ms</c>/<c>dashboard_p99_ms</c>: the project's
/// dashboard over HTTP once both datasets are filled.
/// </summary>
internal sealed class ItemsSuite : IBenchSuite
{
    private const int BulkEntries = 5000;
    private const int WarmUpCalls = 10;

    // Overridable for a quick look (ITEMS_BENCH_BULK_CALLS, ITEMS_BENCH_LISTED); the figures to quote use the defaults.
    private static readonly int BulkCalls = BenchApp.FromEnvironment("ITEMS_BENCH_BULK_CALLS", 20);
    private static readonly int ListedItems = BenchApp.FromEnvironment("ITEMS_BENCH_LISTED", 1_000_000);
    private const int SeedChunk = 5000;
    private const int Folders = 100;
    private const int QueriesPerFilter = 200;
    private const int DashboardCalls = 200;
    private const string AdminKey = "ak_bench-admin-key-0000000000000000000000000000";

    public string Name => "items";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);

        var folder = Directory.CreateTempSubdirectory("bench-items-");
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
            });
            using var client = await app.UserClientAsync("bench", AdminKey);
            var projectId = await BenchApp.CreateAsync(client, "/api/projects", new { name = "bench" });
            await BulkAsync(client, projectId, log, figures);
            await ListingAsync(app, client, projectId, log, figures);
            await DashboardAsync(client, projectId, log, figures);
        }
        finally
        {
            await azurite.DisposeAsync();
            folder.Delete(recursive: true);
        }

        return figures;
    }

    /// <summary>
    /// <c>GET .../dashboard</c> over HTTP on the project holding the bulk dataset and the seeded one
    /// (<see cref="ListedItems"/> items): <c>dashboard_p50_ms</c>, <c>dashboard_p99_ms</c>, <c>dashboard_cpu_ms</c>.
    /// </summary>
    private static async Task DashboardAsync(HttpClient client, string projectId, TextWriter log, Dictionary<string, double> figures)
    {
        var url = new Uri($"/api/projects/{projectId}/dashboard", UriKind.Relative);
        var samples = new List<double>(DashboardCalls);
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        for (var call = 0; call < DashboardCalls + 10; call++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(url);
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"dashboard failed: {text}");
            }

            if (call >= 10)
            {
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        process.Refresh();
        samples.Sort();
        figures["dashboard_p50_ms"] = Math.Round(BenchApp.Percentile(samples, 0.50), 2);
        figures["dashboard_p99_ms"] = Math.Round(BenchApp.Percentile(samples, 0.99), 2);
        figures["dashboard_cpu_ms"] = Math.Round((process.TotalProcessorTime - cpuBefore).TotalMilliseconds / (DashboardCalls + 10), 2);
        await log.WriteLineAsync($"dashboard over {ListedItems:N0} + bulk items: p50 {figures["dashboard_p50_ms"]} ms, p99 {figures["dashboard_p99_ms"]} ms, {figures["dashboard_cpu_ms"]} CPU-ms per call");
    }

    private static async Task BulkAsync(HttpClient client, string projectId, TextWriter log, Dictionary<string, double> figures)
    {
        var datasetId = await BenchApp.CreateAsync(client, $"/api/projects/{projectId}/datasets", new { name = "bulk" });
        var url = new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/bulk", UriKind.Relative);

        // Warm-up calls, not counted: a long-running server measures its steady state, not its first seconds. Tiered
        // compilation (tier 0, then instrumented, then optimized with the profile) kept the calls slow for their first
        // ~12-15 here (each ~450-550 ms, then ~220-380 ms); with DOTNET_TieredCompilation=0 they were flat from the third.
        for (var w = 0; w < WarmUpCalls; w++)
        {
            await PostBulkAsync(client, url, $"warm{w}", BulkEntries);
        }

        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var created = 0;
        for (var call = 0; call < BulkCalls; call++)
        {
            created += await PostBulkAsync(client, url, $"c{call}", BulkEntries);
        }

        watch.Stop();
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var perSecond = created / watch.Elapsed.TotalSeconds;
        await log.WriteLineAsync($"bulk: {created:N0} items in {BulkCalls} calls of {BulkEntries} in {watch.Elapsed.TotalSeconds:0.00} s = {perSecond:N0} items/s ({watch.Elapsed.TotalMilliseconds / BulkCalls:0} ms per call); {cpu.TotalSeconds:0.00} CPU-s = {created / cpu.TotalSeconds:N0} items per CPU-second");
        figures["bulk_items_per_s"] = Math.Round(perSecond);
        figures["bulk_ms_per_call"] = Math.Round(watch.Elapsed.TotalMilliseconds / BulkCalls, 1);

        // The machine may be shared: items per CPU-second of this process says what one core does.
        figures["bulk_items_per_cpu_s"] = Math.Round(created / cpu.TotalSeconds);
    }

    private static async Task<int> PostBulkAsync(HttpClient client, Uri url, string prefix, int count)
    {
        var body = new StringBuilder("{\"items\":[");
        for (var i = 0; i < count; i++)
        {
            body.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"{{\"path\":\"/{prefix}/{i:D5}.json\",\"content\":{{\"text\":\"sentence {i}\",\"n\":{i}}},\"metadata\":{{\"batch\":\"{prefix}\"}}}}");
        }

        body.Append("]}");
        using var response = await client.PostAsync(url, new StringContent(body.ToString(), Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        using var result = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
        var created = result.RootElement.GetProperty("created").GetInt32();
        return created == count ? created : throw new InvalidOperationException($"bulk call created {created} of {count}");
    }

    private static async Task ListingAsync(BenchApp app, HttpClient client, string projectId, TextWriter log, Dictionary<string, double> figures)
    {
        var datasetId = await BenchApp.CreateAsync(client, $"/api/projects/{projectId}/datasets", new { name = "million" });
        var store = app.Services.GetRequiredService<ItemStore>();
        await log.WriteLineAsync($"seeding {ListedItems:N0} items through ItemStore.WriteAsync ...");
        using var process = Process.GetCurrentProcess();
        var seedCpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var seededFrom = DateTimeOffset.UtcNow;
        for (var start = 0; start < ListedItems; start += SeedChunk)
        {
            var chunk = new List<NewItem>(SeedChunk);
            for (var i = start; i < Math.Min(ListedItems, start + SeedChunk); i++)
            {
                var dir = $"/f{i % Folders:D3}";
                var name = $"{i:D7}.jpg";
                var type = i % 10 == 0 ? "video" : "image";
                var tags = i % 10_000 == 7 ? new[] { "scarce" } : i % 50 == 0 ? ["rare"] : i % 2 == 0 ? ["even"] : [];
                var metadata = new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "image/jpeg", ["width"] = 640, ["height"] = 480 }, ["user"] = new JsonObject { ["n"] = i } };
                var created = StoredTimestamp.Format(seededFrom.AddMilliseconds(i));
                var item = new Item($"i_{i:D20}", projectId, datasetId, name, dir, dir + "/" + name, type, 1000 + (i % 5000), false, tags, metadata, "bench", created, created);
                chunk.Add(new NewItem(item, ItemStore.BlobName(projectId, datasetId, item.Id)));
            }

            var errors = await store.WriteAsync(datasetId, chunk, CancellationToken.None);
            if (errors.FirstOrDefault(e => e is not null) is { } error)
            {
                throw new InvalidOperationException($"seeding failed at {start}: {error.Message}", error);
            }

            if ((start + SeedChunk) % 200_000 == 0)
            {
                await log.WriteLineAsync($"  {start + SeedChunk:N0} items, {watch.Elapsed.TotalSeconds:0} s");
            }
        }

        figures["seed_items_per_s"] = Math.Round(ListedItems / watch.Elapsed.TotalSeconds);
        process.Refresh();
        figures["seed_items_per_cpu_s"] = Math.Round(ListedItems / (process.TotalProcessorTime - seedCpu).TotalSeconds);
        await log.WriteLineAsync($"seeded in {watch.Elapsed.TotalSeconds:0.0} s ({figures["seed_items_per_s"]:N0} items/s, store path without HTTP)");

        var url = new Uri($"/api/projects/{projectId}/datasets/{datasetId}/items/query", UriKind.Relative);
        var random = new Random(7);
        (string Name, Func<string> Body)[] filters =
        [
            ("folder", () => $$"""{"filter": {"dir": "/f{{random.Next(Folders):D3}}"}, "pageSize": 100}"""),
            ("folder_type", () => $$"""{"filter": {"dir": "/f{{random.Next(Folders):D3}}", "type": "video"}, "pageSize": 100}"""),
            ("size_range_sorted", () => $$$"""{"filter": {"size": {"$gte": {{{1000 + random.Next(4000)}}}, "$lt": {{{5000 + random.Next(1000)}}}}}, "sort": [{"field": "size", "order": "asc"}], "pageSize": 100}"""),
            ("tag", () => """{"filter": {"tags": "rare"}, "pageSize": 100}"""),
            ("tag_scarce", () => """{"filter": {"tags": "scarce"}, "pageSize": 100}"""),
            ("tag_scarce_newest", () => """{"filter": {"tags": "scarce"}, "sort": [{"field": "createdAt", "order": "desc"}], "pageSize": 100}"""),
            ("tag_in_folder", () => $$"""{"filter": {"dir": "/f{{random.Next(Folders):D3}}", "tags": "rare"}, "pageSize": 100}"""),
            ("folder_by_name", () => $$"""{"filter": {"dir": "/f{{random.Next(Folders):D3}}"}, "sort": [{"field": "name", "order": "asc"}], "pageSize": 100}"""),
            ("name_eq", () => $$"""{"filter": {"name": "{{random.Next(ListedItems):D7}}.jpg"}, "pageSize": 100}"""),
            ("newest", () => """{"sort": [{"field": "createdAt", "order": "desc"}], "pageSize": 100}"""),
            ("name_range_sorted", () => $$$"""{"filter": {"name": {"$gte": "{{{random.Next(ListedItems):D7}}}"}}, "sort": [{"field": "name", "order": "asc"}], "pageSize": 100}"""),
            ("folder_next_page", () => $$"""{"filter": {"dir": "/f{{random.Next(Folders):D3}}"}, "pageSize": 100}"""),
        ];
        var all = new List<double>();
        foreach (var (name, body) in filters)
        {
            var samples = new List<double>(QueriesPerFilter);
            process.Refresh();
            var cpuBefore = process.TotalProcessorTime;
            for (var q = 0; q < QueriesPerFilter + 10; q++)
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync(url, new StringContent(body(), Encoding.UTF8, "application/json"));
                var text = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"query {name} failed: {text}");
                }

                if (name == "folder_next_page")
                {
                    // Time the second page instead: the continuation path.
                    using var first = JsonDocument.Parse(text);
                    var token = first.RootElement.GetProperty("continuationToken").GetString();
                    var again = JsonSerializer.Serialize(new { filter = new { dir = first.RootElement.GetProperty("items")[0].GetProperty("dir").GetString() }, pageSize = 100, continuation = token });
                    started = Stopwatch.GetTimestamp();
                    using var next = await client.PostAsync(url, new StringContent(again, Encoding.UTF8, "application/json"));
                    _ = await next.Content.ReadAsStringAsync();
                    next.EnsureSuccessStatusCode();
                }

                if (q >= 10)
                {
                    samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }

            process.Refresh();

            // CPU of the whole process per query (both pages for next_page; background workers included): on a shared
            // machine the wall-clock percentiles mostly measure the other tenants, this does not.
            var cpuPerQuery = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds / (QueriesPerFilter + 10);
            samples.Sort();
            all.AddRange(samples);
            figures[$"list_{name}_p50_ms"] = Math.Round(BenchApp.Percentile(samples, 0.50), 2);
            figures[$"list_{name}_p99_ms"] = Math.Round(BenchApp.Percentile(samples, 0.99), 2);
            figures[$"list_{name}_cpu_ms"] = Math.Round(cpuPerQuery, 2);
            await log.WriteLineAsync($"listing {name}: p50 {figures[$"list_{name}_p50_ms"]} ms, p99 {figures[$"list_{name}_p99_ms"]} ms, {cpuPerQuery:0.00} CPU-ms per query");
        }

        all.Sort();
        figures["list_p50_ms"] = Math.Round(BenchApp.Percentile(all, 0.50), 2);
        figures["list_p99_ms"] = Math.Round(BenchApp.Percentile(all, 0.99), 2);
        await log.WriteLineAsync($"listing over {ListedItems:N0} items, all filters: p50 {figures["list_p50_ms"]} ms, p99 {figures["list_p99_ms"]} ms (HTTP query endpoint, page of 100)");
    }
}
