namespace Serverless.Durable.Execution;

/// <summary>
/// Runs every continuation of orchestrator code on the executor's thread, one at a time, in the order
/// they were posted. That is what makes a replay take the same path as the original run: no thread
/// pool, no races between branches of a fan-out.
/// </summary>
internal sealed class OrchestrationSynchronizationContext : SynchronizationContext
{
    private readonly Queue<(SendOrPostCallback Callback, object? State)> queue = new();
    private readonly Lock gate = new();
    private readonly int ownerThreadId = Environment.CurrentManagedThreadId;

    /// <summary>A continuation arrived from another thread: the code awaited something the context did not create.</summary>
    public bool ForeignPostSeen { get; private set; }

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (gate)
        {
            if (Environment.CurrentManagedThreadId != ownerThreadId)
            {
                ForeignPostSeen = true;
            }

            queue.Enqueue((d, state));
        }
    }

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Orchestrator code cannot block on another thread.");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs queued continuations until none is left.</summary>
    public void RunPending()
    {
        while (true)
        {
            (SendOrPostCallback Callback, object? State) next;
            lock (gate)
            {
                if (!queue.TryDequeue(out next))
                {
                    return;
                }
            }

            next.Callback(next.State);
        }
    }
}
