using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Tests;

// The orchestrators the runtime tests run. They follow the determinism rules, and the determinism
// scan checks them like any other orchestrator in the repository.
public sealed class SequenceOrchestrator : TaskOrchestrator<string?, List<string>>
{
    public override async Task<List<string>> RunAsync(TaskOrchestrationContext context, string? input)
    {
        var log = context.CreateReplaySafeLogger<SequenceOrchestrator>();
        var results = new List<string>();
        foreach (var city in new[] { "Tokyo", "Seattle", "London" })
        {
            log.LogStep(city);
            results.Add(await context.CallActivityAsync<string>("Hello", city));
        }

        log.LogStep("done");
        return results;
    }
}

public sealed class FanOutOrchestrator : TaskOrchestrator<int, long>
{
    public override async Task<long> RunAsync(TaskOrchestrationContext context, int input)
    {
        var tasks = Enumerable.Range(0, input).Select(i => context.CallActivityAsync<int>("Square", i)).ToList();
        var squares = await Task.WhenAll(tasks);
        return squares.Sum(x => (long)x);
    }
}

public sealed class ParentOrchestrator : TaskOrchestrator<string?, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, string? input)
    {
        var first = await context.CallSubOrchestratorAsync<List<string>>(nameof(SequenceOrchestrator));
        var sum = await context.CallSubOrchestratorAsync<long>(nameof(FanOutOrchestrator), 4, new SubOrchestrationOptions(InstanceId: "child-fan-out"));
        try
        {
            await context.CallSubOrchestratorAsync<string>(nameof(FailingOrchestrator), "child says no");
            return "unexpected";
        }
        catch (TaskFailedException failed) when (failed.IsSubOrchestration)
        {
            return $"{string.Join(",", first)}|{sum}|{failed.Failure.IsCausedBy(nameof(InvalidOperationException))}";
        }
    }
}

public sealed class TimerOrchestrator : TaskOrchestrator<int, double>
{
    public override async Task<double> RunAsync(TaskOrchestrationContext context, int input)
    {
        var start = context.CurrentUtcDateTime;
        await context.CreateTimer(start.AddMinutes(input), CancellationToken.None);
        return (context.CurrentUtcDateTime - start).TotalMinutes;
    }
}

public sealed class ApprovalOrchestrator : TaskOrchestrator<int, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, int input)
    {
        try
        {
            var answer = await context.WaitForExternalEvent<string>("Approval", TimeSpan.FromMinutes(input));
            return $"approved by {answer}";
        }
        catch (TimeoutException)
        {
            return "timed out";
        }
    }
}

public sealed class EventCollectorOrchestrator : TaskOrchestrator<int, List<int>>
{
    public override async Task<List<int>> RunAsync(TaskOrchestrationContext context, int input)
    {
        // An activity first, so that events raised right after start arrive before the first wait.
        await context.CallActivityAsync<string>("Echo", "warm-up");
        var values = new List<int>();
        for (var i = 0; i < input; i++)
        {
            values.Add(await context.WaitForExternalEvent<int>("Add"));
        }

        return values;
    }
}

public sealed class CounterOrchestrator : TaskOrchestrator<int, int>
{
    public override async Task<int> RunAsync(TaskOrchestrationContext context, int input)
    {
        var next = await context.CallActivityAsync<int>("Square", input);
        if (input < 4)
        {
            context.ContinueAsNew(input + 1);
        }

        return next;
    }
}

public sealed class EventCounterOrchestrator : TaskOrchestrator<int, int>
{
    public override async Task<int> RunAsync(TaskOrchestrationContext context, int input)
    {
        var value = await context.WaitForExternalEvent<int>("Add");
        if (value < 0)
        {
            return input;
        }

        context.ContinueAsNew(input + value);
        return 0;
    }
}

public sealed class RetryOrchestrator : TaskOrchestrator<int, int>
{
    public override Task<int> RunAsync(TaskOrchestrationContext context, int input) =>
        context.CallActivityAsync<int>("Flaky", input, new TaskOptions(new RetryPolicy(3, TimeSpan.FromSeconds(10), 2.0, TimeSpan.FromMinutes(1))));
}

public sealed class FailingOrchestrator : TaskOrchestrator<string, string>
{
    public override Task<string> RunAsync(TaskOrchestrationContext context, string input) =>
        context.CallActivityAsync<string>("Throw", input);
}

public sealed class CatchingOrchestrator : TaskOrchestrator<string, FailureReport>
{
    public override async Task<FailureReport> RunAsync(TaskOrchestrationContext context, string input)
    {
        try
        {
            await context.CallActivityAsync<string>("Throw", input);
            return new FailureReport("none", "none", false, -1);
        }
        catch (TaskFailedException failed)
        {
            return new FailureReport(failed.Failure.ErrorType, failed.Failure.ErrorMessage, !string.IsNullOrEmpty(failed.Failure.StackTrace), failed.TaskId);
        }
    }
}

public sealed record FailureReport(string ErrorType, string ErrorMessage, bool HasStack, int TaskId);

public sealed class WaitForeverOrchestrator : TaskOrchestrator<string?, string>
{
    public override Task<string> RunAsync(TaskOrchestrationContext context, string? input) =>
        context.WaitForExternalEvent<string>("never");
}

public sealed class GuidOrchestrator : TaskOrchestrator<string?, List<Guid>>
{
    public override async Task<List<Guid>> RunAsync(TaskOrchestrationContext context, string? input)
    {
        var ids = new List<Guid> { context.NewGuid(), context.NewGuid() };
        await context.CallActivityAsync<string>("Echo", ids[0].ToString());
        ids.Add(context.NewGuid());
        return ids;
    }
}

public sealed class CustomStatusOrchestrator : TaskOrchestrator<string?, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, string? input)
    {
        context.SetCustomStatus(new { stage = "waiting" });
        var value = await context.WaitForExternalEvent<string>("go");
        context.SetCustomStatus(new { stage = "done" });
        return value;
    }
}

public sealed class SendEventOrchestrator : TaskOrchestrator<string, string>
{
    public override Task<string> RunAsync(TaskOrchestrationContext context, string input)
    {
        context.SendEvent(input, "Approval", "a sibling");
        return Task.FromResult("sent");
    }
}

/// <summary>Source-generated log lines for the test orchestrators.</summary>
internal static partial class OrchestratorLog
{
    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 9001, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Step {Step}")]
    public static partial void LogStep(this Microsoft.Extensions.Logging.ILogger logger, string step);
}
