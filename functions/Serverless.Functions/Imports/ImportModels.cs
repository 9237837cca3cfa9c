using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Imports;

/// <summary>
/// An import of pre-labels into a dataset, as returned. <c>State</c>: <c>running</c>, <c>done</c> or <c>failed</c>
/// (with <c>Error</c>: the file could not be read, nothing was written). <c>Errors</c> holds the first
/// <see cref="ImportsOptions.MaxStoredErrors"/> per-entry errors, <c>ErrorCount</c> all of them.
/// </summary>
public sealed record Import(
    string Id,
    string ProjectId,
    string DatasetId,
    string Format,
    string State,
    string BlobName,
    long SizeBytes,
    ImportCounts Counts,
    IReadOnlyList<ImportError> Errors,
    long ErrorCount,
    string? Error,
    string CreatedAt,
    string CreatedBy,
    string UpdatedAt,
    string InstanceId);

/// <summary>What an import found and did.</summary>
/// <param name="ItemsMatched">Items (JSON) or images (COCO) of the file that match an item of the dataset by path.</param>
/// <param name="ItemsUnmatched">Those that match none (reported as errors; their annotations are not imported).</param>
/// <param name="Entries">Annotations in the file.</param>
/// <param name="AnnotationsCreated">Annotations of this import now in the dataset (a repeated run counts those it finds, not twice).</param>
/// <param name="EntriesRejected">Annotations refused, each with an error.</param>
public sealed record ImportCounts(long ItemsMatched, long ItemsUnmatched, long Entries, long AnnotationsCreated, long EntriesRejected);

/// <summary>One entry's error: a JSON pointer into the file (<c>/annotations/17/bbox</c>) and what is wrong.</summary>
public sealed record ImportError(string Path, string Message);

/// <summary>Answer of <c>POST .../imports</c>: the import's id and its orchestration's URLs (Durable Functions style).</summary>
public sealed record ImportAccepted(
    string ImportId,
    string Id,
    string StatusQueryGetUri,
    string SendEventPostUri,
    string TerminatePostUri,
    string SuspendPostUri,
    string ResumePostUri,
    string PurgeHistoryDeleteUri);

/// <summary>Formats and states.</summary>
public static class ImportFormats
{
    public const string Json = "json";
    public const string Coco = "coco";

    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";

    /// <summary>Value of <c>source</c> stored on every imported annotation document (with <c>importId</c>).</summary>
    public const string Source = "import";
}

/// <summary>Import settings (section <c>Imports</c>).</summary>
public sealed class ImportsOptions
{
    public const string Section = "Imports";

    /// <summary>Blob container holding uploaded import files.</summary>
    public string BlobContainer { get; set; } = "imports";

    /// <summary>Largest file accepted (413 above it).</summary>
    public long MaxUploadBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Per-entry errors kept on the import (the count covers all).</summary>
    public int MaxStoredErrors { get; set; } = 1000;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(BlobContainer))
        {
            errors.Add($"{Section}:BlobContainer is required.");
        }

        if (MaxUploadBytes < 1)
        {
            errors.Add($"{Section}:MaxUploadBytes must be positive.");
        }

        if (MaxStoredErrors is < 1 or > 10_000)
        {
            errors.Add($"{Section}:MaxStoredErrors must be 1 to 10000.");
        }

        return errors;
    }
}

/// <summary>Imports live in the project's partition of the <c>imports</c> container.</summary>
public static class ImportContainers
{
    public const string Imports = "imports";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Imports, ["createdAt"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>Input of the <see cref="ImportLabels"/> orchestration and its activities.</summary>
public sealed record ImportInput(string ProjectId, string ImportId);

/// <summary>Input of <see cref="FailImport"/>.</summary>
public sealed record ImportFailInput(string ProjectId, string ImportId, string Error);
