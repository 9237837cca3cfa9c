using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Storage;
using Serverless.Storage.Azure;
using Serverless.Storage.Sqlite;
using Serverless.Testing;

namespace Serverless.Bench.Durable;

/// <summary>
/// The durable runtime on the local stack: a temporary SQLite file and a freshly started Azurite, one process
/// (backend + worker loops + client). Figures: <c>sequential_activities_per_s</c> (one orchestration calling
/// activities one after another), <c>fan_out_activities_per_s</c> (1,000 activities in parallel, then fan-in),
/// <c>orchestrations_per_s</c> (instances of a 5-activity sequence started and completed), <c>external_events_per_s</c>
/// (events raised to one waiting instance and consumed), and <c>queue_roundtrip_per_s</c> (raw sequential
/// send → receive → delete on the same Azurite), with each figure's ratio to the raw round-trip rate.
/// </summary>
internal sealed class DurableSuite : IBenchSuite
{
    private const int SequentialActivities = 500;
    private const int FanOutActivities = 1000;
    private const int Orchestrations = 1000;
    private const int Events = 500;
    private const int WorkerLoops = 4;

    public string Name => "durable";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        var azurite = new AzuriteFixture();
        await azurite.StartAsync().ConfigureAwait(false);
        var path = Path.Combine(Path.GetTempPath(), $"durable-bench-{Guid.NewGuid():N}.db");
        try
        {
            await QueueRoundTripAsync(azurite.QueueStore, log, figures).ConfigureAwait(false);
            await using var documents = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path));
            await using var backend = new StorageOrchestrationBackend(documents, new AzureQueueStore(azurite.Options), new AzureBlobStore(azurite.Options));
            var registry = new DurableTaskRegistry()
                .AddOrchestrator<ChainOrchestrator>()
                .AddOrchestrator<ParallelOrchestrator>()
                .AddOrchestrator<EventSinkOrchestrator>()
                .AddActivity<int, int>("Next", (_, x) => Task.FromResult(x + 1));
            await using var services = new ServiceCollection().BuildServiceProvider();
            var worker = new DurableWorker(backend, registry, services);
            var client = new DurableClient(backend);
            using var stop = new CancellationTokenSource();
            var loops = Enumerable.Range(0, WorkerLoops).Select(_ => Task.Run(() => worker.RunAsync(stop.Token))).ToList();
            try
            {
                await RunOneAsync(client, nameof(ChainOrchestrator), 50).ConfigureAwait(false);
                await RunOneAsync(client, nameof(ParallelOrchestrator), 100).ConfigureAwait(false);

                var watch = Stopwatch.StartNew();
                Check(await RunOneAsync(client, nameof(ChainOrchestrator), SequentialActivities).ConfigureAwait(false), SequentialActivities);
                Record(figures, log, "sequential_activities_per_s", SequentialActivities / watch.Elapsed.TotalSeconds, $"{SequentialActivities} activities one after another in one orchestration");

                watch.Restart();
                Check(await RunOneAsync(client, nameof(ParallelOrchestrator), FanOutActivities).ConfigureAwait(false), FanOutActivities);
                Record(figures, log, "fan_out_activities_per_s", FanOutActivities / watch.Elapsed.TotalSeconds, $"{FanOutActivities} activities in parallel, then fan-in");

                watch.Restart();
                var ids = new string[Orchestrations];
                using (var gate = new SemaphoreSlim(32))
                {
                    await Task.WhenAll(Enumerable.Range(0, Orchestrations).Select(async i =>
                    {
                        await gate.WaitAsync().ConfigureAwait(false);
                        try
                        {
                            ids[i] = await client.ScheduleNewOrchestrationInstanceAsync(nameof(ChainOrchestrator), 5).ConfigureAwait(false);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    })).ConfigureAwait(false);
                }

                var started = watch.Elapsed;
                foreach (var id in ids)
                {
                    Check((await client.WaitForCompletionAsync(id, TimeSpan.FromMinutes(5)).ConfigureAwait(false)).ReadOutputAs<int>(), 5);
                }

                Record(figures, log, "orchestrations_per_s", Orchestrations / watch.Elapsed.TotalSeconds, string.Create(CultureInfo.InvariantCulture, $"{Orchestrations} instances of a 5-activity sequence started (32 starts in flight; all started after {started.TotalSeconds:0.00} s) and completed"));

                var sink = await client.ScheduleNewOrchestrationInstanceAsync(nameof(EventSinkOrchestrator), Events).ConfigureAwait(false);
                watch.Restart();
                using (var gate = new SemaphoreSlim(16))
                {
                    await Task.WhenAll(Enumerable.Range(0, Events).Select(async i =>
                    {
                        await gate.WaitAsync().ConfigureAwait(false);
                        try
                        {
                            await client.RaiseEventAsync(sink, "e", i).ConfigureAwait(false);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    })).ConfigureAwait(false);
                }

                Check((await client.WaitForCompletionAsync(sink, TimeSpan.FromMinutes(5)).ConfigureAwait(false)).ReadOutputAs<int>(), Events);
                Record(figures, log, "external_events_per_s", Events / watch.Elapsed.TotalSeconds, $"{Events} events raised (16 in flight) to one waiting instance and consumed");
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(loops).ConfigureAwait(false);
                await backend.DrainAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await azurite.DisposeAsync().ConfigureAwait(false);
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                File.Delete(file);
            }
        }

        var roundTrip = figures["queue_roundtrip_per_s"];
        foreach (var key in new[] { "sequential_activities_per_s", "fan_out_activities_per_s", "orchestrations_per_s", "external_events_per_s" })
        {
            var ratio = key.Replace("_per_s", "_to_queue_ratio", StringComparison.Ordinal).Replace("_activities", string.Empty, StringComparison.Ordinal);
            figures[ratio] = Math.Round(figures[key] / roundTrip, 2);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ratio} = {figures[ratio]:0.00}"));
        }

        return figures;
    }

    private static async Task<int> RunOneAsync(DurableClient client, string orchestrator, int input)
    {
        var id = await client.ScheduleNewOrchestrationInstanceAsync(orchestrator, input).ConfigureAwait(false);
        var state = await client.WaitForCompletionAsync(id, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        return state.Status == OrchestrationRuntimeStatus.Completed
            ? state.ReadOutputAs<int>()
            : throw new InvalidOperationException($"{orchestrator} ended {state.Status}: {state.Failure}");
    }

    private static async Task QueueRoundTripAsync(AzureQueueStore queues, TextWriter log, IDictionary<string, double> figures)
    {
        const int roundTrips = 200;
        var queue = AzuriteFixture.UniqueName("bench");
        await queues.CreateIfNotExistsAsync(queue).ConfigureAwait(false);
        var payload = "{\"kind\":\"Activity\",\"instance\":\"" + new string('x', 120) + "\"}";
        for (var i = 0; i < 20; i++)
        {
            var sent = await queues.SendAsync(queue, payload).ConfigureAwait(false);
            await queues.DeleteAsync(queue, sent.MessageId, sent.PopReceipt).ConfigureAwait(false);
        }

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < roundTrips; i++)
        {
            await queues.SendAsync(queue, payload).ConfigureAwait(false);
            foreach (var message in await queues.ReceiveAsync(queue, 1, TimeSpan.FromMinutes(1)).ConfigureAwait(false))
            {
                await queues.DeleteAsync(queue, message.MessageId, message.PopReceipt).ConfigureAwait(false);
            }
        }

        Record(figures, log, "queue_roundtrip_per_s", roundTrips / watch.Elapsed.TotalSeconds, $"{roundTrips} sequential send → receive → delete");
    }

    private static void Check(int actual, int expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"Expected output {expected}, got {actual}.");
        }
    }

    private static void Record(IDictionary<string, double> figures, TextWriter log, string name, double value, string what)
    {
        figures[name] = Math.Round(value, 1);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} = {value:0.0} ({what})"));
    }
}

/// <summary>Calls "Next" <c>input</c> times in sequence; returns the count.</summary>
internal sealed class ChainOrchestrator : TaskOrchestrator<int, int>
{
    public override async Task<int> RunAsync(TaskOrchestrationContext context, int input)
    {
        var value = 0;
        for (var i = 0; i < input; i++)
        {
            value = await context.CallActivityAsync<int>("Next", value);
        }

        return value;
    }
}

/// <summary>Calls "Next" <c>input</c> times in parallel; returns the number of results.</summary>
internal sealed class ParallelOrchestrator : TaskOrchestrator<int, int>
{
    public override async Task<int> RunAsync(TaskOrchestrationContext context, int input)
    {
        var results = await Task.WhenAll(Enumerable.Range(0, input).Select(i => context.CallActivityAsync<int>("Next", i)));
        return results.Length;
    }
}

/// <summary>Waits for <c>input</c> events named "e"; returns how many arrived.</summary>
internal sealed class EventSinkOrchestrator : TaskOrchestrator<int, int>
{
    public override async Task<int> RunAsync(TaskOrchestrationContext context, int input)
    {
        var count = 0;
        for (var i = 0; i < input; i++)
        {
            await context.WaitForExternalEvent<int>("e");
            count++;
        }

        return count;
    }
}
