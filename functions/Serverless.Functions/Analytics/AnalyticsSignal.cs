using System.Collections.Concurrent;
using System.Threading.Channels;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;

namespace Serverless.Functions.Analytics;

/// <summary>
/// Wakes the background projector when a project's log grows. At most one wake-up per project is pending: writes
/// that land while one waits share it, so 200 status updates a second cost a few catch-ups, not 200.
/// </summary>
public sealed class AnalyticsSignal : IActivityHook
{
    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, byte> _pending = new(StringComparer.Ordinal);

    public ChannelReader<string> Reader => _channel.Reader;

    public Task<IReadOnlyList<ActivityEvent>> EnrichAsync(IReadOnlyList<ActivityEvent> events, CancellationToken ct) => Task.FromResult(events);

    public void Recorded(string projectId)
    {
        // The channel holds each project at most once (the pending set), so it stays as small as the set of projects.
        if (_pending.TryAdd(projectId, 0))
        {
            _channel.Writer.TryWrite(projectId);
        }
    }

    /// <summary>
    /// Called by the consumer right before it projects <paramref name="projectId"/>: a write after this point
    /// signals again, since the catch-up about to start may not see it.
    /// </summary>
    public void Taken(string projectId) => _pending.TryRemove(projectId, out _);
}

/// <summary>
/// Projects each project whose log grew, shortly after the write, so reads rarely have anything to catch up.
/// Waits (<see cref="NextDelay"/>) after a wake-up before projecting, so a burst of writes is projected in one
/// catch-up; reads never wait for it (each read catches up first).
/// </summary>
public sealed partial class AnalyticsBackgroundProjector(AnalyticsSignal signal, AnalyticsProjector projector, ILogger<AnalyticsBackgroundProjector> logger) : BackgroundService
{
    /// <summary>How long a wake-up waits at least for more writes to the same project before projecting them together.</summary>
    public static readonly TimeSpan CoalesceDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait: the cube a dashboard shows without reading lags the log by about this much at most.</summary>
    public static readonly TimeSpan MaxCoalesceDelay = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The wait before the next round of catch-ups: four times what the last one took (between <see cref="CoalesceDelay"/> and
    /// <see cref="MaxCoalesceDelay"/>), so background projection takes at most about a fifth of the time. Part of a
    /// catch-up's cost does not shrink with fewer events (the checkpoint, which lists the ids of the last 10 s, is read
    /// and written whole); under a batch status change of thousands of events a second, catch-ups 100 ms apart spent
    /// ~40% of the process's CPU (batch at 200k items: 2,066 items per CPU-second with the projector, 3,745 without).
    /// </summary>
    public static TimeSpan NextDelay(TimeSpan lastRound) =>
        TimeSpan.FromTicks(Math.Clamp(lastRound.Ticks * 4, CoalesceDelay.Ticks, MaxCoalesceDelay.Ticks));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunRoundsAsync(signal, async projectId =>
            {
                try
                {
                    await projector.CatchUpAsync(projectId, stoppingToken);
                }
                catch (DocumentStoreException ex)
                {
                    // The next read or write catches up; nothing is lost because the log is the truth.
                    LogProjectionFailed(logger, projectId, ex);
                }
            }, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// The background loop, in rounds: wait (<see cref="NextDelay"/> of the last round), then catch up each project
    /// waiting at that moment, once. Writes that land during a catch-up wake the next round, after its delay; taking
    /// them at once instead chained catch-ups of a few hundred events behind every large one under a batch status
    /// change, each paying a catch-up's fixed cost (the checkpoint, the count of the straggler window's events, the
    /// window write: 50-150 ms for a tenth of the events), and kept the projector busy past the fifth of the time
    /// the delay allows.
    /// </summary>
    public static async Task RunRoundsAsync(AnalyticsSignal signal, Func<string, Task> catchUp, CancellationToken ct)
    {
        var delay = CoalesceDelay;
        while (await signal.Reader.WaitToReadAsync(ct))
        {
            await Task.Delay(delay, ct);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var round = new List<string>();
            while (signal.Reader.TryRead(out var waiting))
            {
                round.Add(waiting);
            }

            foreach (var projectId in round)
            {
                signal.Taken(projectId);
                await catchUp(projectId);
            }

            delay = NextDelay(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
    }

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Background analytics projection of project {ProjectId} failed")]
    private static partial void LogProjectionFailed(ILogger logger, string projectId, Exception exception);
}
