using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Media;

/// <summary>
/// Converts one video item to WEBM and records the outcome on the item (see <see cref="VideoConversions"/>). A
/// corrupt or over-cap video is not an error here: the item records <c>failed</c> with the reason and the
/// orchestration completes with that outcome. Only storage errors are retried.
/// </summary>
public sealed class ConvertVideo : TaskOrchestrator<VideoConversionInput, VideoConversionOutcome>
{
    private static readonly TaskOptions Retry = new(new RetryPolicy(3, TimeSpan.FromSeconds(5), 2.0, TimeSpan.FromMinutes(1)));

    public override async Task<VideoConversionOutcome> RunAsync(TaskOrchestrationContext context, VideoConversionInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        var outcome = await context.CallActivityAsync<VideoConversionOutcome>(nameof(ConvertVideoFile), input, Retry);
        context.SetCustomStatus(outcome);
        return outcome;
    }
}

/// <summary>Downloads, converts, verifies, uploads and records (idempotent: see <see cref="VideoConversions"/>).</summary>
public sealed class ConvertVideoFile(VideoConversions conversions) : TaskActivity<VideoConversionInput, VideoConversionOutcome>
{
    public override Task<VideoConversionOutcome> RunAsync(TaskActivityContext context, VideoConversionInput input) =>
        conversions.ConvertAsync(input, CancellationToken.None);
}
