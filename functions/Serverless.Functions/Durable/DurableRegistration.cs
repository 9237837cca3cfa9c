using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;
using Serverless.Durable;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Storage;
using Serverless.Functions.Functions;
using Serverless.Functions.Hosting;

namespace Serverless.Functions.Durable;

/// <summary>
/// Registers the durable runtime on the app's storage ports: backend, registry, client and the worker service,
/// plus, in custom handler mode only, the <c>DurableControl</c>/<c>DurableWork</c> queue handlers.
/// </summary>
/// <remarks>
/// One delivery path per mode, so no message is processed by two loops in one process:
/// <list type="bullet">
/// <item>Standalone: the backend polls its own queues (<see cref="StorageBackendOptions.PollQueues"/>) inside the
/// worker service; no queue handler is registered, so the local queue pollers leave these queues alone.</item>
/// <item>Custom handler: the Functions host receives from the queues and posts each message to a handler, which
/// hands it to the backend and returns once its step committed (the host then deletes it). The worker service
/// still runs, but only on in-memory work (in-process dispatch).</item>
/// </list>
/// Both modes use <see cref="FunctionCatalog.DurableControlPartitions"/> control queues: standalone polls them all,
/// and in custom handler mode the host runs one queue-triggered function per partition (<c>DurableControl</c>,
/// <c>DurableControl1</c>...), each scaled and retried on its own.
/// </remarks>
public static class DurableRegistration
{
    /// <summary>The Functions host's default <c>maxDequeueCount</c> (host.json): after it, the host poisons silently.</summary>
    public const int HostMaxDequeueCount = 5;

    /// <summary>Adds the durable runtime. Features add orchestrators and activities with <see cref="DurableTaskRegistration.AddDurableTasks"/>.</summary>
    public static IHostApplicationBuilder AddDurable(this IHostApplicationBuilder builder, FunctionsHostingMode mode)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(mode);
        var options = new StorageBackendOptions(
            TaskHub: "durable",
            ControlPartitions: FunctionCatalog.DurableControlPartitions,
            PollQueues: !mode.IsCustomHandler,

            // In custom handler mode the host copies a message to its poison queue after its last attempt without
            // telling us; we poison it ourselves one attempt earlier, so the instance is marked Failed with the reason.
            MaxDequeueCount: mode.IsCustomHandler ? HostMaxDequeueCount - 1 : HostMaxDequeueCount);
        for (var p = 0; p < options.ControlPartitions; p++)
        {
            if (options.ControlQueue(p) != FunctionCatalog.DurableControlQueueOf(p))
            {
                throw new InvalidOperationException($"Control partition {p} is queue '{options.ControlQueue(p)}' for the runtime but '{FunctionCatalog.DurableControlQueueOf(p)}' for the functions.");
            }
        }

        builder.Services.AddSingleton(options);

        // Declared like every other container, so start-up and the deployment (infra/) know it too.
        builder.Services.AddSingleton(options.InstancesContainerSpec);
        builder.Services.AddSingleton(sp =>
        {
            var registry = new DurableTaskRegistry();
            foreach (var configurator in sp.GetServices<DurableTaskConfigurator>())
            {
                configurator.Register(registry);
            }

            return registry;
        });
        builder.Services.AddSingleton(sp => new StorageOrchestrationBackend(
            sp.GetRequiredService<IDocumentStore>(),
            sp.GetRequiredService<IQueueStore>(),
            sp.GetRequiredService<IBlobStore>(),
            options,
            loggerFactory: sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<Serverless.Durable.Runtime.IOrchestrationBackend>(sp => sp.GetRequiredService<StorageOrchestrationBackend>());
        builder.Services.AddSingleton(sp => new DurableClient(sp.GetRequiredService<StorageOrchestrationBackend>()));
        builder.Services.AddSingleton<ProjectOrchestrations>();
        builder.Services.AddHostedService<DurableWorkerService>();
        if (mode.IsCustomHandler)
        {
            // The durable handlers serve their functions unless another handler was registered for them (a test
            // double, or a replacement): the catalog is rebuilt with the durable ones as defaults.
            builder.Services.AddSingleton<DurableWorkHandler>();
            builder.Services.AddSingleton(sp =>
            {
                var handlers = sp.GetServices<IQueueMessageHandler>().ToList();
                var backend = sp.GetRequiredService<StorageOrchestrationBackend>();
                var durableHandlers = Enumerable.Range(0, options.ControlPartitions)
                    .Select(p => (IQueueMessageHandler)new DurableControlHandler(backend, p))
                    .Append(sp.GetRequiredService<DurableWorkHandler>());
                foreach (var durable in durableHandlers)
                {
                    if (!handlers.Exists(h => h.FunctionName == durable.FunctionName))
                    {
                        handlers.Add(durable);
                    }
                }

                return new QueueHandlerCatalog(handlers);
            });
        }

        return builder;
    }
}

/// <summary>Runs the durable worker loops for the app's lifetime.</summary>
internal sealed partial class DurableWorkerService(
    StorageOrchestrationBackend backend,
    DurableTaskRegistry registry,
    IServiceProvider services,
    ILoggerFactory loggerFactory) : BackgroundService
{
    /// <summary>Loops in parallel: enough to overlap storage round trips on two cores.</summary>
    private const int Loops = 4;

    private readonly ILogger logger = loggerFactory.CreateLogger<DurableWorkerService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await backend.StartAsync(stoppingToken);
                break;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // Storage may come up after the app; keep trying instead of stopping the host.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogStartFailed(logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        var worker = new DurableWorker(backend, registry, services, loggerFactory: loggerFactory);
        await Task.WhenAll(Enumerable.Range(0, Loops).Select(_ => Task.Run(() => worker.RunAsync(stoppingToken), CancellationToken.None)));
    }

    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "Durable storage is not reachable yet; retrying")]
    private static partial void LogStartFailed(ILogger logger, Exception exception);
}

/// <summary>Custom handler mode: the messages of one control partition, as the Functions host delivers them.</summary>
internal sealed class DurableControlHandler(StorageOrchestrationBackend backend, int partition) : IQueueMessageHandler
{
    public string FunctionName => FunctionCatalog.DurableControlFunction(partition);

    public string QueueName => FunctionCatalog.DurableControlQueueOf(partition);

    public Task HandleAsync(QueueMessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return backend.DeliverAsync(message.Text, message.DequeueCount, cancellationToken);
    }
}

/// <summary>Custom handler mode: activity messages the Functions host delivers.</summary>
internal sealed class DurableWorkHandler(StorageOrchestrationBackend backend) : IQueueMessageHandler
{
    public string FunctionName => FunctionCatalog.DurableWork;

    public string QueueName => FunctionCatalog.DurableWorkQueue;

    public Task HandleAsync(QueueMessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return backend.DeliverAsync(message.Text, message.DequeueCount, cancellationToken);
    }
}
