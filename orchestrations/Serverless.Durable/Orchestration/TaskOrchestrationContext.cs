using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Serverless.Durable.Execution;
using Serverless.Durable.History;

namespace Serverless.Durable.Orchestration;

/// <summary>
/// What orchestrator code may use to act on the world and read time. Every method records a
/// decision in history (or reads one from it on replay); see <see cref="TaskOrchestrator{TInput, TOutput}"/>
/// for the rules. Not thread-safe: orchestrator code runs on one thread by design.
/// </summary>
public sealed class TaskOrchestrationContext
{
    private readonly OrchestrationRun run;
    private int guidCounter;

    internal TaskOrchestrationContext(OrchestrationRun run, string name, string instanceId, string executionId, ParentInstance? parent)
    {
        this.run = run;
        Name = name;
        InstanceId = instanceId;
        ExecutionId = executionId;
        Parent = parent;
    }

    public string Name { get; }

    public string InstanceId { get; }

    /// <summary>Changes on each continue-as-new.</summary>
    public string ExecutionId { get; }

    /// <summary>The orchestration that started this one as a sub-orchestration, if any.</summary>
    public ParentInstance? Parent { get; }

    /// <summary>True while the code re-runs over recorded history; false once it reaches new events.</summary>
    public bool IsReplaying => run.IsReplaying;

    /// <summary>The time of the current step, taken from history (UTC). Use it instead of <c>DateTime.UtcNow</c>.</summary>
    public DateTime CurrentUtcDateTime => run.CurrentUtc.UtcDateTime;

    /// <summary>
    /// Calls an activity and returns its result. The activity runs at least once (see
    /// <see cref="TaskActivity{TInput, TOutput}"/>); with a retry policy, failed attempts are
    /// retried after durable timers. Inputs and outputs are stored in history: pass large data by reference.
    /// </summary>
    /// <exception cref="TaskFailedException">The last attempt failed; <see cref="TaskFailedException.Failure"/> holds the activity's exception.</exception>
    public async Task<TResult> CallActivityAsync<TResult>(string name, object? input = null, TaskOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var retry = options?.Retry;
        retry?.Validate();
        var serialized = DurableJson.Serialize(input);
        for (var attempt = 1; ; attempt++)
        {
            var (taskId, task) = run.Schedule(id => new ScheduleTaskAction(id, name, serialized));
            var outcome = await task;
            if (outcome is TaskCompleted completed)
            {
                return DurableJson.Deserialize<TResult>(completed.Result)!;
            }

            var failure = ((TaskFailed)outcome).Failure;
            if (!ShouldRetry(retry, attempt, failure))
            {
                throw new TaskFailedException(name, taskId, failure);
            }

            await CreateTimer(CurrentUtcDateTime + retry!.DelayBefore(attempt + 1), CancellationToken.None);
        }
    }

    /// <summary>Calls an activity that returns nothing.</summary>
    public Task CallActivityAsync(string name, object? input = null, TaskOptions? options = null) =>
        CallActivityAsync<object?>(name, input, options);

    /// <summary>Runs another orchestrator as a child and returns its output.</summary>
    /// <exception cref="TaskFailedException">The child failed; <see cref="TaskFailedException.Failure"/> holds its failure.</exception>
    public async Task<TResult> CallSubOrchestratorAsync<TResult>(string name, object? input = null, SubOrchestrationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var retry = options?.Retry;
        retry?.Validate();
        var serialized = DurableJson.Serialize(input);
        for (var attempt = 1; ; attempt++)
        {
            var (taskId, task) = run.Schedule(id => new CreateSubOrchestrationAction(id, name, ChildInstanceId(options?.InstanceId, id, attempt), serialized));
            var outcome = await task;
            if (outcome is SubOrchestrationCompleted completed)
            {
                return DurableJson.Deserialize<TResult>(completed.Result)!;
            }

            var failure = ((SubOrchestrationFailed)outcome).Failure;
            if (!ShouldRetry(retry, attempt, failure))
            {
                throw new TaskFailedException(name, taskId, failure, isSubOrchestration: true);
            }

            await CreateTimer(CurrentUtcDateTime + retry!.DelayBefore(attempt + 1), CancellationToken.None);
        }
    }

    /// <summary>Runs another orchestrator as a child; completes when it does.</summary>
    public Task CallSubOrchestratorAsync(string name, object? input = null, SubOrchestrationOptions? options = null) =>
        CallSubOrchestratorAsync<object?>(name, input, options);

    /// <summary>
    /// A durable timer: completes at <paramref name="fireAt"/> (UTC) even across restarts. Cancelling
    /// the token completes the task as cancelled; the timer message still arrives later and is ignored.
    /// </summary>
    public Task CreateTimer(DateTime fireAt, CancellationToken cancellationToken)
    {
        var at = new DateTimeOffset(fireAt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(fireAt, DateTimeKind.Utc) : fireAt.ToUniversalTime());
        var (timerId, task) = run.Schedule(id => new CreateTimerAction(id, at));
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() => run.CancelOpenTask(timerId));
        }

        return task;
    }

    /// <summary>A durable timer that fires <paramref name="delay"/> after <see cref="CurrentUtcDateTime"/>.</summary>
    public Task CreateTimer(TimeSpan delay, CancellationToken cancellationToken) =>
        CreateTimer(CurrentUtcDateTime + delay, cancellationToken);

    /// <summary>
    /// Waits for an external event named <paramref name="name"/> (case-insensitive). Events raised
    /// before the wait are buffered and delivered in the order they arrived, one per wait.
    /// </summary>
    public async Task<T> WaitForExternalEvent<T>(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var wait = run.WaitForEvent(name);
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(wait.Cancel);
        }

        var raised = await wait.Task;
        return DurableJson.Deserialize<T>(raised.Input)!;
    }

    /// <summary>Waits for an external event, up to <paramref name="timeout"/> measured by a durable timer.</summary>
    /// <exception cref="TimeoutException">No event arrived in time.</exception>
    public async Task<T> WaitForExternalEvent<T>(string name, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);

        // No CancellationTokenSource here: its async cancel runs callbacks on the thread pool, and
        // everything an orchestrator does must stay on the executor's thread.
        var wait = run.WaitForEvent(name);
        if (!wait.Task.IsCompleted)
        {
            var at = new DateTimeOffset(CurrentUtcDateTime + timeout);
            var (timerId, timer) = run.Schedule(id => new CreateTimerAction(id, at));
            var winner = await Task.WhenAny(wait.Task, timer);
            if (winner != wait.Task)
            {
                wait.Cancel();
                throw new TimeoutException($"Orchestration '{Name}' (instance '{InstanceId}') waited {timeout} for event '{name}' and none arrived.");
            }

            run.CancelOpenTask(timerId);
        }

        var raised = await wait.Task;
        return DurableJson.Deserialize<T>(raised.Input)!;
    }

    /// <summary>Raises an event on another instance (delivered at least once; duplicates are dropped by the receiver).</summary>
    public void SendEvent(string instanceId, string eventName, object? eventData = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(instanceId);
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        var data = DurableJson.Serialize(eventData);
        run.Schedule(id => new SendEventAction(id, instanceId, eventName, data, $"{InstanceId}:{ExecutionId}:{id}"));
    }

    /// <summary>
    /// Ends this execution when the orchestrator returns and starts a fresh one with <paramref name="newInput"/>
    /// and an empty history (how eternal orchestrations stay small). With <paramref name="preserveUnprocessedEvents"/>,
    /// external events not consumed yet are delivered to the new execution, in order.
    /// </summary>
    public void ContinueAsNew(object? newInput = null, bool preserveUnprocessedEvents = true) =>
        run.RequestContinueAsNew(DurableJson.Serialize(newInput), preserveUnprocessedEvents);

    /// <summary>Sets the status clients see next to the runtime status (JSON-serialized).</summary>
    public void SetCustomStatus(object? customStatus) => run.CustomStatus = DurableJson.Serialize(customStatus);

    /// <summary>
    /// A GUID that is the same on every replay: name-based (SHA-256, RFC 9562 version 8) from the
    /// instance id, the execution id and a counter. Use instead of <c>Guid.NewGuid</c>.
    /// </summary>
    public Guid NewGuid()
    {
        var name = $"{InstanceId}_{ExecutionId}_{guidCounter++}";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>A logger that writes only when not replaying.</summary>
    public ILogger CreateReplaySafeLogger(string categoryName) => new ReplaySafeLogger(this, run.LoggerFactory.CreateLogger(categoryName));

    /// <summary>A logger that writes only when not replaying.</summary>
    public ILogger CreateReplaySafeLogger<T>() => CreateReplaySafeLogger(typeof(T).FullName ?? typeof(T).Name);

    private static bool ShouldRetry(RetryPolicy? retry, int attempt, FailureDetails failure) =>
        retry is not null && attempt < retry.MaxNumberOfAttempts && (retry.Handle?.Invoke(failure) ?? true);

    private string ChildInstanceId(string? requested, int taskId, int attempt) =>
        requested is null ? $"{InstanceId}:{taskId}" : attempt == 1 ? requested : $"{requested}:attempt{attempt}";
}
