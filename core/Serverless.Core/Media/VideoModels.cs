using System.Globalization;

namespace Serverless.Core.Media;

/// <summary>A frame rate as ffprobe reports it: a rational such as 30000/1001.</summary>
public readonly record struct FrameRate(long Numerator, long Denominator)
{
    /// <summary>Frames per second; 0 when the rate is unknown (0/0).</summary>
    public double Value => Denominator == 0 ? 0 : (double)Numerator / Denominator;

    /// <summary>Parses <c>num/den</c> (or a plain number); unknown (0/0) when the text is not one.</summary>
    public static FrameRate Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return default;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var whole) ? new FrameRate(whole, 1) : default;
        }

        return long.TryParse(text.AsSpan(0, slash), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
            && long.TryParse(text.AsSpan(slash + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var d)
            ? new FrameRate(n, d)
            : default;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Numerator}/{Denominator}";
}

/// <summary>What ffprobe says about a video file.</summary>
/// <param name="DurationSeconds">The container's duration.</param>
/// <param name="FrameRate">The video stream's average frame rate (its base rate when the average is unknown).</param>
/// <param name="FrameCount">Video packets counted by reading the file (one per frame), not the header's claim.</param>
/// <param name="Width">Pixels.</param>
/// <param name="Height">Pixels.</param>
/// <param name="VideoCodec">e.g. h264, vp9.</param>
/// <param name="AudioCodec">The first audio stream's codec; null without audio.</param>
/// <param name="FormatName">ffprobe's container name, e.g. <c>mov,mp4,m4a,3gp,3g2,mj2</c>.</param>
/// <param name="SizeBytes">The file's size.</param>
public sealed record VideoMetadata(
    double DurationSeconds,
    FrameRate FrameRate,
    long FrameCount,
    int Width,
    int Height,
    string VideoCodec,
    string? AudioCodec,
    string FormatName,
    long SizeBytes);

/// <summary>Caps checked before anything is decoded: a hostile file is refused, not converted.</summary>
public sealed record VideoLimits(
    double MaxDurationSeconds = 4 * 3600,
    int MaxWidth = 7680,
    int MaxHeight = 4320,
    long MaxFileBytes = 20L * 1024 * 1024 * 1024,
    double MaxFrameRate = 240);

/// <summary>How <see cref="VideoConverter"/> runs and what it accepts.</summary>
/// <param name="Limits">Caps on the source.</param>
/// <param name="MaxFrameDifference">Allowed |source frames − converted frames| (the project's tolerance; default 0).</param>
/// <param name="MaxFrameRateDifference">Allowed |source fps − converted fps| (default 0.2).</param>
/// <param name="ProbeTimeout">Per ffprobe run.</param>
/// <param name="ConversionTimeout">For ffmpeg; by default 120 s plus 4 × the source's duration.</param>
/// <param name="Ffmpeg">The ffmpeg executable (name on PATH or full path).</param>
/// <param name="Ffprobe">The ffprobe executable.</param>
public sealed record VideoConversionOptions(
    VideoLimits? Limits = null,
    long MaxFrameDifference = 0,
    double MaxFrameRateDifference = 0.2,
    TimeSpan? ProbeTimeout = null,
    TimeSpan? ConversionTimeout = null,
    string Ffmpeg = "ffmpeg",
    string Ffprobe = "ffprobe");

/// <summary>Where a conversion stands (pending is the item's state before the converter runs).</summary>
public enum VideoConversionState
{
    Pending,
    Done,
    Failed,
}

/// <summary>Why a conversion failed, for callers that react differently (retry a timeout, not a corrupt file).</summary>
public enum VideoFailureKind
{
    /// <summary>Not a readable video: not a whitelisted container, no video stream, corrupt.</summary>
    Unreadable,

    /// <summary>Over a cap of <see cref="VideoLimits"/>.</summary>
    OverLimit,

    /// <summary>ffprobe or ffmpeg ran past its timeout and was killed.</summary>
    Timeout,

    /// <summary>ffmpeg exited with an error.</summary>
    ConversionFailed,

    /// <summary>The output's frame count or rate differs from the source's beyond the tolerances.</summary>
    VerificationFailed,

    /// <summary>ffmpeg/ffprobe is not installed.</summary>
    ToolMissing,
}

/// <summary>The outcome of one conversion, as the item records it.</summary>
/// <param name="State">Done or Failed.</param>
/// <param name="Source">The source's metadata, when it could be probed.</param>
/// <param name="Converted">The WEBM's metadata, when it was produced and probed.</param>
/// <param name="FailureKind">Why it failed (null when done).</param>
/// <param name="FailureReason">A sentence for the item's status (null when done).</param>
public sealed record VideoConversionResult(
    VideoConversionState State,
    VideoMetadata? Source,
    VideoMetadata? Converted,
    VideoFailureKind? FailureKind,
    string? FailureReason)
{
    internal static VideoConversionResult Fail(VideoFailureKind kind, string reason, VideoMetadata? source = null, VideoMetadata? converted = null) =>
        new(VideoConversionState.Failed, source, converted, kind, reason);
}
