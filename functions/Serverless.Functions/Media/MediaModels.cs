using System.Text.Json.Nodes;

namespace Serverless.Functions.Media;

/// <summary>Settings of video conversion (section <c>Media</c>). The frame and fps tolerances are project settings.</summary>
public sealed record MediaOptions
{
    public const string Section = "Media";

    /// <summary>Longest source video, in seconds; longer ones are refused before decoding.</summary>
    public double MaxDurationSeconds { get; init; } = 4 * 3600;

    /// <summary>Widest source video, in pixels.</summary>
    public int MaxWidth { get; init; } = 7680;

    /// <summary>Tallest source video, in pixels.</summary>
    public int MaxHeight { get; init; } = 4320;

    /// <summary>Largest source file, in bytes (uploads are capped by <c>Items:MaxUploadBytes</c> first).</summary>
    public long MaxFileBytes { get; init; } = 20L * 1024 * 1024 * 1024;

    /// <summary>Per ffprobe run.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>For ffmpeg; zero (the default): 120 s plus 4 × the source's duration.</summary>
    public TimeSpan ConversionTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>Folder for the source and output files (a fresh sub-folder per conversion); empty: the system temp folder.</summary>
    public string WorkDirectory { get; init; } = "";

    /// <summary>The ffmpeg executable (name on PATH or full path).</summary>
    public string Ffmpeg { get; init; } = "ffmpeg";

    /// <summary>The ffprobe executable.</summary>
    public string Ffprobe { get; init; } = "ffprobe";

    /// <summary>Validity of the signed link to a converted video.</summary>
    public TimeSpan LinkLifetime { get; init; } = TimeSpan.FromHours(1);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxDurationSeconds <= 0 || MaxWidth < 1 || MaxHeight < 1 || MaxFileBytes < 1)
        {
            errors.Add($"{Section}:MaxDurationSeconds, MaxWidth, MaxHeight and MaxFileBytes must be positive.");
        }

        if (ProbeTimeout <= TimeSpan.Zero || ConversionTimeout < TimeSpan.Zero)
        {
            errors.Add($"{Section}:ProbeTimeout must be positive and ConversionTimeout zero (automatic) or positive.");
        }

        if (string.IsNullOrWhiteSpace(Ffmpeg) || string.IsNullOrWhiteSpace(Ffprobe))
        {
            errors.Add($"{Section}:Ffmpeg and Ffprobe are required.");
        }

        if (LinkLifetime <= TimeSpan.Zero || LinkLifetime > TimeSpan.FromDays(7))
        {
            errors.Add($"{Section}:LinkLifetime must be between 0 and 7 days (a SAS lasts at most 7 days).");
        }

        return errors;
    }
}

/// <summary>Input of <see cref="ConvertVideo"/> and <see cref="ConvertVideoFile"/>: the video item.</summary>
public sealed record VideoConversionInput(string ProjectId, string DatasetId, string ItemId);

/// <summary>What one conversion recorded on the item: <c>done</c>, <c>failed</c> (with the reason) or <c>gone</c> (the item was deleted).</summary>
public sealed record VideoConversionOutcome(string State, string? Reason);

/// <summary>
/// Answer of <c>GET .../items/{itemId}/video</c>: the conversion state recorded on the item
/// (<c>metadata.system.video</c>) and, once done, a signed link to the WEBM.
/// </summary>
public sealed record VideoStatus(string State, string? Reason, string? FailureKind, JsonObject? Source, JsonObject? Converted, Uri? Url, DateTimeOffset? ExpiresAt);

/// <summary>Conversion states as recorded on the item.</summary>
public static class VideoStates
{
    public const string Pending = "pending";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Gone = "gone";
}
