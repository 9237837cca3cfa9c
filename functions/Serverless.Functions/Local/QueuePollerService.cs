using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Queues;
using Serverless.Functions.Functions;

namespace Serverless.Functions.Local;

/// <summary>
/// Standalone mode's stand-in for the Functions host's queue triggers: one polling loop per registered
/// queue handler, each with its own <see cref="QueueMessagePump"/>. Not registered in custom handler
/// mode, where the host triggers the functions.
/// </summary>
public sealed class QueuePollerService(
    QueueHandlerCatalog handlers,
    IServiceProvider services,
    IOptions<LocalHostOptions> options,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<QueuePollerService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (handlers.Handlers.Count == 0)
        {
            LocalTriggerLog.QueuePollersIdle(_logger, "no queue handler is registered");
            return;
        }

        if (services.GetService<IQueueStore>() is not { } store)
        {
            LocalTriggerLog.QueuePollersIdle(_logger, "queue handlers are registered but no IQueueStore is configured");
            return;
        }

        await Task.WhenAll(handlers.Handlers.Select(handler => PollAsync(store, handler, stoppingToken)));
    }

    private async Task PollAsync(IQueueStore store, IQueueMessageHandler handler, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var pump = new QueueMessagePump(store, options, loggerFactory.CreateLogger<QueueMessagePump>());
        var idle = settings.QueuePollInterval;
        var queueReady = false;
        LocalTriggerLog.QueuePollerStarted(_logger, handler.FunctionName, handler.QueueName);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!queueReady)
                {
                    await store.CreateIfNotExistsAsync(handler.QueueName, stoppingToken);
                    queueReady = true;
                }

                if (await pump.PollOnceAsync(handler, stoppingToken) > 0)
                {
                    idle = settings.QueuePollInterval;
                    continue;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LocalTriggerLog.QueuePollFailed(_logger, ex, handler.QueueName);
                idle = settings.MaxQueuePollInterval;
            }

            try
            {
                await Task.Delay(idle, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            idle = TimeSpan.FromTicks(Math.Min(idle.Ticks * 2, settings.MaxQueuePollInterval.Ticks));
        }
    }
}
