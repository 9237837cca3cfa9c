using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Execution;

/// <summary>
/// Runs one step of an orchestration: replays its code over the recorded history (with
/// <see cref="TaskOrchestrationContext.IsReplaying"/> true), then feeds it the new events, and
/// returns the events to append and the actions to send. Pure with respect to storage: the caller
/// loads and commits.
/// </summary>
public sealed class OrchestrationExecutor(DurableTaskRegistry registry, IServiceProvider services, ILoggerFactory? loggerFactory = null)
{
    private readonly ILoggerFactory loggers = loggerFactory ?? NullLoggerFactory.Instance;

    /// <summary>
    /// Executes one step. <paramref name="pastEvents"/> is the committed history of the current
    /// execution (starting with <see cref="ExecutionStarted"/>, or empty when
    /// <paramref name="newEvents"/> starts it). <paramref name="now"/> stamps generated events.
    /// Synchronous on purpose: orchestrator code runs to quiescence on this thread.
    /// </summary>
    public OrchestrationExecutionResult Execute(string instanceId, IReadOnlyList<HistoryEvent> pastEvents, IReadOnlyList<HistoryEvent> newEvents, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        ArgumentNullException.ThrowIfNull(pastEvents);
        ArgumentNullException.ThrowIfNull(newEvents);
        var previous = SynchronizationContext.Current;
        var sync = new OrchestrationSynchronizationContext();
        SynchronizationContext.SetSynchronizationContext(sync);
        try
        {
            var run = new OrchestrationRun(instanceId, registry, services, loggers, sync);
            return run.Execute(pastEvents, newEvents, now);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }
}

/// <summary>An external-event wait that can be withdrawn (on timeout or cancellation).</summary>
internal sealed class EventWait(Task<EventRaised> task, Action cancel)
{
    public Task<EventRaised> Task { get; } = task;

    public void Cancel() => cancel();
}

/// <summary>The state of one executor step. Lives for one <see cref="OrchestrationExecutor.Execute"/> call.</summary>
internal sealed partial class OrchestrationRun(
    string instanceId,
    DurableTaskRegistry registry,
    IServiceProvider services,
    ILoggerFactory loggerFactory,
    OrchestrationSynchronizationContext sync)
{
    private readonly ILogger logger = loggerFactory.CreateLogger<OrchestrationExecutor>();

    // Actions the code created that history has not (yet) confirmed, in creation (= task id) order.
    private readonly SortedDictionary<int, OrchestratorAction> pendingActions = [];
    private readonly Dictionary<int, TaskCompletionSource<HistoryEvent>> openTasks = [];
    private readonly HashSet<int> completedTaskIds = [];
    private readonly HashSet<string> seenEventIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<EventRaised>> bufferedEvents = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, LinkedList<TaskCompletionSource<EventRaised>>> eventWaiters = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<HistoryEvent> deferredWhileSuspended = [];

    private TaskOrchestrationContext? context;
    private Task<object?>? orchestratorTask;
    private string name = "(unknown)";
    private int nextTaskId;
    private bool started;
    private bool suspended;
    private CompleteOrchestrationAction? completion;
    private (string? Input, bool Preserve)? continueAsNew;

    public bool IsReplaying { get; private set; }

    public DateTimeOffset CurrentUtc { get; private set; }

    public string? CustomStatus { get; set; }

    public ILoggerFactory LoggerFactory => loggerFactory;

    public OrchestrationExecutionResult Execute(IReadOnlyList<HistoryEvent> pastEvents, IReadOnlyList<HistoryEvent> newEvents, DateTimeOffset now)
    {
        var accepted = new List<HistoryEvent>();
        var dropped = new List<HistoryEvent>();
        var carryover = new List<EventRaised>();
        try
        {
            foreach (var past in pastEvents)
            {
                ProcessPast(past);
            }

            foreach (var incoming in newEvents)
            {
                if (completion is not null)
                {
                    if (incoming is EventRaised raised && continueAsNew is { Preserve: true } && seenEventIds.Add(raised.EventId))
                    {
                        carryover.Add(raised);
                    }
                    else
                    {
                        dropped.Add(incoming);
                    }

                    continue;
                }

                if (ProcessNew(incoming))
                {
                    accepted.Add(incoming);
                }
                else
                {
                    dropped.Add(incoming);
                }
            }

            if (completion is null && sync.ForeignPostSeen)
            {
                Fail(new InvalidOperationException(
                    $"Orchestration '{name}' awaited a task that its context did not create (e.g. Task.Delay, Task.Run or I/O); " +
                    "only tasks returned by TaskOrchestrationContext may be awaited (see TaskOrchestrator remarks)."));
            }
        }
        catch (NonDeterministicOrchestrationException nondeterminism)
        {
            LogNonDeterminism(logger, instanceId, nondeterminism.Message);
            completion = new CompleteOrchestrationAction(OrchestrationOutcome.Failed, null, FailureDetails.FromException(nondeterminism), null, []);
        }

        foreach (var item in dropped)
        {
            LogDropped(logger, instanceId, item.EventType, completion is null ? "duplicate or unknown" : "instance already ended");
        }

        return BuildResult(pastEvents.Count, accepted, dropped, carryover, now);
    }

    public (int TaskId, Task<HistoryEvent> Task) Schedule(Func<int, OrchestratorAction> create)
    {
        var taskId = nextTaskId++;
        var action = create(taskId);
        pendingActions.Add(taskId, action);
        if (action is SendEventAction)
        {
            return (taskId, Task.FromResult<HistoryEvent>(new OrchestratorStarted()));
        }

        var source = new TaskCompletionSource<HistoryEvent>();
        openTasks.Add(taskId, source);
        return (taskId, source.Task);
    }

    public void CancelOpenTask(int taskId)
    {
        if (openTasks.TryGetValue(taskId, out var source))
        {
            source.TrySetCanceled();
        }
    }

    public EventWait WaitForEvent(string eventName)
    {
        if (bufferedEvents.TryGetValue(eventName, out var buffered) && buffered.TryDequeue(out var first))
        {
            return new EventWait(Task.FromResult(first), () => { });
        }

        var source = new TaskCompletionSource<EventRaised>();
        if (!eventWaiters.TryGetValue(eventName, out var waiters))
        {
            waiters = new LinkedList<TaskCompletionSource<EventRaised>>();
            eventWaiters.Add(eventName, waiters);
        }

        var node = waiters.AddLast(source);
        return new EventWait(source.Task, () =>
        {
            if (node.List is not null)
            {
                waiters.Remove(node);
            }

            source.TrySetCanceled();
        });
    }

    public void RequestContinueAsNew(string? input, bool preserveUnprocessedEvents) => continueAsNew = (input, preserveUnprocessedEvents);

    private void ProcessPast(HistoryEvent past)
    {
        IsReplaying = true;
        if (completion is not null)
        {
            // The code ended during replay; history going on to schedule more work means it diverged.
            if (Describe(past) is { } expected)
            {
                throw new NonDeterministicOrchestrationException(name, instanceId, past.SequenceNumber, expected, "had already completed");
            }

            return;
        }

        switch (past)
        {
            case ExecutionStarted started when this.started:
                throw new NonDeterministicOrchestrationException(name, instanceId, past.SequenceNumber, "no second ExecutionStarted", "found a corrupt history");
            case TaskScheduled or TimerCreated or SubOrchestrationCreated or EventSent:
                MatchScheduled(past);
                break;
            case ExecutionCompleted or ExecutionFailed or ContinuedAsNew:
                break;
            default:
                if (!Apply(past))
                {
                    throw new NonDeterministicOrchestrationException(
                        name, instanceId, past.SequenceNumber, $"{past.EventType} to match a task the code started", "never started that task");
                }

                break;
        }
    }

    private bool ProcessNew(HistoryEvent incoming)
    {
        IsReplaying = false;
        if (incoming is TaskScheduled or TimerCreated or SubOrchestrationCreated or EventSent or ExecutionCompleted or ExecutionFailed or ContinuedAsNew)
        {
            // Only the executor creates these; an incoming one is a stray.
            return false;
        }

        if (incoming is ExecutionStarted && started)
        {
            return false;
        }

        if (!IsAcceptable(incoming))
        {
            return false;
        }

        return Apply(incoming);
    }

    private bool IsAcceptable(HistoryEvent incoming) => incoming switch
    {
        TaskCompleted e => IsOpen(e.ScheduledId),
        TaskFailed e => IsOpen(e.ScheduledId),
        TimerFired e => IsOpen(e.ScheduledId),
        SubOrchestrationCompleted e => IsOpen(e.ScheduledId),
        SubOrchestrationFailed e => IsOpen(e.ScheduledId),
        EventRaised e => !seenEventIds.Contains(e.EventId),
        ExecutionSuspended => !suspended,
        ExecutionResumed => suspended,
        _ => true,
    };

    private bool IsOpen(int taskId) => openTasks.ContainsKey(taskId) && !completedTaskIds.Contains(taskId) && !pendingActions.ContainsKey(taskId);

    /// <summary>Applies an event to the running code and lets the code run until it waits again.</summary>
    private bool Apply(HistoryEvent e)
    {
        switch (e)
        {
            case ExecutionStarted s:
                Start(s);
                break;
            case OrchestratorStarted:
                CurrentUtc = e.Timestamp;
                return true;
            case ExecutionTerminated terminated:
                completion = new CompleteOrchestrationAction(OrchestrationOutcome.Terminated, DurableJson.Serialize(terminated.Reason), null, null, []);
                return true;
            case ExecutionSuspended:
                suspended = true;
                return true;
            case ExecutionResumed:
                suspended = false;
                foreach (var deferred in deferredWhileSuspended.ToList())
                {
                    deferredWhileSuspended.Remove(deferred);
                    Deliver(deferred);
                    Pump();
                    if (completion is not null)
                    {
                        break;
                    }
                }

                return true;
            default:
                if (e is EventRaised raised)
                {
                    seenEventIds.Add(raised.EventId);
                }
                else if (CompletedTaskId(e) is { } taskId)
                {
                    if (!openTasks.ContainsKey(taskId) || !completedTaskIds.Add(taskId))
                    {
                        return false;
                    }
                }
                else
                {
                    return true;
                }

                if (suspended)
                {
                    deferredWhileSuspended.Add(e);
                    return true;
                }

                Deliver(e);
                break;
        }

        Pump();
        return true;
    }

    private void Start(ExecutionStarted s)
    {
        started = true;
        name = s.Name;
        if (CurrentUtc == default)
        {
            CurrentUtc = s.Timestamp;
        }
        context = new TaskOrchestrationContext(this, s.Name, instanceId, s.ExecutionId, s.Parent);
        var orchestrator = registry.CreateOrchestrator(s.Name, services);
        if (orchestrator is null)
        {
            Fail(new InvalidOperationException($"No orchestrator named '{s.Name}' is registered with this worker."));
            return;
        }

        sync.Post(
            _ =>
            {
                try
                {
                    var input = DurableJson.Deserialize(s.Input, orchestrator.InputType);
                    orchestratorTask = orchestrator.RunAsync(context, input);
                }
#pragma warning disable CA1031 // Whatever the orchestrator's first synchronous part throws fails the instance, with details.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    orchestratorTask = Task.FromException<object?>(ex);
                }
            },
            null);
    }

    private void Deliver(HistoryEvent e)
    {
        if (e is EventRaised raised)
        {
            if (eventWaiters.TryGetValue(raised.Name, out var waiters) && waiters.First is { } first)
            {
                waiters.RemoveFirst();
                first.Value.TrySetResult(raised);
            }
            else
            {
                if (!bufferedEvents.TryGetValue(raised.Name, out var queue))
                {
                    queue = new Queue<EventRaised>();
                    bufferedEvents.Add(raised.Name, queue);
                }

                queue.Enqueue(raised);
            }

            return;
        }

        openTasks[CompletedTaskId(e)!.Value].TrySetResult(e);
    }

    private void Pump()
    {
        sync.RunPending();
        if (completion is null && orchestratorTask is { IsCompleted: true } done)
        {
            Finish(done);
        }
    }

    private void Finish(Task<object?> done)
    {
        if (done.IsFaulted)
        {
            var error = done.Exception!.InnerExceptions.Count == 1 ? done.Exception.InnerException! : done.Exception;
            Fail(error);
        }
        else if (done.IsCanceled)
        {
            Fail(new TaskCanceledException($"Orchestration '{name}' was cancelled by its own code."));
        }
        else if (continueAsNew is { } next)
        {
            var carry = next.Preserve
                ? bufferedEvents.Values.SelectMany(q => q).Concat(deferredWhileSuspended.OfType<EventRaised>()).ToList()
                : [];
            completion = new CompleteOrchestrationAction(OrchestrationOutcome.ContinuedAsNew, null, null, next.Input, carry);
        }
        else
        {
            completion = new CompleteOrchestrationAction(OrchestrationOutcome.Completed, DurableJson.Serialize(done.Result), null, null, []);
        }
    }

    private void Fail(Exception error) =>
        completion = new CompleteOrchestrationAction(OrchestrationOutcome.Failed, null, FailureDetails.FromException(error), null, []);

    private void MatchScheduled(HistoryEvent past)
    {
        var taskId = past switch
        {
            TaskScheduled e => e.TaskId,
            TimerCreated e => e.TaskId,
            SubOrchestrationCreated e => e.TaskId,
            EventSent e => e.TaskId,
            _ => throw new ArgumentOutOfRangeException(nameof(past)),
        };
        var expected = Describe(past)!;
        if (!pendingActions.Remove(taskId, out var action))
        {
            var did = pendingActions.Count == 0
                ? "scheduled nothing more at this point"
                : $"next scheduled {Describe(pendingActions.First().Value)}";
            throw new NonDeterministicOrchestrationException(name, instanceId, past.SequenceNumber, expected, did);
        }

        var matches = (past, action) switch
        {
            (TaskScheduled e, ScheduleTaskAction a) => string.Equals(e.Name, a.Name, StringComparison.Ordinal),
            (TimerCreated, CreateTimerAction) => true,
            (SubOrchestrationCreated e, CreateSubOrchestrationAction a) => string.Equals(e.Name, a.Name, StringComparison.Ordinal),
            (EventSent e, SendEventAction a) => string.Equals(e.Name, a.Name, StringComparison.Ordinal) && string.Equals(e.TargetInstanceId, a.TargetInstanceId, StringComparison.Ordinal),
            _ => false,
        };
        if (!matches)
        {
            throw new NonDeterministicOrchestrationException(name, instanceId, past.SequenceNumber, expected, $"scheduled {Describe(action)}");
        }
    }

    private OrchestrationExecutionResult BuildResult(int pastCount, List<HistoryEvent> accepted, List<HistoryEvent> dropped, List<EventRaised> carryover, DateTimeOffset now)
    {
        var newEvents = new List<HistoryEvent>(accepted.Count + pendingActions.Count + 1);
        newEvents.AddRange(accepted);
        var actions = new List<OrchestratorAction>();
        var failedOrTerminated = completion?.Outcome is OrchestrationOutcome.Failed or OrchestrationOutcome.Terminated;
        if (!failedOrTerminated)
        {
            foreach (var action in pendingActions.Values)
            {
                actions.Add(action);
                newEvents.Add(action switch
                {
                    ScheduleTaskAction a => new TaskScheduled(a.TaskId, a.Name, a.Input),
                    CreateTimerAction a => new TimerCreated(a.TaskId, a.FireAt),
                    CreateSubOrchestrationAction a => new SubOrchestrationCreated(a.TaskId, a.Name, a.InstanceId, a.Input),
                    SendEventAction a => new EventSent(a.TaskId, a.TargetInstanceId, a.Name, a.Input),
                    _ => throw new InvalidOperationException($"Unknown action {action.GetType().Name}."),
                });
            }
        }

        var status = suspended ? OrchestrationRuntimeStatus.Suspended : OrchestrationRuntimeStatus.Running;
        if (completion is not null)
        {
            if (completion.Outcome == OrchestrationOutcome.ContinuedAsNew)
            {
                completion = completion with { CarryoverEvents = [.. completion.CarryoverEvents, .. carryover] };
            }

            actions.Add(completion);
            status = completion.Outcome switch
            {
                OrchestrationOutcome.Completed => OrchestrationRuntimeStatus.Completed,
                OrchestrationOutcome.Failed => OrchestrationRuntimeStatus.Failed,
                OrchestrationOutcome.Terminated => OrchestrationRuntimeStatus.Terminated,
                _ => OrchestrationRuntimeStatus.Running,
            };
            switch (completion.Outcome)
            {
                case OrchestrationOutcome.Completed:
                    newEvents.Add(new ExecutionCompleted(completion.Result));
                    break;
                case OrchestrationOutcome.Failed:
                    newEvents.Add(new ExecutionFailed(completion.Failure!));
                    break;
                case OrchestrationOutcome.ContinuedAsNew:
                    newEvents.Add(new ContinuedAsNew(completion.NewInput));
                    break;
                default:
                    break;
            }
        }

        for (var i = 0; i < newEvents.Count; i++)
        {
            var e = newEvents[i];
            newEvents[i] = e with
            {
                SequenceNumber = pastCount + i,
                Timestamp = e.Timestamp == default ? now : e.Timestamp,
            };
        }

        return new OrchestrationExecutionResult(newEvents, actions, status, CustomStatus, dropped);
    }

    private static int? CompletedTaskId(HistoryEvent e) => e switch
    {
        TaskCompleted c => c.ScheduledId,
        TaskFailed c => c.ScheduledId,
        TimerFired c => c.ScheduledId,
        SubOrchestrationCompleted c => c.ScheduledId,
        SubOrchestrationFailed c => c.ScheduledId,
        _ => null,
    };

    private static string? Describe(HistoryEvent e) => e switch
    {
        TaskScheduled s => $"TaskScheduled of activity '{s.Name}' (task id {s.TaskId})",
        TimerCreated s => $"TimerCreated (task id {s.TaskId})",
        SubOrchestrationCreated s => $"SubOrchestrationCreated of orchestrator '{s.Name}' (task id {s.TaskId})",
        EventSent s => $"EventSent '{s.Name}' to '{s.TargetInstanceId}' (task id {s.TaskId})",
        _ => null,
    };

    private static string Describe(OrchestratorAction action) => action switch
    {
        ScheduleTaskAction a => $"activity '{a.Name}' (task id {a.TaskId})",
        CreateTimerAction a => $"a timer (task id {a.TaskId})",
        CreateSubOrchestrationAction a => $"sub-orchestration '{a.Name}' (task id {a.TaskId})",
        SendEventAction a => $"event '{a.Name}' to '{a.TargetInstanceId}' (task id {a.TaskId})",
        _ => action.GetType().Name,
    };

    [LoggerMessage(EventId = 2001, Level = LogLevel.Error, Message = "Orchestration instance {InstanceId} failed its replay: {Detail}")]
    private static partial void LogNonDeterminism(ILogger logger, string instanceId, string detail);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Orchestration instance {InstanceId} dropped an incoming {EventType} ({Reason})")]
    private static partial void LogDropped(ILogger logger, string instanceId, HistoryEventType eventType, string reason);
}
