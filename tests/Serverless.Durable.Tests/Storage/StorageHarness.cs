using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Queues;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Storage;
using Serverless.Storage.Azure;
using Serverless.Storage.Sqlite;
using Serverless.Testing;

namespace Serverless.Durable.Tests.Storage;

/// <summary>
/// One simulated process of the durable runtime on real SQLite + Azurite: its own document store, queue and blob
/// client objects, backend, worker loops and client. Processes made with <see cref="NewProcess"/> share the SQLite
/// file and the task hub's queues, like two hosts would.
/// </summary>
public sealed class StorageHarness : IAsyncDisposable
{
    private readonly ServiceProvider services;
    private readonly List<Task> loops = [];
    private readonly AzuriteFixture azurite;
    private CancellationTokenSource? running;

    public StorageHarness(AzuriteFixture azurite, StorageBackendOptions? options = null, string? databasePath = null, string name = "a", ConcurrentDictionary<string, ConcurrentQueue<string>>? calls = null, Func<IQueueStore, IQueueStore>? wrapQueues = null)
    {
        this.azurite = azurite;
        Name = name;
        Calls = calls ?? new();
        DatabasePath = databasePath ?? Path.Combine(Path.GetTempPath(), $"durable-{Guid.NewGuid():N}.db");
        Options = options ?? new StorageBackendOptions(TaskHub: AzuriteFixture.UniqueName("t"), MessageLease: TimeSpan.FromSeconds(2), QueuePollInterval: TimeSpan.FromMilliseconds(50));
        Documents = new SqliteDocumentStore(new SqliteDocumentStoreOptions(DatabasePath));
        IQueueStore queues = new AzureQueueStore(azurite.Options);
        Queues = wrapQueues?.Invoke(queues) ?? queues;
        Backend = new StorageOrchestrationBackend(Documents, Queues, new AzureBlobStore(azurite.Options), Options);
        Registry = new DurableTaskRegistry();
        TestTasks.Register(Registry, Calls);
        Registry
            .AddOrchestrator<SecondsTimerOrchestrator>()
            .AddOrchestrator<QuickRetryOrchestrator>()
            .AddOrchestrator<EchoOrchestrator>()
            .AddOrchestrator<WhereOrchestrator>()
            .AddOrchestrator<SlowOrchestrator>()
            .AddActivity<WhereActivity>("Where")
            .AddActivity<int, int>("Slow", async (ctx, ms) =>
            {
                Calls.GetOrAdd("Slow", _ => new ConcurrentQueue<string>()).Enqueue(ctx.IdempotencyKey);
                await Task.Delay(ms);
                return ms;
            });
        services = new ServiceCollection().AddSingleton(new ProcessTag(name)).BuildServiceProvider();
        Worker = new DurableWorker(Backend, Registry, services, options: new DurableWorkerOptions(IdlePollInterval: TimeSpan.FromMilliseconds(100), AbandonDelay: TimeSpan.FromMilliseconds(200)));
        Client = new DurableClient(Backend);
    }

    public string Name { get; }

    public string DatabasePath { get; }

    public StorageBackendOptions Options { get; }

    public SqliteDocumentStore Documents { get; }

    public IQueueStore Queues { get; }

    public StorageOrchestrationBackend Backend { get; }

    public DurableTaskRegistry Registry { get; }

    public DurableWorker Worker { get; }

    public DurableClient Client { get; }

    public ConcurrentDictionary<string, ConcurrentQueue<string>> Calls { get; }

    public int CallCount(string activity) => TestTasks.Count(Calls, activity);

    /// <summary>Another process on the same SQLite file and task hub (fresh client objects), optionally with other options.</summary>
    public StorageHarness NewProcess(string name, StorageBackendOptions? options = null, bool shareCalls = true) =>
        new(azurite, options ?? Options, DatabasePath, name, shareCalls ? Calls : null);

    /// <summary>Starts <paramref name="count"/> worker loops in the background.</summary>
    public StorageHarness Start(int count = 2)
    {
        running ??= new CancellationTokenSource();
        for (var i = 0; i < count; i++)
        {
            loops.Add(Task.Run(() => Worker.RunAsync(running.Token)));
        }

        return this;
    }

    /// <summary>Stops the loops (what a process being shut down or killed stops doing).</summary>
    public async Task StopAsync()
    {
        if (running is null)
        {
            return;
        }

        await running.CancelAsync();
        try
        {
            await Task.WhenAll(loops);
        }
        catch (OperationCanceledException)
        {
            // Expected on stop.
        }

        loops.Clear();
        running.Dispose();
        running = null;
    }

    public async Task<OrchestrationState> RunAsync(string orchestrator, object? input = null, string? instanceId = null, int timeoutSeconds = 30)
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync(orchestrator, input, new StartOrchestrationOptions(instanceId));
        return await Client.WaitForCompletionAsync(id, TimeSpan.FromSeconds(timeoutSeconds));
    }

    public async Task<IReadOnlyList<History.HistoryEvent>> HistoryAsync(string instanceId) =>
        (await Client.GetInstanceAsync(instanceId, includeHistory: true))!.History!;

    /// <summary>Messages left on the task hub's control and work queues (approximate count, as the service reports).</summary>
    public async Task<int> QueuedAsync()
    {
        var names = Enumerable.Range(0, Options.ControlPartitions).Select(Options.ControlQueue).Append(Options.WorkQueue);
        var counts = await Task.WhenAll(names.Select(n => Queues.GetApproximateCountAsync(n)));
        return counts.Sum();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            await Backend.DrainAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            // A crashed backend may hold work that never drains; nothing to wait for.
        }

        await services.DisposeAsync();
        await Documents.DisposeAsync();
    }
}
