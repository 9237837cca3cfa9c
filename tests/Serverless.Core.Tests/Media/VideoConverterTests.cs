using System.Diagnostics;
using Serverless.Core.Media;

namespace Serverless.Core.Tests.Media;

public sealed class VideoConverterTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task ConvertAsync_TestsrcClip_DoneWithSameFramesAndRate()
    {
        // Arrange
        var source = _temp.File("clip.mp4");
        Ffmpeg.Run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264", source);
        var output = _temp.File("clip.webm");

        // Act
        var result = await new VideoConverter().ConvertAsync(source, output);

        // Assert
        Assert.True(result.State == VideoConversionState.Done, result.FailureReason);
        Assert.Equal(50, result.Source!.FrameCount);
        Assert.Equal(new FrameRate(25, 1), result.Source.FrameRate);
        Assert.Equal("h264", result.Source.VideoCodec);
        Assert.Equal(50, result.Converted!.FrameCount);
        Assert.Equal(25, result.Converted.FrameRate.Value, 1);
        Assert.Equal("vp9", result.Converted.VideoCodec);
        Assert.Contains("webm", result.Converted.FormatName, StringComparison.Ordinal);
        Assert.Equal((320, 240), (result.Converted.Width, result.Converted.Height));
        Assert.Null(result.Converted.AudioCodec);
        Assert.True(File.Exists(output));
    }

    [Fact]
    public async Task ConvertAsync_ClipWithAudioAtNtscRate_DoneWithOpusAudio()
    {
        // Arrange
        var source = _temp.File("audio.mp4");
        Ffmpeg.Run(
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30000/1001:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", "-shortest", source);
        var output = _temp.File("audio.webm");

        // Act
        var result = await new VideoConverter().ConvertAsync(source, output);

        // Assert
        Assert.True(result.State == VideoConversionState.Done, result.FailureReason);
        Assert.Equal("aac", result.Source!.AudioCodec);
        Assert.Equal("opus", result.Converted!.AudioCodec);
        Assert.Equal(result.Source.FrameCount, result.Converted.FrameCount);
        Assert.Equal(29.97, result.Source.FrameRate.Value, 2);
        Assert.True(Math.Abs(result.Converted.FrameRate.Value - 29.97) <= 0.2, $"converted fps {result.Converted.FrameRate}");
    }

    [Fact]
    public async Task ConvertAsync_RandomBytes_FailsUnreadableWithReason()
    {
        // Arrange
        var source = _temp.File("random.mp4");
        var bytes = new byte[64 * 1024];
        new Random(3).NextBytes(bytes);
        await File.WriteAllBytesAsync(source, bytes);
        var output = _temp.File("random.webm");

        // Act
        var result = await new VideoConverter().ConvertAsync(source, output);

        // Assert
        Assert.Equal(VideoConversionState.Failed, result.State);
        Assert.Equal(VideoFailureKind.Unreadable, result.FailureKind);
        Assert.StartsWith("ffprobe cannot read it:", result.FailureReason, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task ConvertAsync_TruncatedMp4_FailsUnreadableWithReason()
    {
        // Arrange: mp4 puts its index (moov) at the end, so cutting the file loses it.
        var whole = _temp.File("whole.mp4");
        Ffmpeg.Run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264", whole);
        var bytes = await File.ReadAllBytesAsync(whole);
        var source = _temp.File("truncated.mp4");
        await File.WriteAllBytesAsync(source, bytes[..(bytes.Length / 2)]);

        // Act
        var result = await new VideoConverter().ConvertAsync(source, _temp.File("truncated.webm"));

        // Assert
        Assert.Equal(VideoConversionState.Failed, result.State);
        Assert.Equal(VideoFailureKind.Unreadable, result.FailureKind);
        Assert.Contains("moov atom not found", result.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConvertAsync_ConcatPlaylist_IsRefusedByContainerWhitelist()
    {
        // Arrange: a concat list would make ffmpeg read another local file.
        var secret = _temp.File("secret.mp4");
        Ffmpeg.Run("-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1", "-c:v", "libx264", secret);
        var source = _temp.File("upload.mp4");
        await File.WriteAllTextAsync(source, $"ffconcat version 1.0\nfile '{secret}'\n");

        // Act
        var result = await new VideoConverter().ConvertAsync(source, _temp.File("upload.webm"));

        // Assert
        Assert.Equal(VideoFailureKind.Unreadable, result.FailureKind);
        Assert.Null(result.Source);
    }

    [Theory]
    [InlineData(100, 4320, 1e9, 10_000_000_000L, "resolution 320x240")]
    [InlineData(7680, 4320, 1, 10_000_000_000L, "lasts 2 s")]
    [InlineData(7680, 4320, 1e9, 1000L, "bytes, over the cap")]
    public async Task ConvertAsync_OverCap_RefusedBeforeConverting(int maxWidth, int maxHeight, double maxSeconds, long maxBytes, string reasonPart)
    {
        // Arrange
        var source = _temp.File("cap.mp4");
        Ffmpeg.Run("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-pix_fmt", "yuv420p", "-c:v", "libx264", source);
        var output = _temp.File("cap.webm");
        var converter = new VideoConverter(new VideoConversionOptions(new VideoLimits(maxSeconds, maxWidth, maxHeight, maxBytes)));

        // Act
        var result = await converter.ConvertAsync(source, output);

        // Assert
        Assert.Equal(VideoFailureKind.OverLimit, result.FailureKind);
        Assert.Contains(reasonPart, result.FailureReason, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task ConvertAsync_ConversionTimeout_FailsWithTimeoutAndNoOutput()
    {
        // Arrange
        var source = _temp.File("long.mp4");
        Ffmpeg.Run("-f", "lavfi", "-i", "testsrc=size=640x480:rate=30:duration=10", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", source);
        var output = _temp.File("long.webm");
        var converter = new VideoConverter(new VideoConversionOptions(ConversionTimeout: TimeSpan.FromMilliseconds(300)));

        // Act
        var result = await converter.ConvertAsync(source, output);

        // Assert
        Assert.Equal(VideoFailureKind.Timeout, result.FailureKind);
        Assert.Contains("was killed", result.FailureReason, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task RunAsync_PastTimeout_KillsTheProcess()
    {
        // Arrange: ffmpeg encoding ten minutes of generated video to nowhere.
        string[] arguments = ["-nostdin", "-f", "lavfi", "-i", "testsrc=duration=600", "-f", "null", "-"];
        var started = Stopwatch.StartNew();

        // Act
        var error = await Assert.ThrowsAsync<MediaToolTimeoutException>(() => MediaProcess.RunAsync("ffmpeg", arguments, TimeSpan.FromMilliseconds(500)));

        // Assert
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30));
        Assert.False(IsRunning(error.ProcessId), $"process {error.ProcessId} still runs");
    }

    [Fact]
    public async Task RunAsync_MissingTool_ThrowsMediaToolMissingWithInstallHint()
    {
        // Act
        var error = await Assert.ThrowsAsync<MediaToolMissingException>(() => MediaProcess.RunAsync("ffmpeg-that-does-not-exist", [], TimeSpan.FromSeconds(5)));

        // Assert
        Assert.Contains("ensure-deps.sh", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConvertAsync_RelativePath_ThrowsArgumentException()
    {
        // Act
        var error = await Assert.ThrowsAsync<ArgumentException>(() => new VideoConverter().ConvertAsync("clip.mp4", _temp.File("x.webm")));

        // Assert
        Assert.Equal("sourcePath", error.ParamName);
    }

    [Theory]
    [InlineData("30000/1001", 30000, 1001)]
    [InlineData("25/1", 25, 1)]
    [InlineData("24", 24, 1)]
    [InlineData("0/0", 0, 0)]
    [InlineData("garbage", 0, 0)]
    public void Parse_FfprobeRate_GivesRational(string text, long numerator, long denominator)
    {
        // Act
        var rate = FrameRate.Parse(text);

        // Assert
        Assert.Equal(new FrameRate(numerator, denominator), rate);
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
