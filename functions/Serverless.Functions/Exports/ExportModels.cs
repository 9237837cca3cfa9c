using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Exports;

/// <summary>
/// An export of labels as listed and returned. <c>State</c>: <c>running</c>, <c>done</c> or <c>failed</c> (with
/// <c>Error</c>). <c>Version</c> is set when the export was saved as a named label version: such an export is
/// immutable (no rename, no delete). <c>Progress</c> counts the items read so far against those in scope.
/// </summary>
public sealed record Export(
    string Id,
    string ProjectId,
    string Name,
    string Format,
    ExportScope Scope,
    IReadOnlyList<string>? OnlyStatuses,
    IReadOnlyList<string>? Labels,
    bool SignedItemUrls,
    string? Version,
    string State,
    ExportProgress Progress,
    long? SizeBytes,
    ExportCounts? Counts,
    string CreatedAt,
    string CreatedBy,
    string UpdatedAt,
    string InstanceId,
    string? Error);

/// <summary>What is exported: a dataset (optionally filtered), a task's or QA task's items, or (all null) every dataset of the project.</summary>
/// <param name="DatasetId">The dataset; null (without a task) means every dataset of the project. Set from the task for task scopes.</param>
/// <param name="TaskId">An annotation task: its items, in its order.</param>
/// <param name="QaTaskId">A QA task: its items, in its order.</param>
/// <param name="Filter">A filter expression of the item filter language (the value of <c>"filter"</c>), applied to each dataset in scope.</param>
public sealed record ExportScope(string? DatasetId, string? TaskId, string? QaTaskId, JsonNode? Filter);

/// <summary>Items read so far and items in scope when the export started.</summary>
public sealed record ExportProgress(long ItemsDone, long ItemsTotal);

/// <summary>What a finished export holds: items written, annotations written, items and labels left out (COCO cannot hold non-images or image-level labels), issues.</summary>
public sealed record ExportCounts(long Items, long Annotations, long SkippedItems, long SkippedLabels, long Issues);

/// <summary>Body of <c>POST .../exports</c>.</summary>
public sealed record CreateExportRequest(
    string? Name,
    string? Format,
    ExportScope? Scope,
    IReadOnlyList<string?>? OnlyStatuses,
    IReadOnlyList<string?>? Labels,
    bool? SignedItemUrls,
    string? SaveAsVersion);

/// <summary>Body of <c>PATCH .../exports/{id}</c>.</summary>
public sealed record RenameExportRequest(string? Name);

/// <summary>Answer of <c>POST .../exports</c>: the orchestration's URLs (Durable Functions style) and the export's id.</summary>
public sealed record ExportAccepted(
    string ExportId,
    string Id,
    string StatusQueryGetUri,
    string SendEventPostUri,
    string TerminatePostUri,
    string SuspendPostUri,
    string ResumePostUri,
    string PurgeHistoryDeleteUri);

/// <summary>A signed, time-limited download link to a finished export.</summary>
public sealed record ExportDownload(Uri Url, DateTimeOffset ExpiresAt);

/// <summary>Formats and states.</summary>
public static class ExportFormats
{
    public const string Json = "json";
    public const string Coco = "coco";

    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
}

/// <summary>Export settings (section <c>Exports</c>).</summary>
public sealed class ExportsOptions
{
    public const string Section = "Exports";

    /// <summary>Blob container holding exports and their parts.</summary>
    public string BlobContainer { get; set; } = "exports";

    /// <summary>Items per page activity (one part blob per page).</summary>
    public int PageSize { get; set; } = 500;

    /// <summary>Validity of a download link, in minutes.</summary>
    public int DownloadLinkMinutes { get; set; } = 60;

    /// <summary>Validity of the item links written into an export with <c>signedItemUrls</c>, in hours from the export's start.</summary>
    public int ItemLinkHours { get; set; } = 7 * 24;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(BlobContainer))
        {
            errors.Add($"{Section}:BlobContainer is required.");
        }

        if (PageSize is < 1 or > 1000)
        {
            errors.Add($"{Section}:PageSize must be 1 to 1000.");
        }

        if (DownloadLinkMinutes is < 1 or > 7 * 24 * 60)
        {
            errors.Add($"{Section}:DownloadLinkMinutes must be 1 to {7 * 24 * 60}.");
        }

        if (ItemLinkHours is < 1 or > 7 * 24)
        {
            errors.Add($"{Section}:ItemLinkHours must be 1 to {7 * 24} (a SAS lasts at most 7 days).");
        }

        return errors;
    }
}

/// <summary>Exports and label-version name claims live in the project's partition of the <c>exports</c> container.</summary>
public static class ExportContainers
{
    public const string Exports = "exports";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Exports, ["kind", "createdAt", "versioned"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>
/// What an export reads, fixed when it starts so that a resumed export reads the same: the sources in order, the
/// categories (COCO) and recipes (JSON) from the datasets' recipes, the QA tasks whose issues are included, and
/// the task whose statuses <c>onlyStatuses</c> looks at (null: any task).
/// </summary>
public sealed record ExportPlan(
    IReadOnlyList<ExportSource> Sources,
    IReadOnlyList<ExportCategory> Categories,
    JsonArray Recipes,
    IReadOnlyList<string> QaTaskIds,
    string? StatusTaskId,
    long ItemsTotal);

/// <summary>One source of items: a dataset, or a task's items (in the task's order) in its dataset.</summary>
public sealed record ExportSource(string DatasetId, string? TaskId);

/// <summary>A COCO category: the label class's id (its position among the recipes' classes), name, supercategory (the recipe's name) and shape.</summary>
public sealed record ExportCategory(int Id, string Name, string Supercategory, string Shape);

/// <summary>Input of the <see cref="ExportLabels"/> orchestration; <c>Run</c> carries the state across continue-as-new.</summary>
public sealed record ExportInput(string ProjectId, string ExportId, ExportRun? Run = null);

/// <summary>Where an export run stands.</summary>
/// <param name="Sources">Number of sources in the plan.</param>
/// <param name="SourceIndex">Index of the source being read.</param>
/// <param name="Continuation">The store's continuation inside that source.</param>
/// <param name="PageIndex">The next page's number (part names derive from it).</param>
/// <param name="ItemsTotal">Items in scope at the start.</param>
/// <param name="ItemsScanned">Items read so far (before the status filter).</param>
/// <param name="Items">Items (JSON) or images (COCO) written so far.</param>
/// <param name="Annotations">Annotations written so far.</param>
/// <param name="SkippedItems">Items COCO cannot hold (not images, or without a known size).</param>
/// <param name="SkippedLabels">Labels COCO cannot hold (image-level) or whose class the recipe lacks.</param>
/// <param name="Issues">Issues written so far (JSON).</param>
/// <param name="ItemParts">Pages whose item (JSON) or image (COCO) part is not empty.</param>
/// <param name="AnnotationParts">Pages whose COCO annotation part is not empty.</param>
public sealed record ExportRun(
    int Sources,
    int SourceIndex,
    string? Continuation,
    int PageIndex,
    long ItemsTotal,
    long ItemsScanned,
    long Items,
    long Annotations,
    long SkippedItems,
    long SkippedLabels,
    long Issues,
    IReadOnlyList<int> ItemParts,
    IReadOnlyList<int> AnnotationParts);

/// <summary>What <see cref="PrepareExport"/> found: the export is gone, or how many items and sources it reads.</summary>
public sealed record ExportPrepared(bool Gone, long ItemsTotal, int Sources);

/// <summary>Custom status of an export orchestration.</summary>
public sealed record ExportStatus(string ExportId, string Phase, long ItemsDone, long ItemsTotal);

/// <summary>Input of <see cref="WriteExportPage"/>.</summary>
public sealed record ExportPageInput(
    string ProjectId,
    string ExportId,
    int PageIndex,
    int SourceIndex,
    string? Continuation,
    long ItemsBefore,
    long AnnotationsBefore,
    long ItemsScannedBefore);

/// <summary>What one page wrote; <c>Gone</c>: the export was deleted, stop; <c>Error</c>: the data cannot be exported (the export fails with it).</summary>
public sealed record ExportPageResult(
    bool Gone,
    string? Error,
    int Scanned,
    long Items,
    long Annotations,
    long SkippedItems,
    long SkippedLabels,
    long Issues,
    long ItemBytes,
    long AnnotationBytes,
    string? Next);

/// <summary>Input of <see cref="StageExportParts"/>: part pages of one kind (<c>i</c> items/images, <c>a</c> annotations).</summary>
public sealed record ExportStageInput(string ProjectId, string ExportId, string Kind, IReadOnlyList<int> Pages);

/// <summary>Input of <see cref="CommitExport"/>.</summary>
public sealed record ExportCommitInput(string ProjectId, string ExportId, ExportRun Run);

/// <summary>Input of <see cref="FailExport"/>.</summary>
public sealed record ExportFailInput(string ProjectId, string ExportId, string Error);

/// <summary>The label-version name is taken in this project.</summary>
public sealed class LabelVersionTakenException(string name)
    : Exception($"A label version named '{name}' already exists in this project; label versions are immutable, choose another name.");

/// <summary>The export is a label version and cannot be changed or deleted.</summary>
public sealed class ExportImmutableException(string exportId, string version)
    : Exception($"Export '{exportId}' is label version '{version}'; label versions are immutable and cannot be renamed or deleted.");
