using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Core.Storage.Queues;

namespace Serverless.Functions.Health;

/// <summary>Health settings (section <c>Health</c>).</summary>
public sealed record HealthOptions
{
    public const string Section = "Health";

    /// <summary>How long each store may take to answer its ping before it counts as down.</summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>One store's state: <c>up</c> or <c>down</c>, the ping's latency, and why it is down.</summary>
public sealed record ComponentHealth(string Status, double LatencyMs, string? Error = null)
{
    [JsonIgnore]
    public bool IsUp => Status == HealthStatus.Up;
}

/// <summary>The health of the stores the app depends on.</summary>
public sealed record HealthReport(string Status, IReadOnlyDictionary<string, ComponentHealth> Components)
{
    [JsonIgnore]
    public bool IsUp => Status == HealthStatus.Up;
}

/// <summary>Status words of the health report.</summary>
public static class HealthStatus
{
    public const string Up = "up";
    public const string Down = "down";
}

/// <summary>
/// Pings the document store, blob store and queue store in parallel, each with
/// <see cref="HealthOptions.PingTimeout"/>. A port with no adapter registered is reported down.
/// </summary>
public sealed class StorageHealthProbe(IServiceProvider services, IOptions<HealthOptions> options)
{
    public const string DocumentStore = "documentStore";
    public const string BlobStore = "blobStore";
    public const string QueueStore = "queueStore";

    public async Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var checks = new (string Name, Func<CancellationToken, Task<bool>>? Ping)[]
        {
            (DocumentStore, services.GetService<IDocumentStore>() is { } documents ? documents.PingAsync : null),
            (BlobStore, services.GetService<IBlobStore>() is { } blobs ? blobs.PingAsync : null),
            (QueueStore, services.GetService<IQueueStore>() is { } queues ? queues.PingAsync : null),
        };
        var results = await Task.WhenAll(checks.Select(c => CheckOneAsync(c.Ping, cancellationToken)));
        var components = checks.Select(c => c.Name).Zip(results).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
        return new HealthReport(components.Values.All(c => c.IsUp) ? HealthStatus.Up : HealthStatus.Down, components);
    }

    private async Task<ComponentHealth> CheckOneAsync(Func<CancellationToken, Task<bool>>? ping, CancellationToken cancellationToken)
    {
        if (ping is null)
        {
            return new ComponentHealth(HealthStatus.Down, 0, "not configured: no adapter is registered for this port");
        }

        var timeout = options.Value.PingTimeout;
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            // WaitAsync bounds the wait even if an adapter ignores the token.
            var answered = await ping(timeoutSource.Token).WaitAsync(timeout, cancellationToken);
            var latency = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
            return answered
                ? new ComponentHealth(HealthStatus.Up, latency)
                : new ComponentHealth(HealthStatus.Down, latency, "the service did not answer the ping successfully");
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new ComponentHealth(HealthStatus.Down, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1), $"no answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new ComponentHealth(HealthStatus.Down, Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1), $"{ex.GetType().Name}: {ex.Message}");
        }
    }
}
