using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Imports;

/// <summary>
/// Imports pre-labels: one <see cref="RunImport"/> activity reads the uploaded file and writes the annotations
/// (retried on failure; a repeated run creates nothing twice, see <see cref="ImportRunner"/>); if it still fails,
/// <see cref="FailImport"/> records why, so the import never stays "running".
/// </summary>
public sealed class ImportLabels : TaskOrchestrator<ImportInput, string>
{
    private static readonly TaskOptions Retry = new(new RetryPolicy(3, TimeSpan.FromSeconds(2), 2.0, TimeSpan.FromMinutes(1)));

    public override async Task<string> RunAsync(TaskOrchestrationContext context, ImportInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        try
        {
            return await context.CallActivityAsync<string?>(nameof(RunImport), input, Retry) ?? "gone";
        }
        catch (TaskFailedException ex)
        {
            await context.CallActivityAsync<bool>(nameof(FailImport), new ImportFailInput(input.ProjectId, input.ImportId, ex.Failure.ErrorMessage), Retry);
            return ImportFormats.Failed;
        }
    }
}

/// <summary>Runs the import; returns its final state (null when the import was deleted).</summary>
public sealed class RunImport(ImportRunner runner) : TaskActivity<ImportInput, string?>
{
    public override Task<string?> RunAsync(TaskActivityContext context, ImportInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return runner.RunAsync(input.ProjectId, input.ImportId, CancellationToken.None);
    }
}

/// <summary>Marks the import failed with the reason.</summary>
public sealed class FailImport(ImportRunner runner) : TaskActivity<ImportFailInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, ImportFailInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        await runner.FailAsync(input.ProjectId, input.ImportId, input.Error, CancellationToken.None);
        return true;
    }
}
