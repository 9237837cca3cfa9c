using Serverless.Durable.Orchestration;
using Serverless.Functions.Durable;

namespace Serverless.Functions.Exports;

/// <summary>
/// Exports labels: fix the plan, then one <see cref="WriteExportPage"/> per page of items (each writes one part
/// blob), then <see cref="StageExportParts"/> fanned out over groups of parts (each part becomes a block of the
/// final blob), then <see cref="CommitExport"/> (header, separator and footer blocks, the block list, the export
/// marked done). Pages are read in order because each page continues from the previous page's continuation and
/// numbers its ids after the previous pages' counts. Every <see cref="PagesPerExecution"/> pages it continues as
/// new with its state as input, so history stays small. After a crash the runtime replays it from history; the
/// page in flight runs again and overwrites its part with the same bytes.
/// </summary>
public sealed class ExportLabels : TaskOrchestrator<ExportInput, ExportStatus>
{
    /// <summary>Pages per execution before continue-as-new.</summary>
    public const int PagesPerExecution = 100;

    /// <summary>Parts staged by one activity.</summary>
    public const int PartsPerStage = 16;

    private static readonly TaskOptions Retry = ActivityRetry.Store;

    public override async Task<ExportStatus> RunAsync(TaskOrchestrationContext context, ExportInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        try
        {
            return await ExportAsync(context, input);
        }
        catch (TaskFailedException ex)
        {
            // A step failed after its retries: the export says so instead of staying "running".
            await context.CallActivityAsync<bool>(nameof(FailExport), new ExportFailInput(input.ProjectId, input.ExportId, ex.Failure.ErrorMessage), Retry);
            return Finish(context, new ExportStatus(input.ExportId, ExportFormats.Failed, input.Run?.ItemsScanned ?? 0, input.Run?.ItemsTotal ?? 0));
        }
    }

    private static async Task<ExportStatus> ExportAsync(TaskOrchestrationContext context, ExportInput input)
    {
        var run = input.Run;
        if (run is null)
        {
            context.SetCustomStatus(new ExportStatus(input.ExportId, "planning", 0, 0));
            var prepared = await context.CallActivityAsync<ExportPrepared>(nameof(PrepareExport), input, Retry);
            if (prepared.Gone)
            {
                return Finish(context, new ExportStatus(input.ExportId, "cancelled", 0, 0));
            }

            run = new ExportRun(prepared.Sources, 0, null, 0, prepared.ItemsTotal, 0, 0, 0, 0, 0, 0, [], []);
        }

        context.SetCustomStatus(Status(input, run, "writing"));
        for (var pages = 0; run.SourceIndex < run.Sources; pages++)
        {
            if (pages == PagesPerExecution)
            {
                context.ContinueAsNew(input with { Run = run });
                return Status(input, run, "writing");
            }

            var page = await context.CallActivityAsync<ExportPageResult>(nameof(WriteExportPage), new ExportPageInput(
                input.ProjectId, input.ExportId, run.PageIndex, run.SourceIndex, run.Continuation, run.Items, run.Annotations, run.ItemsScanned), Retry);
            if (page.Gone)
            {
                return Finish(context, Status(input, run, "cancelled"));
            }

            if (page.Error is { } error)
            {
                await context.CallActivityAsync<bool>(nameof(FailExport), new ExportFailInput(input.ProjectId, input.ExportId, error), Retry);
                return Finish(context, Status(input, run, ExportFormats.Failed));
            }

            run = run with
            {
                SourceIndex = page.Next is null ? run.SourceIndex + 1 : run.SourceIndex,
                Continuation = page.Next,
                PageIndex = run.PageIndex + 1,
                ItemsScanned = run.ItemsScanned + page.Scanned,
                Items = run.Items + page.Items,
                Annotations = run.Annotations + page.Annotations,
                SkippedItems = run.SkippedItems + page.SkippedItems,
                SkippedLabels = run.SkippedLabels + page.SkippedLabels,
                Issues = run.Issues + page.Issues,
                ItemParts = page.ItemBytes > 0 ? [.. run.ItemParts, run.PageIndex] : run.ItemParts,
                AnnotationParts = page.AnnotationBytes > 0 ? [.. run.AnnotationParts, run.PageIndex] : run.AnnotationParts,
            };
            context.SetCustomStatus(Status(input, run, "writing"));
        }

        context.SetCustomStatus(Status(input, run, "assembling"));
        var staging = new List<Task<bool>>();
        foreach (var (kind, parts) in new[] { ("i", run.ItemParts), ("a", run.AnnotationParts) })
        {
            staging.AddRange(parts.Chunk(PartsPerStage).Select(group =>
                context.CallActivityAsync<bool>(nameof(StageExportParts), new ExportStageInput(input.ProjectId, input.ExportId, kind, group), Retry)));
        }

        await Task.WhenAll(staging);
        var size = await context.CallActivityAsync<long>(nameof(CommitExport), new ExportCommitInput(input.ProjectId, input.ExportId, run), Retry);
        return Finish(context, Status(input, run, size < 0 ? "cancelled" : ExportFormats.Done));
    }

    private static ExportStatus Status(ExportInput input, ExportRun run, string phase) => new(input.ExportId, phase, run.ItemsScanned, run.ItemsTotal);

    private static ExportStatus Finish(TaskOrchestrationContext context, ExportStatus status)
    {
        context.SetCustomStatus(status);
        return status;
    }
}

/// <summary>Fixes the export's plan; returns the items in scope and the number of sources.</summary>
public sealed class PrepareExport(ExportWriter writer) : TaskActivity<ExportInput, ExportPrepared>
{
    public override async Task<ExportPrepared> RunAsync(TaskActivityContext context, ExportInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return await writer.PrepareAsync(input.ProjectId, input.ExportId, CancellationToken.None) is { } plan
            ? new ExportPrepared(false, plan.ItemsTotal, plan.Sources.Count)
            : new ExportPrepared(true, 0, 0);
    }
}

/// <summary>Writes one page's part(s) (idempotent).</summary>
public sealed class WriteExportPage(ExportWriter writer) : TaskActivity<ExportPageInput, ExportPageResult>
{
    public override Task<ExportPageResult> RunAsync(TaskActivityContext context, ExportPageInput input) => writer.WritePageAsync(input, CancellationToken.None);
}

/// <summary>Stages a group of parts as blocks of the final blob (idempotent).</summary>
public sealed class StageExportParts(ExportWriter writer) : TaskActivity<ExportStageInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, ExportStageInput input)
    {
        await writer.StagePartsAsync(input, CancellationToken.None);
        return true;
    }
}

/// <summary>Commits the final blob and marks the export done; returns its size (-1 when the export was deleted).</summary>
public sealed class CommitExport(ExportWriter writer) : TaskActivity<ExportCommitInput, long>
{
    public override Task<long> RunAsync(TaskActivityContext context, ExportCommitInput input) => writer.CommitAsync(input, CancellationToken.None);
}

/// <summary>Marks the export failed with the reason the data could not be exported.</summary>
public sealed class FailExport(ExportWriter writer) : TaskActivity<ExportFailInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, ExportFailInput input)
    {
        await writer.FailAsync(input, CancellationToken.None);
        return true;
    }
}
