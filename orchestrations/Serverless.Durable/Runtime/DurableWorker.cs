using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Durable.Execution;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;

namespace Serverless.Durable;

/// <summary>Worker settings.</summary>
/// <param name="IdlePollInterval">Longest wait between polls when the backend gives no wake-up (timers, other processes).</param>
/// <param name="AbandonDelay">How long a work item that could not run yet (e.g. events for an instance not started) waits before it is retried.</param>
public sealed record DurableWorkerOptions(TimeSpan? IdlePollInterval = null, TimeSpan? AbandonDelay = null);

/// <summary>
/// Runs orchestration steps and activities from an <see cref="IOrchestrationBackend"/>. Storage-agnostic:
/// the same loop serves the in-memory backend in unit tests and the storage-backed one in the host.
/// Several workers (threads or processes) may share a backend; the backend's leases and ETags keep
/// each instance's steps serial.
/// </summary>
public sealed partial class DurableWorker
{
    private readonly IOrchestrationBackend backend;
    private readonly DurableTaskRegistry registry;
    private readonly IServiceProvider services;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly OrchestrationExecutor executor;
    private readonly TimeSpan idlePoll;
    private readonly TimeSpan abandonDelay;

    public DurableWorker(
        IOrchestrationBackend backend,
        DurableTaskRegistry registry,
        IServiceProvider services,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        DurableWorkerOptions? options = null)
    {
        this.backend = backend ?? throw new ArgumentNullException(nameof(backend));
        this.registry = registry ?? throw new ArgumentNullException(nameof(registry));
        this.services = services ?? throw new ArgumentNullException(nameof(services));
        time = timeProvider ?? TimeProvider.System;
        var loggers = loggerFactory ?? NullLoggerFactory.Instance;
        logger = loggers.CreateLogger<DurableWorker>();
        executor = new OrchestrationExecutor(registry, services, loggers);
        idlePoll = options?.IdlePollInterval ?? TimeSpan.FromMilliseconds(500);
        abandonDelay = options?.AbandonDelay ?? TimeSpan.FromSeconds(1);
    }

    /// <summary>Processes work until none is visible; returns the number of steps and activities run.</summary>
    /// <remarks>For tests and tools: with a manual time source, advance time and call it again to fire timers.</remarks>
    public async Task<int> RunUntilIdleAsync(CancellationToken cancellationToken = default)
    {
        var total = 0;
        while (true)
        {
            var round = 0;
            while (await ProcessNextActivityAsync(cancellationToken))
            {
                round++;
            }

            while (await ProcessNextOrchestrationAsync(cancellationToken))
            {
                round++;
            }

            if (round == 0)
            {
                return total;
            }

            total += round;
        }
    }

    /// <summary>Runs until cancelled, woken by the backend when work arrives and polling otherwise.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (await RunUntilIdleAsync(cancellationToken) == 0)
                {
                    await backend.WaitForWorkAsync(idlePoll, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must survive a failing step; the step's messages stay queued and are retried.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogLoopError(logger, ex);
                await backend.WaitForWorkAsync(idlePoll, cancellationToken);
            }
        }
    }

    /// <summary>Fetches and runs one orchestration step; false when no instance has visible messages.</summary>
    public async Task<bool> ProcessNextOrchestrationAsync(CancellationToken cancellationToken = default)
    {
        var item = await backend.FetchOrchestrationWorkItemAsync(cancellationToken);
        if (item is null)
        {
            return false;
        }

        OrchestrationCommit? commit;
        try
        {
            commit = BuildCommit(item);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug or an unreadable history: give the messages back (the backend backs off and, after its limit,
            // poisons them) instead of holding the instance until the lease expires.
            await backend.AbandonOrchestrationWorkItemAsync(item, abandonDelay, cancellationToken);
            throw;
        }

        if (commit is null)
        {
            await backend.AbandonOrchestrationWorkItemAsync(item, abandonDelay, cancellationToken);
            return true;
        }

        try
        {
            await backend.CommitOrchestrationWorkItemAsync(item, commit, cancellationToken);
        }
        catch (OrchestrationConcurrencyException)
        {
            // Another worker committed this instance since we read it; our messages are still queued
            // (or already consumed by it) and will be re-run against the newer history.
            LogLostRace(logger, item.InstanceId);
        }

        return true;
    }

    /// <summary>Fetches and runs one activity; false when none is visible.</summary>
    public async Task<bool> ProcessNextActivityAsync(CancellationToken cancellationToken = default)
    {
        var item = await backend.FetchActivityWorkItemAsync(cancellationToken);
        if (item is null)
        {
            return false;
        }

        var message = item.Message;
        HistoryEvent outcome;
        await using (var scope = services.CreateAsyncScope())
        {
            var activity = registry.CreateActivity(message.Name, scope.ServiceProvider);
            if (activity is null)
            {
                outcome = new TaskFailed(message.TaskId, FailureDetails.FromException(
                    new InvalidOperationException($"No activity named '{message.Name}' is registered with this worker.")));
            }
            else
            {
                try
                {
                    var context = new TaskActivityContext(message.Name, message.InstanceId, message.ExecutionId, message.TaskId);
                    var input = DurableJson.Deserialize(message.Input, activity.InputType);
                    var result = await activity.RunAsync(context, input);
                    outcome = new TaskCompleted(message.TaskId, DurableJson.Serialize(result));
                }
#pragma warning disable CA1031 // Any activity exception is the activity's result: it is recorded and rethrown in the orchestrator.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    outcome = new TaskFailed(message.TaskId, FailureDetails.FromException(ex));
                }
            }
        }

        outcome = outcome with { Timestamp = time.GetUtcNow() };
        var reply = new OrchestrationMessage($"{message.MessageId}:result", message.InstanceId, message.ExecutionId, outcome);
        try
        {
            await backend.CompleteActivityWorkItemAsync(item, reply, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The result was not recorded: the activity runs again after the backend's back-off.
            await backend.AbandonActivityWorkItemAsync(item, abandonDelay, cancellationToken);
            throw;
        }

        return true;
    }

    private OrchestrationCommit? BuildCommit(OrchestrationWorkItem item)
    {
        var now = time.GetUtcNow();
        var state = item.State;
        var pastStart = item.History.OfType<ExecutionStarted>().FirstOrDefault();
        var currentExecution = pastStart?.ExecutionId ?? state?.ExecutionId;
        var events = new List<HistoryEvent>();
        ExecutionStarted? start = null;
        foreach (var message in item.Messages)
        {
            var stale = message.ExecutionId is not null && currentExecution is not null && message.ExecutionId != currentExecution;
            if (state is { IsTerminal: true } || stale)
            {
                LogDiscarded(logger, item.InstanceId, message.Event.EventType, stale ? "it targets an earlier execution" : $"the instance is {state!.Status}");
                continue;
            }

            if (message.Event is ExecutionStarted s && item.History.Count == 0 && start is null && (currentExecution is null || s.ExecutionId == currentExecution))
            {
                start = s;
                continue;
            }

            events.Add(message.Event);
        }

        if (item.History.Count == 0 && state is not { IsTerminal: true })
        {
            if (start is null)
            {
                // Messages for an instance whose start has not arrived yet: keep them for later.
                return events.Count == 0 ? Unchanged(item) : null;
            }

            events.Insert(0, start);
        }

        if (events.Count == 0)
        {
            return Unchanged(item);
        }

        events.Insert(0, new OrchestratorStarted { Timestamp = now });
        var result = executor.Execute(item.InstanceId, item.History, events, now);
        var started = pastStart ?? start!;
        var newState = (state ?? new OrchestrationState(item.InstanceId, started.Name, started.ExecutionId, OrchestrationRuntimeStatus.Pending, started.Input, null, null, null, now, now, started.Parent)) with
        {
            Name = started.Name,
            ExecutionId = started.ExecutionId,
            Input = started.Input,
            Parent = started.Parent,
            Status = result.Status,
            CustomStatus = result.CustomStatus,
            LastUpdatedAt = now,
        };

        var toInstances = new List<OrchestrationMessage>();
        var toActivities = new List<ActivityMessage>();
        var replaceHistory = false;
        IReadOnlyList<HistoryEvent> newEvents = result.NewEvents;
        foreach (var action in result.Actions)
        {
            switch (action)
            {
                case ScheduleTaskAction a:
                    toActivities.Add(new ActivityMessage($"{item.InstanceId}:{started.ExecutionId}:{a.TaskId}", item.InstanceId, started.ExecutionId, a.TaskId, a.Name, a.Input));
                    break;
                case CreateTimerAction a:
                    toInstances.Add(new OrchestrationMessage(
                        $"{item.InstanceId}:{started.ExecutionId}:{a.TaskId}:timer", item.InstanceId, started.ExecutionId, new TimerFired(a.TaskId, a.FireAt) { Timestamp = a.FireAt }, a.FireAt));
                    break;
                case CreateSubOrchestrationAction a:
                    var child = new ExecutionStarted(a.Name, NewExecutionId(), a.Input, new ParentInstance(item.InstanceId, started.ExecutionId, a.TaskId)) { Timestamp = now };
                    toInstances.Add(new OrchestrationMessage($"{item.InstanceId}:{started.ExecutionId}:{a.TaskId}:start", a.InstanceId, null, child));
                    break;
                case SendEventAction a:
                    toInstances.Add(new OrchestrationMessage(a.EventId, a.TargetInstanceId, null, new EventRaised(a.Name, a.Input, a.EventId) { Timestamp = now }));
                    break;
                case CompleteOrchestrationAction end:
                    newState = ApplyEnd(newState, end);
                    if (end.Outcome == OrchestrationOutcome.ContinuedAsNew)
                    {
                        var next = new ExecutionStarted(started.Name, NewExecutionId(), end.NewInput, started.Parent) { Timestamp = now };
                        newState = newState with { ExecutionId = next.ExecutionId, Input = end.NewInput, Status = OrchestrationRuntimeStatus.Running };
                        replaceHistory = true;
                        newEvents = [];
                        toInstances.Add(new OrchestrationMessage($"{item.InstanceId}:{next.ExecutionId}:start", item.InstanceId, next.ExecutionId, next));
                        toInstances.AddRange(end.CarryoverEvents.Select(e => new OrchestrationMessage(e.EventId, item.InstanceId, null, e)));
                    }
                    else if (started.Parent is { } parent)
                    {
                        HistoryEvent report = end.Outcome == OrchestrationOutcome.Completed
                            ? new SubOrchestrationCompleted(parent.TaskId, end.Result)
                            : new SubOrchestrationFailed(parent.TaskId, end.Failure ?? new FailureDetails("Terminated", $"Sub-orchestration '{item.InstanceId}' was terminated: {end.Result}", null));
                        toInstances.Add(new OrchestrationMessage($"{item.InstanceId}:{started.ExecutionId}:end", parent.InstanceId, parent.ExecutionId, report with { Timestamp = now }));
                    }

                    break;
                default:
                    throw new InvalidOperationException($"Unknown action {action.GetType().Name}.");
            }
        }

        return new OrchestrationCommit(newState, newEvents, replaceHistory, toInstances, toActivities);
    }

    private static OrchestrationState ApplyEnd(OrchestrationState state, CompleteOrchestrationAction end) => end.Outcome switch
    {
        OrchestrationOutcome.Completed => state with { Output = end.Result, Failure = null },
        OrchestrationOutcome.Failed => state with { Output = null, Failure = end.Failure },
        OrchestrationOutcome.Terminated => state with { Output = end.Result },
        _ => state with { Output = null, Failure = null },
    };

    private static OrchestrationCommit? Unchanged(OrchestrationWorkItem item) =>
        item.State is null ? null : new OrchestrationCommit(item.State, [], false, [], []);

    private static string NewExecutionId() => Guid.NewGuid().ToString("N");

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Orchestration instance {InstanceId}: another worker committed first; step discarded")]
    private static partial void LogLostRace(ILogger logger, string instanceId);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Orchestration instance {InstanceId}: discarded {EventType} because {Reason}")]
    private static partial void LogDiscarded(ILogger logger, string instanceId, HistoryEventType eventType, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Error, Message = "Durable worker loop failed; retrying")]
    private static partial void LogLoopError(ILogger logger, Exception exception);
}
