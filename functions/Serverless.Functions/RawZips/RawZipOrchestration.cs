using Serverless.Durable.Orchestration;

namespace Serverless.Functions.RawZips;

/// <summary>
/// Builds a dataset's raw-data zip: one <see cref="WriteRawZip"/> activity streams every file into the zip blob
/// and commits it (see <see cref="RawZipBuilder"/> for why one streaming call rather than pages). A refusal (a cap,
/// an unwritable name) fails the orchestration with the reason; nothing was published.
/// </summary>
public sealed class BuildRawZip : TaskOrchestrator<RawZipInput, RawZipResult>
{
    // Transient storage errors are retried; each retry rebuilds from scratch (idempotent).
    private static readonly TaskOptions Retry = new(new RetryPolicy(3, TimeSpan.FromSeconds(5), 2.0, TimeSpan.FromMinutes(1)));

    public override async Task<RawZipResult> RunAsync(TaskOrchestrationContext context, RawZipInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.SetCustomStatus(new RawZipProgress("building"));
        var result = await context.CallActivityAsync<RawZipResult>(nameof(WriteRawZip), input, Retry);
        if (result.Error is { } error)
        {
            context.SetCustomStatus(new RawZipProgress("failed"));
            throw new RawZipRefusedException(error);
        }

        context.SetCustomStatus(new RawZipProgress("done"));
        return result;
    }
}

/// <summary>Streams the dataset's files into the zip blob and commits it (idempotent: a rerun overwrites).</summary>
public sealed class WriteRawZip(RawZipBuilder builder) : TaskActivity<RawZipInput, RawZipResult>
{
    public override Task<RawZipResult> RunAsync(TaskActivityContext context, RawZipInput input) => builder.BuildAsync(input, CancellationToken.None);
}
