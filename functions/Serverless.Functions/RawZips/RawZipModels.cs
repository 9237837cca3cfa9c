using System.Text.Json;

namespace Serverless.Functions.RawZips;

/// <summary>Settings of the raw-data zip (section <c>RawZips</c>).</summary>
public sealed record RawZipOptions
{
    public const string Section = "RawZips";

    /// <summary>Highest <see cref="MaxEntries"/> a deployment may set.</summary>
    public const int MaxEntriesCeiling = 1_000_000;

    /// <summary>Blob container holding the built zips, one per dataset: <c>{projectId}/{datasetId}/raw.zip</c>.</summary>
    public string BlobContainer { get; init; } = "zips";

    /// <summary>Most files in one zip; a dataset (or filter) with more fails the build before any byte is read.</summary>
    public int MaxEntries { get; init; } = 100_000;

    /// <summary>Most uncompressed bytes in one zip; the build fails when it reaches more and publishes nothing.</summary>
    public long MaxTotalBytes { get; init; } = 100L * 1024 * 1024 * 1024;

    /// <summary>Bytes per staged block (Azure allows 50,000 blocks: 8 MiB blocks reach 390 GiB).</summary>
    public int BlockSizeBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Validity of the signed download link.</summary>
    public TimeSpan LinkLifetime { get; init; } = TimeSpan.FromHours(1);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(BlobContainer))
        {
            errors.Add($"{Section}:BlobContainer is required.");
        }

        if (MaxEntries is < 1 or > MaxEntriesCeiling)
        {
            errors.Add($"{Section}:MaxEntries must be 1 to {MaxEntriesCeiling} (the writer keeps one directory record per entry in memory).");
        }

        if (MaxTotalBytes < 1)
        {
            errors.Add($"{Section}:MaxTotalBytes must be at least 1.");
        }

        if (BlockSizeBytes is < 64 * 1024 or > 100 * 1024 * 1024)
        {
            errors.Add($"{Section}:BlockSizeBytes must be 64 KiB to 100 MiB (Azure's block limit).");
        }

        if (LinkLifetime <= TimeSpan.Zero || LinkLifetime > TimeSpan.FromDays(7))
        {
            errors.Add($"{Section}:LinkLifetime must be between 0 and 7 days (a SAS lasts at most 7 days).");
        }

        return errors;
    }
}

/// <summary>Body of <c>POST .../datasets/{datasetId}/raw-zip</c>: an optional filter expression over items (as in <c>items/query</c>'s <c>filter</c>).</summary>
public sealed record RawZipRequest(JsonElement? Filter);

/// <summary>Input of <see cref="BuildRawZip"/> and <see cref="WriteRawZip"/>.</summary>
/// <param name="ProjectId">The dataset's project.</param>
/// <param name="DatasetId">The dataset.</param>
/// <param name="FilterJson">The validated filter expression, or null for every item.</param>
/// <param name="RequestedBy">The user who asked for the build.</param>
public sealed record RawZipInput(string ProjectId, string DatasetId, string? FilterJson, string RequestedBy);

/// <summary>What one build produced.</summary>
/// <param name="Entries">Files in the zip.</param>
/// <param name="Bytes">Uncompressed bytes of all files.</param>
/// <param name="ArchiveBytes">Size of the zip.</param>
/// <param name="Zip64">Whether ZIP64 records were needed.</param>
/// <param name="RenamedEntries">Entries whose name had to be sanitized or made unique.</param>
/// <param name="MissingFiles">Items whose file was gone (deleted meanwhile): left out.</param>
/// <param name="BuiltAt">When the zip was committed.</param>
/// <param name="Error">Why the build was refused (a cap, a name); nothing was published. Null when built.</param>
public sealed record RawZipResult(int Entries, long Bytes, long ArchiveBytes, bool Zip64, int RenamedEntries, int MissingFiles, DateTimeOffset? BuiltAt, string? Error)
{
    public static RawZipResult Refused(string error) => new(0, 0, 0, false, 0, 0, null, error);
}

/// <summary>Progress shown as the orchestration's custom status.</summary>
public sealed record RawZipProgress(string Phase);

/// <summary>
/// Answer of <c>GET .../raw-zip</c>: <c>none</c> (never built), <c>running</c>, <c>done</c> (with counts and a
/// signed link) or <c>failed</c> (with the reason).
/// </summary>
public sealed record RawZipStatus(
    string State,
    string? InstanceId,
    int? Entries,
    long? Bytes,
    long? ArchiveBytes,
    DateTimeOffset? BuiltAt,
    string? Filter,
    string? Error,
    Uri? DownloadUrl,
    DateTimeOffset? ExpiresAt);

/// <summary>The build was refused; the message says which cap or name, and nothing was published.</summary>
public sealed class RawZipRefusedException(string message) : Exception(message);

/// <summary>States of <see cref="RawZipStatus"/>.</summary>
public static class RawZipStates
{
    public const string None = "none";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
}
