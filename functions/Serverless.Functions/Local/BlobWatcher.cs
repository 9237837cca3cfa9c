using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Functions;

namespace Serverless.Functions.Local;

/// <summary>
/// Standalone mode's stand-in for the Event Grid BlobCreated subscription: lists the upload
/// containers and raises <see cref="IBlobCreatedHandler"/> for every blob (name and ETag) it has not
/// seen yet, including blobs already there at start-up (a stopped platform must not miss uploads;
/// handlers are idempotent). A blob whose handler keeps failing is retried on each scan and given up
/// after <see cref="LocalHostOptions.MaxDequeueCount"/> attempts with an error log.
/// </summary>
public sealed class BlobWatcher(IBlobStore store, IEnumerable<IBlobCreatedHandler> handlers, IOptions<LocalHostOptions> options, ILogger<BlobWatcher> logger)
{
    private readonly IReadOnlyList<IBlobCreatedHandler> _handlers = handlers.ToList();
    private readonly LocalHostOptions _options = options.Value;
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly HashSet<string> _createdContainers = new(StringComparer.Ordinal);

    /// <summary>Lists every upload container once; returns how many BlobCreated events were handled.</summary>
    public async Task<int> ScanOnceAsync(CancellationToken cancellationToken)
    {
        var raised = 0;
        foreach (var container in _options.EffectiveUploadContainers)
        {
            raised += await ScanContainerAsync(container, cancellationToken);
        }

        return raised;
    }

    private async Task<int> ScanContainerAsync(string container, CancellationToken cancellationToken)
    {
        if (_createdContainers.Add(container))
        {
            await store.CreateContainerIfNotExistsAsync(container, cancellationToken);
        }

        var raised = 0;
        var present = new HashSet<string>(StringComparer.Ordinal);
        string? continuation = null;
        do
        {
            var page = await store.ListAsync(container, continuationToken: continuation, cancellationToken: cancellationToken);
            foreach (var item in page.Items)
            {
                var key = $"{container}/{item.Name}";
                present.Add(key);
                if (_seen.TryGetValue(key, out var etag) && etag == item.ETag)
                {
                    continue;
                }

                if (await RaiseAsync(container, key, item, cancellationToken))
                {
                    raised++;
                }
            }

            continuation = page.ContinuationToken;
        }
        while (!string.IsNullOrEmpty(continuation));

        // Forget deleted blobs so that a re-upload under the same name is raised again.
        var prefix = container + "/";
        foreach (var gone in _seen.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !present.Contains(k)).ToList())
        {
            _seen.Remove(gone);
            _failures.Remove(gone);
        }

        return raised;
    }

    private async Task<bool> RaiseAsync(string container, string key, BlobItem item, CancellationToken cancellationToken)
    {
        var blobCreated = new BlobCreatedEvent($"local:{key}@{item.ETag}", container, item.Name, item.Length, item.ContentType, item.ETag, null, item.LastModified);
        try
        {
            foreach (var handler in _handlers)
            {
                await handler.HandleAsync(blobCreated, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            var attempts = _failures[key] = _failures.GetValueOrDefault(key) + 1;
            if (attempts >= _options.MaxDequeueCount)
            {
                LocalTriggerLog.BlobGivenUp(logger, ex, key, attempts);
                _seen[key] = item.ETag;
                _failures.Remove(key);
            }
            else
            {
                LocalTriggerLog.BlobHandlerFailed(logger, ex, key, attempts);
            }

            return false;
        }

        _seen[key] = item.ETag;
        _failures.Remove(key);
        return true;
    }
}

/// <summary>Runs <see cref="BlobWatcher"/> every <see cref="LocalHostOptions.BlobPollInterval"/> in standalone mode.</summary>
public sealed class BlobWatcherService(IServiceProvider services, IEnumerable<IBlobCreatedHandler> handlers, IOptions<LocalHostOptions> options, ILoggerFactory loggerFactory) : BackgroundService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<BlobWatcherService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!handlers.Any())
        {
            LocalTriggerLog.BlobWatcherIdle(_logger, "no BlobCreated handler is registered");
            return;
        }

        if (services.GetService<IBlobStore>() is not { } store)
        {
            LocalTriggerLog.BlobWatcherIdle(_logger, "BlobCreated handlers are registered but no IBlobStore is configured");
            return;
        }

        var watcher = new BlobWatcher(store, handlers, options, loggerFactory.CreateLogger<BlobWatcher>());
        var containers = string.Join(", ", options.Value.EffectiveUploadContainers);
        LocalTriggerLog.BlobWatcherStarted(_logger, containers);
        using var timer = new PeriodicTimer(options.Value.BlobPollInterval);
        do
        {
            try
            {
                await watcher.ScanOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LocalTriggerLog.BlobScanFailed(_logger, ex);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
