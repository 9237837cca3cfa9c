using Microsoft.Extensions.Options;

namespace Serverless.Functions.Local;

/// <summary>Registers the standalone stand-ins for the host's queue and Event Grid triggers.</summary>
public static class LocalTriggers
{
    public static IHostApplicationBuilder AddLocalTriggers(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<LocalHostOptions>()
            .BindConfiguration(LocalHostOptions.Section)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<LocalHostOptions>, LocalHostOptionsValidator>();
        builder.Services.AddHostedService<QueuePollerService>();
        builder.Services.AddHostedService<BlobWatcherService>();
        return builder;
    }

    private sealed class LocalHostOptionsValidator : IValidateOptions<LocalHostOptions>
    {
        public ValidateOptionsResult Validate(string? name, LocalHostOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

/// <summary>Source-generated logs of the local triggers (event ids 1200–1299).</summary>
internal static partial class LocalTriggerLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Queue pollers idle: {Reason}")]
    public static partial void QueuePollersIdle(ILogger logger, string reason);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Polling queue {QueueName} for {FunctionName}")]
    public static partial void QueuePollerStarted(ILogger logger, string functionName, string queueName);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Error, Message = "Polling queue {QueueName} failed; retrying")]
    public static partial void QueuePollFailed(ILogger logger, Exception exception, string queueName);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "{FunctionName} failed on message {MessageId} (dequeue count {DequeueCount}); hidden for {Backoff} before the next attempt")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string functionName, string messageId, long dequeueCount, TimeSpan backoff);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Error, Message = "Moved message {MessageId} of queue {QueueName} (dequeue count {DequeueCount}) to {PoisonQueue}: {Reason}")]
    public static partial void Poisoned(ILogger logger, string queueName, string messageId, long dequeueCount, string poisonQueue, string reason);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Warning, Message = "Message {MessageId} of queue {QueueName} could not be settled: its pop receipt is stale, so it will be delivered again")]
    public static partial void DeleteStale(ILogger logger, string queueName, string messageId);

    [LoggerMessage(EventId = 1210, Level = LogLevel.Information, Message = "Blob watcher idle: {Reason}")]
    public static partial void BlobWatcherIdle(ILogger logger, string reason);

    [LoggerMessage(EventId = 1211, Level = LogLevel.Information, Message = "Watching upload containers {Containers} for new blobs")]
    public static partial void BlobWatcherStarted(ILogger logger, string containers);

    [LoggerMessage(EventId = 1212, Level = LogLevel.Warning, Message = "BlobCreated handling of {Blob} failed (attempt {Attempt}); retrying on the next scan")]
    public static partial void BlobHandlerFailed(ILogger logger, Exception exception, string blob, int attempt);

    [LoggerMessage(EventId = 1213, Level = LogLevel.Error, Message = "Gave up BlobCreated handling of {Blob} after {Attempts} attempts; upload it again (or restart) to retry")]
    public static partial void BlobGivenUp(ILogger logger, Exception exception, string blob, int attempts);

    [LoggerMessage(EventId = 1214, Level = LogLevel.Error, Message = "Scanning the upload containers failed; retrying on the next tick")]
    public static partial void BlobScanFailed(ILogger logger, Exception exception);
}
