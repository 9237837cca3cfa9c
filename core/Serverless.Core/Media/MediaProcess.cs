using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Serverless.Core.Media;

/// <summary>What a finished tool run printed.</summary>
/// <param name="ExitCode">The process's exit code.</param>
/// <param name="StandardOutput">Everything on stdout (capped; see <see cref="MediaProcess"/>).</param>
/// <param name="StandardErrorTail">The last few kilobytes of stderr, for failure reasons.</param>
public sealed record MediaProcessResult(int ExitCode, string StandardOutput, string StandardErrorTail);

/// <summary>The tool (ffmpeg, ffprobe) is not installed or cannot be started.</summary>
public sealed class MediaToolMissingException(string tool, Exception inner)
    : Exception($"'{tool}' could not be started ({inner.Message}). Install ffmpeg: scripts/ensure-deps.sh does it (apt-get install ffmpeg).", inner)
{
    public string Tool { get; } = tool;
}

/// <summary>The tool ran past its timeout; its whole process tree was killed.</summary>
public sealed class MediaToolTimeoutException(string tool, TimeSpan timeout, int processId)
    : Exception($"'{tool}' ran longer than {timeout.TotalSeconds:0.###} s and was killed.")
{
    public string Tool { get; } = tool;

    public TimeSpan Timeout { get; } = timeout;

    /// <summary>The killed process's id (gone by the time this is thrown).</summary>
    public int ProcessId { get; } = processId;
}

/// <summary>
/// Runs a media tool with an argument list (never a shell line), stdin closed, a timeout that kills
/// the whole process tree, and bounded capture of its output, so a hostile file cannot make it hang
/// or flood memory.
/// </summary>
public static class MediaProcess
{
    /// <summary>Most stdout kept (ffprobe's JSON for one file is a few kilobytes).</summary>
    public const int MaxStandardOutputChars = 4 * 1024 * 1024;

    private const int StandardErrorTailChars = 4096;

    /// <summary>Runs <paramref name="tool"/> to completion or until <paramref name="timeout"/>.</summary>
    public static async Task<MediaProcessResult> RunAsync(
        string tool,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var info = new ProcessStartInfo(tool)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new MediaToolMissingException(tool, e);
        }

        process.StandardInput.Close();
        var stdout = CaptureAsync(process.StandardOutput, MaxStandardOutputChars, keepTail: false);
        var stderr = CaptureAsync(process.StandardError, StandardErrorTailChars, keepTail: true);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None);
            await Task.WhenAll(stdout, stderr);
            cancellationToken.ThrowIfCancellationRequested();
            throw new MediaToolTimeoutException(tool, timeout, process.Id);
        }

        return new MediaProcessResult(process.ExitCode, await stdout, (await stderr).Trim());
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited between the timeout and the kill.
        }
    }

    private static async Task<string> CaptureAsync(StreamReader reader, int maxChars, bool keepTail)
    {
        // Keeps reading to the end either way, so the tool never blocks on a full pipe.
        var text = new StringBuilder();
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            if (keepTail)
            {
                text.Append(buffer, 0, read);
                if (text.Length > maxChars * 2)
                {
                    text.Remove(0, text.Length - maxChars);
                }
            }
            else if (text.Length < maxChars)
            {
                text.Append(buffer, 0, Math.Min(read, maxChars - text.Length));
            }
        }

        if (keepTail && text.Length > maxChars)
        {
            text.Remove(0, text.Length - maxChars);
        }

        return text.ToString();
    }
}
