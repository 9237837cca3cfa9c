namespace Serverless.Durable.Orchestration;

/// <summary>
/// An orchestrator as the runtime sees it. Derive from <see cref="TaskOrchestrator{TInput, TOutput}"/>
/// rather than implementing this directly; its remarks state the rules orchestrator code must follow.
/// </summary>
public interface ITaskOrchestrator
{
    Type InputType { get; }

    Type OutputType { get; }

    Task<object?> RunAsync(TaskOrchestrationContext context, object? input);
}

/// <summary>
/// Base of every orchestrator: an async workflow whose state is rebuilt by <em>replaying</em> its
/// code against the instance's recorded history each time something happens (an activity returns,
/// a timer fires, an event arrives).
/// </summary>
/// <remarks>
/// <para>
/// <b>Determinism rules.</b> Replay only works if the code makes the same decisions, in the same
/// order, every time it runs over the same history. Orchestrator code must therefore not:
/// </para>
/// <list type="bullet">
/// <item>read the clock (<c>DateTime.UtcNow</c>, <c>DateTime.Now</c>, <c>DateTimeOffset.UtcNow</c>,
/// <c>Stopwatch</c>): use <see cref="TaskOrchestrationContext.CurrentUtcDateTime"/>, which comes from history;</item>
/// <item>create random values (<c>Guid.NewGuid</c>, <c>Random</c>): use <see cref="TaskOrchestrationContext.NewGuid"/>;</item>
/// <item>wait or start threads (<c>Task.Delay</c>, <c>Thread.Sleep</c>, <c>Task.Run</c>,
/// <c>Task.Factory.StartNew</c>, <c>ConfigureAwait(false)</c>): use
/// <see cref="TaskOrchestrationContext.CreateTimer(DateTime, CancellationToken)"/> and await only tasks the context returns;</item>
/// <item>do I/O of any kind (files, HTTP, databases, queues, environment variables, configuration
/// that can change): put it in an activity and call it with <see cref="TaskOrchestrationContext.CallActivityAsync{TResult}"/>;</item>
/// <item>block (<c>.Result</c>, <c>.Wait()</c>) or keep static mutable state.</item>
/// </list>
/// <para>
/// A test in <c>tests/Serverless.Durable.Tests</c> scans every class deriving from this base for these
/// APIs. When replay does diverge, the instance fails with a
/// <see cref="NonDeterministicOrchestrationException"/> naming the history sequence number, what the
/// history recorded and what the code did.
/// </para>
/// <para>
/// <b>Changing orchestrator code safely.</b> Instances in flight replay with the <em>new</em> code.
/// Changing the order, names or number of activity calls, timers, sub-orchestrations or events
/// before the point an in-flight instance has reached breaks them. To change such logic, register
/// the new code under a new name (e.g. <c>ExportV2</c>) and start new instances with it while the
/// old ones drain, or wait until no instance of the old code is running. Changes after every
/// instance's current point, and changes inside activities, are safe.
/// </para>
/// <para>
/// Logging: use <see cref="TaskOrchestrationContext.CreateReplaySafeLogger(string)"/> so that a line
/// is written once, not on every replay. Inputs and outputs travel as JSON (see <see cref="DurableJson"/>);
/// keep them small and pass large data by reference (a blob name), because history stores them.
/// </para>
/// </remarks>
/// <typeparam name="TInput">The input type, deserialized from JSON.</typeparam>
/// <typeparam name="TOutput">The output type, serialized to JSON.</typeparam>
public abstract class TaskOrchestrator<TInput, TOutput> : ITaskOrchestrator
{
    Type ITaskOrchestrator.InputType => typeof(TInput);

    Type ITaskOrchestrator.OutputType => typeof(TOutput);

    /// <summary>The workflow. Follow the rules in this type's remarks.</summary>
    public abstract Task<TOutput> RunAsync(TaskOrchestrationContext context, TInput input);

    async Task<object?> ITaskOrchestrator.RunAsync(TaskOrchestrationContext context, object? input) =>
        await RunAsync(context, (TInput)input!);
}
