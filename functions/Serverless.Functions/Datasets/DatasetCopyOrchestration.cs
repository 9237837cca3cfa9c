using Serverless.Durable.Orchestration;
using Serverless.Functions.Durable;

namespace Serverless.Functions.Datasets;

/// <summary>
/// Copies the items of one or more source datasets (optionally filtered) into a new dataset: create the target,
/// count what matches, then one <see cref="CopyItemsPage"/> activity per page of each source, reporting progress
/// as custom status. Every <see cref="PagesPerExecution"/> pages it continues as new with its progress as input,
/// so history stays small however many items there are. After a crash the runtime replays it from history and the
/// page in flight runs again (idempotent: see <see cref="DatasetCopier"/>).
/// </summary>
public abstract class DatasetCopyOrchestrator : TaskOrchestrator<DatasetCopyInput, DatasetCopyProgress>
{
    /// <summary>Pages per execution before continue-as-new.</summary>
    public const int PagesPerExecution = 50;

    private static readonly TaskOptions Retry = ActivityRetry.Store;

    public override async Task<DatasetCopyProgress> RunAsync(TaskOrchestrationContext context, DatasetCopyInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var progress = input.Progress;
        if (progress is null)
        {
            progress = new DatasetCopyProgress(input.TargetDatasetId, "counting", null, 0, 0, 0, 0, null);
            context.SetCustomStatus(progress);
            var created = await context.CallActivityAsync<bool>(nameof(CreateCopyTarget),
                new CopyTargetInput(input.ProjectId, input.TargetDatasetId, input.TargetName, input.RequestedBy, input.Sources), Retry);
            if (!created)
            {
                return Finish(context, progress with { Phase = "cancelled" });
            }

            var total = await context.CallActivityAsync<long>(nameof(CountCopySource), new CopyCountInput(input.ProjectId, input.Sources, input.FilterJson, input.SourceProjectId), Retry);
            progress = progress with { Phase = "copying", Total = total };
        }

        context.SetCustomStatus(progress);
        for (var pages = 0; progress.SourceIndex < input.Sources.Count; pages++)
        {
            if (pages == PagesPerExecution)
            {
                context.ContinueAsNew(input with { Progress = progress });
                return progress;
            }

            var page = await context.CallActivityAsync<CopyPageResult>(nameof(CopyItemsPage), new CopyPageInput(
                input.ProjectId, input.Sources[progress.SourceIndex], input.TargetDatasetId, input.FilterJson, progress.Continuation, input.WithMetadata, input.RequestedBy, input.SourceProjectId, input.WithAnnotations), Retry);
            if (page.TargetGone)
            {
                return Finish(context, progress with { Phase = "cancelled" });
            }

            progress = progress with
            {
                Copied = progress.Copied + page.Copied,
                SkippedPathTaken = progress.SkippedPathTaken + page.SkippedPathTaken,
                SkippedMissingFile = progress.SkippedMissingFile + page.SkippedMissingFile,
                AnnotationsCopied = progress.AnnotationsCopied + page.AnnotationsCopied,
                SourceIndex = page.Next is null ? progress.SourceIndex + 1 : progress.SourceIndex,
                Continuation = page.Next,
            };
            context.SetCustomStatus(progress);
        }

        var completed = await context.CallActivityAsync<bool>(nameof(CompleteCopyTarget), new CopyTargetInput(input.ProjectId, input.TargetDatasetId, input.TargetName, input.RequestedBy, input.Sources), Retry);
        return Finish(context, progress with { Phase = completed ? "completed" : "cancelled", Continuation = null });
    }

    private static DatasetCopyProgress Finish(TaskOrchestrationContext context, DatasetCopyProgress progress)
    {
        context.SetCustomStatus(progress);
        return progress;
    }
}

/// <summary>Clones one dataset (optionally filtered) into a new one. Input: one source.</summary>
public sealed class CloneDataset : DatasetCopyOrchestrator;

/// <summary>Merges several datasets of a project into a new one; a path already copied from an earlier source is skipped and counted.</summary>
public sealed class MergeDatasets : DatasetCopyOrchestrator;

/// <summary>Creates the target dataset in state copying (idempotent). False when the project is being deleted.</summary>
public sealed class CreateCopyTarget(DatasetCopier copier) : TaskActivity<CopyTargetInput, bool>
{
    public override Task<bool> RunAsync(TaskActivityContext context, CopyTargetInput input) => copier.CreateTargetAsync(input, CancellationToken.None);
}

/// <summary>Counts the items to copy (for progress).</summary>
public sealed class CountCopySource(DatasetCopier copier) : TaskActivity<CopyCountInput, long>
{
    public override Task<long> RunAsync(TaskActivityContext context, CopyCountInput input) => copier.CountAsync(input, CancellationToken.None);
}

/// <summary>Copies one page of one source (idempotent).</summary>
public sealed class CopyItemsPage(DatasetCopier copier) : TaskActivity<CopyPageInput, CopyPageResult>
{
    public override Task<CopyPageResult> RunAsync(TaskActivityContext context, CopyPageInput input) => copier.CopyPageAsync(input, CancellationToken.None);
}

/// <summary>Marks the target dataset ready. False when it was deleted meanwhile.</summary>
public sealed class CompleteCopyTarget(DatasetCopier copier) : TaskActivity<CopyTargetInput, bool>
{
    public override Task<bool> RunAsync(TaskActivityContext context, CopyTargetInput input) =>
        copier.CompleteAsync(input.ProjectId, input.DatasetId, CancellationToken.None);
}
