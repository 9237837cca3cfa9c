using Serverless.Durable.Orchestration;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;

namespace Serverless.Functions.Projects;

/// <summary>Input of <see cref="CopyProjectDatasets"/>: copy every dataset of one project into another.</summary>
/// <param name="SourceProjectId">The project copied from.</param>
/// <param name="TargetProjectId">The copy (already holding settings, members and recipes).</param>
/// <param name="RequestedBy">The user who asked; the new items' creator.</param>
public sealed record ProjectDatasetsCopyInput(string SourceProjectId, string TargetProjectId, string RequestedBy);

/// <summary>One source dataset to copy.</summary>
public sealed record ProjectDatasetRef(string Id, string Name);

/// <summary>Where a project's dataset copy stands; its custom status and output.</summary>
/// <param name="Datasets">Datasets of the source when the copy started.</param>
/// <param name="Done">Datasets copied (or found gone) so far.</param>
/// <param name="Copies">Per source dataset done: the clone's outcome (target dataset id, phase, items copied).</param>
public sealed record ProjectDatasetsCopyProgress(int Datasets, int Done, IReadOnlyList<DatasetCopyProgress> Copies);

/// <summary>
/// Copies a project's datasets into its copy, one <see cref="CloneDataset"/> sub-orchestration per dataset, one after
/// another (bounded load; each clone already pages its items). Each clone's instance id, and so its target dataset's
/// id, is derived from the target project and the source dataset, so after a crash the runtime replays this
/// orchestration and each clone resumes where its own history stands instead of starting a second copy.
/// </summary>
public sealed class CopyProjectDatasets : TaskOrchestrator<ProjectDatasetsCopyInput, ProjectDatasetsCopyProgress>
{
    private static readonly TaskOptions Retry = ActivityRetry.Store;

    /// <summary>The clone instance of one source dataset inside the target project (listed with the target's orchestrations).</summary>
    public static string CloneInstanceId(string targetProjectId, string sourceDatasetId) =>
        ProjectOrchestrations.InstanceId(targetProjectId, nameof(CloneDataset), "copy-" + sourceDatasetId);

    public override async Task<ProjectDatasetsCopyProgress> RunAsync(TaskOrchestrationContext context, ProjectDatasetsCopyInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var sources = await context.CallActivityAsync<IReadOnlyList<ProjectDatasetRef>>(nameof(ListDatasetsToCopy), input.SourceProjectId, Retry);
        var copies = new List<DatasetCopyProgress>(sources.Count);
        context.SetCustomStatus(new ProjectDatasetsCopyProgress(sources.Count, 0, copies));
        foreach (var source in sources)
        {
            var instanceId = CloneInstanceId(input.TargetProjectId, source.Id);
            var clone = new DatasetCopyInput(input.TargetProjectId, DatasetCopier.TargetDatasetId(instanceId), source.Name, [source.Id], null,
                WithMetadata: true, WithAnnotations: false, input.RequestedBy, SourceProjectId: input.SourceProjectId);
            copies.Add(await context.CallSubOrchestratorAsync<DatasetCopyProgress>(nameof(CloneDataset), clone, new SubOrchestrationOptions(instanceId)));
            context.SetCustomStatus(new ProjectDatasetsCopyProgress(sources.Count, copies.Count, copies));
        }

        return new ProjectDatasetsCopyProgress(sources.Count, copies.Count, copies);
    }
}

/// <summary>Lists a project's datasets (id and name, by creation) for <see cref="CopyProjectDatasets"/>.</summary>
public sealed class ListDatasetsToCopy(DatasetStore datasets) : TaskActivity<string, IReadOnlyList<ProjectDatasetRef>>
{
    private const int PageSize = 200;

    public override async Task<IReadOnlyList<ProjectDatasetRef>> RunAsync(TaskActivityContext context, string input)
    {
        var all = new List<ProjectDatasetRef>();
        string? token = null;
        do
        {
            var page = await datasets.ListAsync(input, PageSize, token, CancellationToken.None);
            all.AddRange(page.Items.Select(d => new ProjectDatasetRef(d.Id, d.Name)));
            token = page.ContinuationToken;
        }
        while (token is not null);

        return all;
    }
}
