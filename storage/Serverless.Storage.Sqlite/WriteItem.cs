namespace Serverless.Storage.Sqlite;

/// <summary>A queued write: run once by whichever caller holds the write lock, completed after its commit.</summary>
internal abstract class WriteItem
{
    private const int Queued = 0;
    private const int Claimed = 1;
    private const int Cancelled = 2;

    private int _state;

    /// <summary>The write changes data with at most one statement, so alone it needs no explicit transaction.</summary>
    public bool SingleStatement { get; init; }

    /// <summary>Takes the item for running; false when its caller gave up while it was queued.</summary>
    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Claimed, Queued) == Queued;

    /// <summary>Withdraws the item; false when a runner already claimed it.</summary>
    public bool TryCancel() => Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued;

    public abstract void Run(SqliteSession session);

    public abstract void Succeed();

    public abstract void Fail(Exception error);
}

/// <inheritdoc />
internal sealed class WriteItem<T>(Func<SqliteSession, T> work) : WriteItem
{
    // Continuations run off the thread that commits, so one caller's code never delays the group.
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;

    public Task<T> Task => _completion.Task;

    public override void Run(SqliteSession session) => _result = work(session);

    public override void Succeed() => _completion.TrySetResult(_result!);

    public override void Fail(Exception error) => _completion.TrySetException(error);
}
