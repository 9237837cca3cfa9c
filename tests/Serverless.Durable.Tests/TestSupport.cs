using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Tests;

/// <summary>A clock the test moves by hand, so durable timers fire exactly when the test says.</summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset now = start;

    public override DateTimeOffset GetUtcNow() => now;

    public void Advance(TimeSpan by) => now += by;
}

/// <summary>Collects log lines so tests can count what was written.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(Lines);

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(formatter(state, exception));
    }
}

/// <summary>
/// One in-memory runtime: backend, registry with every test orchestrator and activity, worker,
/// client and a manual clock. Activities record their calls so tests can count effects.
/// </summary>
public sealed class DurableHarness : IDisposable
{
    public static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly ServiceProvider services;

    public DurableHarness(InMemoryBackendOptions? options = null, Action<DurableTaskRegistry>? configure = null)
    {
        Time = new ManualTimeProvider(Epoch);
        Backend = new InMemoryOrchestrationBackend(Time, options);
        Registry = new DurableTaskRegistry();
        TestTasks.Register(Registry, Calls);
        configure?.Invoke(Registry);
        services = new ServiceCollection().BuildServiceProvider();
        Logs = new CapturingLoggerProvider();
        LoggerFactory = new LoggerFactory([Logs]);
        Worker = NewWorker(Registry);
        Client = new DurableClient(Backend, Time);
    }

    public ManualTimeProvider Time { get; }

    public InMemoryOrchestrationBackend Backend { get; }

    public DurableTaskRegistry Registry { get; }

    public DurableWorker Worker { get; }

    public DurableClient Client { get; }

    public CapturingLoggerProvider Logs { get; }

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Activity name → idempotency keys it ran with, one entry per execution.</summary>
    public ConcurrentDictionary<string, ConcurrentQueue<string>> Calls { get; } = new();

    public int CallCount(string activity) => Calls.TryGetValue(activity, out var q) ? q.Count : 0;

    public DurableWorker NewWorker(DurableTaskRegistry registry) => new(Backend, registry, services, Time, LoggerFactory);

    /// <summary>Starts an instance and runs the worker until nothing is left to do now.</summary>
    public async Task<OrchestrationState> RunAsync(string orchestrator, object? input = null, string? instanceId = null)
    {
        var id = await Client.ScheduleNewOrchestrationInstanceAsync(orchestrator, input, new StartOrchestrationOptions(instanceId));
        await Worker.RunUntilIdleAsync();
        return await StateAsync(id);
    }

    public async Task<OrchestrationState> StateAsync(string instanceId) =>
        (await Client.GetInstanceAsync(instanceId))?.State ?? throw new InvalidOperationException($"No instance {instanceId}.");

    public async Task<IReadOnlyList<History.HistoryEvent>> HistoryAsync(string instanceId) =>
        (await Client.GetInstanceAsync(instanceId, includeHistory: true))!.History!;

    public void Dispose()
    {
        Backend.Dispose();
        LoggerFactory.Dispose();
        services.Dispose();
    }
}

/// <summary>Every test orchestrator and activity; activities record their idempotency keys in <c>calls</c> so tests can count effects.</summary>
public static class TestTasks
{
    public static int Count(ConcurrentDictionary<string, ConcurrentQueue<string>> calls, string activity) => calls.TryGetValue(activity, out var q) ? q.Count : 0;

    private static void Record(ConcurrentDictionary<string, ConcurrentQueue<string>> calls, string activity, TaskActivityContext context) =>
        calls.GetOrAdd(activity, _ => new ConcurrentQueue<string>()).Enqueue(context.IdempotencyKey);

    public static void Register(DurableTaskRegistry registry, ConcurrentDictionary<string, ConcurrentQueue<string>> calls)
    {
        registry
            .AddOrchestrator<SequenceOrchestrator>()
            .AddOrchestrator<FanOutOrchestrator>()
            .AddOrchestrator<ParentOrchestrator>()
            .AddOrchestrator<TimerOrchestrator>()
            .AddOrchestrator<ApprovalOrchestrator>()
            .AddOrchestrator<EventCollectorOrchestrator>()
            .AddOrchestrator<CounterOrchestrator>()
            .AddOrchestrator<EventCounterOrchestrator>()
            .AddOrchestrator<RetryOrchestrator>()
            .AddOrchestrator<FailingOrchestrator>()
            .AddOrchestrator<CatchingOrchestrator>()
            .AddOrchestrator<WaitForeverOrchestrator>()
            .AddOrchestrator<GuidOrchestrator>()
            .AddOrchestrator<CustomStatusOrchestrator>()
            .AddOrchestrator<SendEventOrchestrator>()
            .AddActivity<HelloActivity>("Hello")
            .AddActivity<int, int>("Square", (ctx, x) =>
            {
                Record(calls, "Square", ctx);
                return Task.FromResult(x * x);
            })
            .AddActivity<string, string>("Throw", (ctx, message) =>
            {
                Record(calls, "Throw", ctx);
                throw new InvalidOperationException(message);
            })
            .AddActivity<int, int>("Flaky", (ctx, succeedOnAttempt) =>
            {
                Record(calls, "Flaky", ctx);
                return Count(calls, "Flaky") < succeedOnAttempt
                    ? throw new TimeoutException($"Flaky attempt {Count(calls, "Flaky")} failed.")
                    : Task.FromResult(Count(calls, "Flaky"));
            })
            .AddActivity<string, string>("Echo", (ctx, s) =>
            {
                Record(calls, "Echo", ctx);
                return Task.FromResult(s);
            });
    }

    /// <summary>An activity as a class, resolved from DI.</summary>
    private sealed class HelloActivity : TaskActivity<string, string>
    {
        public override Task<string> RunAsync(TaskActivityContext context, string input) => Task.FromResult($"Hello {input}!");
    }
}
