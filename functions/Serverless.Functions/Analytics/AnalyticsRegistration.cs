using Serverless.Durable.Orchestration;
using Serverless.Functions.Activity;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Analytics;

/// <summary>Input of <see cref="AnalyticsRebuildOrchestrator"/>.</summary>
public sealed record AnalyticsRebuildInput(string ProjectId);

/// <summary>
/// Rebuilds a project's analytics from its activity log: one activity that reads the log, aggregates in memory
/// and switches the cube to the new generation (idempotent: a retry writes the same rows and switches again).
/// </summary>
public sealed class AnalyticsRebuildOrchestrator : TaskOrchestrator<AnalyticsRebuildInput, RebuildResult>
{
    private static readonly TaskOptions Retry = new(new RetryPolicy(3, TimeSpan.FromSeconds(2), 2.0, TimeSpan.FromMinutes(1)));

    public override async Task<RebuildResult> RunAsync(TaskOrchestrationContext context, AnalyticsRebuildInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        context.SetCustomStatus(new { phase = "rebuilding" });
        var result = await context.CallActivityAsync<RebuildResult>(nameof(RebuildAnalytics), input, Retry);
        context.SetCustomStatus(new { phase = "done", result.Events, result.Rows });
        return result;
    }
}

/// <summary>The rebuild itself (<see cref="AnalyticsProjector.RebuildAsync"/>).</summary>
public sealed class RebuildAnalytics(AnalyticsProjector projector) : TaskActivity<AnalyticsRebuildInput, RebuildResult>
{
    public override Task<RebuildResult> RunAsync(TaskActivityContext context, AnalyticsRebuildInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return projector.RebuildAsync(input.ProjectId, CancellationToken.None);
    }
}

/// <summary>Registers analytics: the container, projector, enrichment and wake-up hooks, time tracking, the rebuild orchestration.</summary>
public static class AnalyticsRegistration
{
    public static IHostApplicationBuilder AddAnalytics(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<AnalyticsOptions>().BindConfiguration(AnalyticsOptions.Section)
            .Validate(o => o.IdleGapSeconds is > 0 and <= 3600, "Analytics:IdleGapSeconds is 1 to 3600.").ValidateOnStart();
        builder.Services.AddDocumentContainers([.. AnalyticsContainers.All]);
        builder.Services.AddSingleton<AnalyticsProjector>();
        builder.Services.AddSingleton<TimeTracker>();
        builder.Services.AddSingleton<AnalyticsSignal>();
        builder.Services.AddSingleton<IActivityHook, AnalyticsEnricher>();
        builder.Services.AddSingleton<IActivityHook>(sp => sp.GetRequiredService<AnalyticsSignal>());
        builder.Services.AddHostedService<AnalyticsBackgroundProjector>();
        builder.Services.AddSingleton(new ProjectCascadeTarget(AnalyticsContainers.Analytics, AnalyticsContainers.Partition));
        builder.Services.AddDurableTasks(r => r.AddOrchestrator<AnalyticsRebuildOrchestrator>().AddActivity<RebuildAnalytics>());
        return builder;
    }
}
