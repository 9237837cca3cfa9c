using System.Text.Json;

namespace Serverless.Functions.Datasets;

/// <summary>Body of <c>POST /api/projects/{projectId}/datasets/{datasetId}/clone</c>.</summary>
/// <param name="Name">The new dataset's name.</param>
/// <param name="Filter">Optional filter expression (the value of <c>"filter"</c> in the filter language): only matching items are cloned.</param>
/// <param name="WithMetadata">Copy user metadata and tags (default true). System metadata (MIME type, image size) always follows the file.</param>
/// <param name="WithAnnotations">Copy each item's annotations with it (default false).</param>
public sealed record CloneDatasetRequest(string? Name, JsonElement? Filter, bool? WithMetadata, bool? WithAnnotations);

/// <summary>Body of <c>POST /api/projects/{projectId}/datasets/merge</c>: 2 to <see cref="DatasetCopyInput.MaxMergeSources"/> datasets into a new one.</summary>
public sealed record MergeDatasetsRequest(string? Name, IReadOnlyList<string?>? DatasetIds, JsonElement? Filter, bool? WithMetadata, bool? WithAnnotations);

/// <summary>
/// Input (and, across continue-as-new, the carried state) of <see cref="CloneDataset"/> and <see cref="MergeDatasets"/>.
/// </summary>
/// <param name="ProjectId">The project of every dataset involved.</param>
/// <param name="TargetDatasetId">The new dataset; derived from the instance id, so a replayed creation is the same dataset.</param>
/// <param name="TargetName">Its name.</param>
/// <param name="Sources">Source dataset ids, copied in this order.</param>
/// <param name="FilterJson">The filter expression as JSON text (validated before the start), or null for every item.</param>
/// <param name="WithMetadata">Copy user metadata and tags.</param>
/// <param name="WithAnnotations">Copy each item's annotations with it (ids derived like the items', so retries make none twice).</param>
/// <param name="RequestedBy">The user who asked; recorded as the new items' creator.</param>
/// <param name="Progress">Where the copy stands (null on the first execution).</param>
/// <param name="SourceProjectId">The project the sources belong to when it is not <paramref name="ProjectId"/> (a project
/// copy with its datasets); null: the same project.</param>
public sealed record DatasetCopyInput(
    string ProjectId,
    string TargetDatasetId,
    string TargetName,
    IReadOnlyList<string> Sources,
    string? FilterJson,
    bool WithMetadata,
    bool WithAnnotations,
    string RequestedBy,
    DatasetCopyProgress? Progress = null,
    string? SourceProjectId = null)
{
    /// <summary>Most datasets one merge reads.</summary>
    public const int MaxMergeSources = 20;
}

/// <summary>Where a copy stands; also its custom status (what clients see while it runs) and its output.</summary>
/// <param name="TargetDatasetId">The new dataset.</param>
/// <param name="Phase"><c>counting</c>, <c>copying</c>, <c>completed</c>, or <c>cancelled</c> (the target dataset or the project was deleted meanwhile).</param>
/// <param name="Total">Items matching in the sources when the copy started (null while counting).</param>
/// <param name="Copied">Items now in the target.</param>
/// <param name="SkippedPathTaken">Items left out because an item with the same path was already copied from an earlier source (merge).</param>
/// <param name="SkippedMissingFile">Items left out because their file no longer exists.</param>
/// <param name="SourceIndex">Index in <see cref="DatasetCopyInput.Sources"/> of the source being read.</param>
/// <param name="Continuation">Store continuation token inside that source (null at its start).</param>
/// <param name="AnnotationsCopied">Annotations copied with the items (with <see cref="DatasetCopyInput.WithAnnotations"/>).</param>
public sealed record DatasetCopyProgress(
    string TargetDatasetId,
    string Phase,
    long? Total,
    long Copied,
    long SkippedPathTaken,
    long SkippedMissingFile,
    int SourceIndex,
    string? Continuation,
    long AnnotationsCopied = 0);

/// <summary>Input of the <see cref="CopyItemsPage"/> activity: one page of one source (of <see cref="SourceProjectId"/>, or of the target's project when null).</summary>
public sealed record CopyPageInput(
    string ProjectId,
    string SourceDatasetId,
    string TargetDatasetId,
    string? FilterJson,
    string? Continuation,
    bool WithMetadata,
    string RequestedBy,
    string? SourceProjectId = null,
    bool WithAnnotations = false)
{
    /// <summary>The project the source dataset belongs to.</summary>
    public string SourceProject => SourceProjectId ?? ProjectId;
}

/// <summary>What one page did. <see cref="TargetGone"/>: the target dataset or project was deleted, stop.</summary>
public sealed record CopyPageResult(int Copied, int SkippedPathTaken, int SkippedMissingFile, string? Next, bool TargetGone, int AnnotationsCopied = 0);

/// <summary>Input of <see cref="CreateCopyTarget"/>.</summary>
public sealed record CopyTargetInput(string ProjectId, string DatasetId, string Name, string CreatedBy, IReadOnlyList<string> Sources);

/// <summary>Input of <see cref="CountCopySource"/>.</summary>
public sealed record CopyCountInput(string ProjectId, IReadOnlyList<string> Sources, string? FilterJson, string? SourceProjectId = null);
