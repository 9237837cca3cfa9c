using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Tests.Storage;

// Orchestrators sized for real time (seconds, not minutes) on the storage backend.
public sealed class SecondsTimerOrchestrator : TaskOrchestrator<double, double>
{
    public override async Task<double> RunAsync(TaskOrchestrationContext context, double input)
    {
        var start = context.CurrentUtcDateTime;
        await context.CreateTimer(start.AddSeconds(input), CancellationToken.None);
        return (context.CurrentUtcDateTime - start).TotalSeconds;
    }
}

public sealed class QuickRetryOrchestrator : TaskOrchestrator<int, int>
{
    public override Task<int> RunAsync(TaskOrchestrationContext context, int input) =>
        context.CallActivityAsync<int>("Flaky", input, new TaskOptions(new RetryPolicy(3, TimeSpan.FromMilliseconds(300), 1.0, TimeSpan.FromSeconds(1))));
}

public sealed class EchoOrchestrator : TaskOrchestrator<string, string>
{
    public override async Task<string> RunAsync(TaskOrchestrationContext context, string input)
    {
        var echoed = await context.CallActivityAsync<string>("Echo", input);
        return echoed + "|" + input.Length;
    }
}

public sealed class WhereOrchestrator : TaskOrchestrator<int, List<string>>
{
    public override async Task<List<string>> RunAsync(TaskOrchestrationContext context, int input)
    {
        var places = new List<string>();
        for (var i = 0; i < input; i++)
        {
            places.Add(await context.CallActivityAsync<string>("Where", i));
        }

        return places;
    }
}

public sealed class SlowOrchestrator : TaskOrchestrator<int, int>
{
    public override Task<int> RunAsync(TaskOrchestrationContext context, int input) =>
        context.CallActivityAsync<int>("Slow", input);
}

/// <summary>Which simulated process (worker) ran an activity.</summary>
public sealed record ProcessTag(string Name);

/// <summary>Returns the name of the process that ran it, after a short pause so that work spreads.</summary>
public sealed class WhereActivity(ProcessTag tag) : TaskActivity<int, string>
{
    public override async Task<string> RunAsync(TaskActivityContext context, int input)
    {
        await Task.Delay(20);
        return tag.Name;
    }
}
