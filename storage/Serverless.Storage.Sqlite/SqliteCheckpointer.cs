using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// Copies the WAL into the database file on a connection of its own, a moment after writes committed, so that no
/// write waits for it.
/// </summary>
/// <remarks>
/// SQLite's automatic checkpoint runs inside the COMMIT that makes the WAL cross its threshold: on the store's single
/// writer, that commit then copied and synced tens of megabytes while every queued write waited (commits of 140-220 ms
/// on a 200k-item file). A PASSIVE checkpoint on another connection runs beside the writer: SQLite lets one connection
/// append to the WAL while another copies the frames committed before. It copies only frames no open reader still
/// needs, so it never waits for a reader either; what it leaves is copied by the next one. Once everything is copied
/// and no reader uses the WAL, the next write starts the WAL file over from its beginning, which keeps it bounded.
/// </remarks>
internal sealed partial class SqliteCheckpointer : IAsyncDisposable
{
    /// <summary>
    /// How long commits accumulate before a checkpoint: a page rewritten by many commits is copied once per
    /// checkpoint (the reason the writer used to checkpoint every ~40 MB rather than SQLite's 4 MB).
    /// </summary>
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    private readonly SqliteSession _session;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _pending;
    private int _disposed;

    public SqliteCheckpointer(string path, ILogger logger)
    {
        _session = new SqliteSession(path, readOnly: false);
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Called by the writer after each commit: a checkpoint follows shortly (cheap: at most one signal is pending).</summary>
    public void Committed()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            _signal.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        _session.Dispose();
        _stop.Dispose();
        _signal.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            while (true)
            {
                await _signal.WaitAsync(_stop.Token);
                await Task.Delay(Delay, _stop.Token);

                // Cleared before the checkpoint: commits made while it runs ask for the next one.
                Volatile.Write(ref _pending, 0);
                try
                {
                    _session.Execute("PRAGMA wal_checkpoint(PASSIVE)");
                }
                catch (SqliteException e)
                {
                    // The next commit asks again; meanwhile the WAL only grows.
                    Log.CheckpointFailed(_logger, e.SqliteErrorCode, e);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed: closing the connections checkpoints what is left.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "SQLite checkpoint failed with error {ErrorCode}")]
        public static partial void CheckpointFailed(ILogger logger, int errorCode, Exception exception);
    }
}
