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
/// <para>Under writes that never pause, "everything is copied" never happened: each checkpoint copied what was
/// committed before it started while the writer appended more, so the WAL was never restarted and grew without
/// bound (2.2 GB after 300k items; every append then extended the file, which the kernel zeroes first: ~13% of the
/// CPU of a bulk load). So once the WAL holds 32 MB, the checkpointer repeats its pass until only a little is left,
/// and then asks the writer to copy that little itself between two transactions (<see cref="TakeFinishRequest"/>):
/// the writer's next write then starts the WAL over.</para>
/// <para>A pass that leaves any frame uncopied does not sync the database file, and under writes that never pause
/// every pass leaves some: the writer's finish then synced all the passes had copied since the last one (~100 MB every
/// ~1.2 s during a batch status change at 1M items: finishes of 150-210 ms on the writer, ~15% of its time). So before
/// asking for a finish, the file is flushed to disk here and the passes repeated until the writer's remainder is small;
/// measured on the same batch, the writer's finishes took 15-86 ms per 2 s instead of 170-467 (each 18-26 ms instead of
/// 150-210). The batch's time did not move with it: the writer was not what bounded it (see functions/README.md).</para>
/// </remarks>
internal sealed partial class SqliteCheckpointer : IAsyncDisposable
{
    /// <summary>
    /// How long commits accumulate before a checkpoint: a page rewritten by many commits is copied once per
    /// checkpoint (the reason the writer used to checkpoint every ~40 MB rather than SQLite's 4 MB).
    /// </summary>
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// WAL frames (pages) the writer may be asked to copy itself, so that the WAL can restart: ~1 MB, a millisecond or
    /// two of the writer's time. Larger remainders are copied here first, in repeated passes that converge because
    /// copying a frame is far cheaper than the B-tree work that wrote it.
    /// </summary>
    internal const int WriterFinishFrames = 256;

    /// <summary>
    /// WAL frames (32 MB) from which the writer is asked to finish a checkpoint. Its copy is short, but a checkpoint
    /// syncs the WAL and the database file: 11-25 ms measured on the writer, during which every write waits. Asked
    /// after every pass (every ~500 ms), that stall set the single status p99 (22.7 ms at 400k items); once per 32 MB
    /// of WAL it is rare under light writes and still keeps the WAL bounded under heavy ones.
    /// </summary>
    internal const int RestartFrames = 8192;

    /// <summary>
    /// WAL frames (128 MB) from which the writer is asked to finish even when the passes here did not bring the
    /// remainder down to <see cref="WriterFinishFrames"/>: on a loaded machine the checkpointer's passes may not
    /// outrun the writer, and the WAL must stay bounded all the same; the writer's copy is then longer but rare.
    /// </summary>
    internal const int ForceFinishFrames = 4 * RestartFrames;

    private const int MaxPasses = 8;

    private readonly SqliteSession _session;
    private readonly FileStream _database;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _pending;
    private int _finish;
    private int _disposed;

    /// <param name="path">The database file.</param>
    /// <param name="database">The database file opened apart from SQLite, only to flush it to disk. Its owner closes it
    /// after every connection: closing any descriptor of a file drops the process's POSIX locks on it, SQLite's too.</param>
    /// <param name="logger">Where failed checkpoints are reported.</param>
    public SqliteCheckpointer(string path, FileStream database, ILogger logger)
    {
        _session = new SqliteSession(path, readOnly: false);
        _database = database;
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

    /// <summary>
    /// True once after a checkpoint of a WAL of at least <see cref="RestartFrames"/> left only a few frames (at most
    /// <see cref="WriterFinishFrames"/>) uncopied, or of a WAL of <see cref="ForceFinishFrames"/> whatever it left: the writer should then run <c>PRAGMA wal_checkpoint(PASSIVE)</c> on its
    /// own connection before its next transaction.
    /// </summary>
    public bool TakeFinishRequest() => Volatile.Read(ref _finish) == 1 && Interlocked.Exchange(ref _finish, 0) == 1;

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
                    var (frames, left) = CopyCommittedFrames();
                    if ((frames >= RestartFrames && left <= WriterFinishFrames) || frames >= ForceFinishFrames)
                    {
                        Volatile.Write(ref _finish, 1);
                    }
                }
                catch (Exception e) when (e is SqliteException or IOException)
                {
                    // The next commit asks again; meanwhile the WAL only grows. (An IOException is the flush of the
                    // database file failing: the loop must outlive it, or no checkpoint would ever run again.)
                    Log.CheckpointFailed(_logger, (e as SqliteException)?.SqliteErrorCode ?? e.HResult, e);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed: closing the connections checkpoints what is left.
        }
    }

    /// <summary>
    /// Checkpoint passes until the writer appended at most <see cref="WriterFinishFrames"/> frames during the last one;
    /// when the WAL is long enough for a finish, the database file is then flushed to disk and the passes repeated, so
    /// that the writer's finish syncs only its own remainder. Returns the frames in the WAL and how many the last pass
    /// is estimated to have left.
    /// </summary>
    private (long Frames, long Left) CopyCommittedFrames()
    {
        var state = Converge();
        if (state.Frames >= RestartFrames)
        {
            _database.Flush(flushToDisk: true);
            state = Converge();
        }

        return state;
    }

    /// <summary>Passes until one is estimated to leave at most <see cref="WriterFinishFrames"/> frames (or <see cref="MaxPasses"/>).</summary>
    private (long Frames, long Left) Converge()
    {
        (long Frames, long Left) state = (0, 0);
        for (var pass = 0; pass < MaxPasses; pass++)
        {
            using var reader = _session.Command("PRAGMA wal_checkpoint(PASSIVE)").ExecuteReader();
            if (!reader.Read() || reader.GetInt64(1) <= 0)
            {
                return (0, 0);
            }

            // Columns: busy (always 0 for PASSIVE), frames in the WAL when the pass started, frames copied into the
            // database file. A pass reports what it left of the frames it saw, not those appended while it ran: the
            // growth since the last pass's start (the whole WAL after a restart) estimates those.
            var frames = reader.GetInt64(1);
            var appended = pass == 0 || frames < state.Frames ? frames : frames - state.Frames;
            state = (frames, Math.Max(frames - reader.GetInt64(2), appended));
            if (state.Left <= WriterFinishFrames)
            {
                break;
            }
        }

        return state;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "SQLite checkpoint failed with error {ErrorCode}")]
        public static partial void CheckpointFailed(ILogger logger, int errorCode, Exception exception);
    }
}
