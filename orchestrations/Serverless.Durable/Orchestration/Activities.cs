namespace Serverless.Durable.Orchestration;

/// <summary>An activity as the runtime sees it. Derive from <see cref="TaskActivity{TInput, TOutput}"/>.</summary>
public interface ITaskActivity
{
    Type InputType { get; }

    Type OutputType { get; }

    Task<object?> RunAsync(TaskActivityContext context, object? input);
}

/// <summary>
/// Base of activities: the steps of an orchestration that do real work (I/O, computation). Plain
/// classes, created from dependency injection for each call, so they take services in their constructor.
/// </summary>
/// <remarks>
/// <b>At least once.</b> An activity may run more than once for one call: a worker can crash after
/// the activity finished but before its result was recorded, or a queue message can be delivered
/// twice. Make activities idempotent, keyed by <see cref="TaskActivityContext.IdempotencyKey"/>
/// (instance id, execution id and task id: stable across retries of the same delivery, different for
/// each call). Only the first recorded result reaches the orchestrator; later ones are dropped.
/// A <see cref="Orchestration.RetryPolicy"/> attempt is a separate call with its own key.
/// Inputs and outputs travel as JSON in queue messages and history; pass large data by reference.
/// </remarks>
public abstract class TaskActivity<TInput, TOutput> : ITaskActivity
{
    Type ITaskActivity.InputType => typeof(TInput);

    Type ITaskActivity.OutputType => typeof(TOutput);

    /// <summary>Does the work. Exceptions are recorded (type, message, stack) and surface in the orchestrator as <see cref="TaskFailedException"/>.</summary>
    public abstract Task<TOutput> RunAsync(TaskActivityContext context, TInput input);

    async Task<object?> ITaskActivity.RunAsync(TaskActivityContext context, object? input) =>
        await RunAsync(context, (TInput)input!).ConfigureAwait(false);
}

/// <summary>What an activity knows about its call.</summary>
/// <param name="Name">The registered activity name.</param>
/// <param name="InstanceId">The calling orchestration instance.</param>
/// <param name="ExecutionId">The calling execution (changes on continue-as-new).</param>
/// <param name="TaskId">The call's task id within that execution.</param>
public sealed record TaskActivityContext(string Name, string InstanceId, string ExecutionId, int TaskId)
{
    /// <summary>Same for every delivery of this call, different for every other call: use it to de-duplicate side effects.</summary>
    public string IdempotencyKey => $"{InstanceId}:{ExecutionId}:{TaskId}";
}

/// <summary>Adapts a delegate to an activity (handy for small activities and tests).</summary>
internal sealed class FuncActivity<TInput, TOutput>(Func<TaskActivityContext, TInput, Task<TOutput>> body) : TaskActivity<TInput, TOutput>
{
    public override Task<TOutput> RunAsync(TaskActivityContext context, TInput input) => body(context, input);
}
