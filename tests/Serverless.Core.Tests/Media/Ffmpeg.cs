using System.ComponentModel;
using System.Diagnostics;

namespace Serverless.Core.Tests.Media;

/// <summary>Makes test media with the real ffmpeg; fails (never skips) with a clear message when it is missing.</summary>
internal static class Ffmpeg
{
    public static void Run(params string[] arguments)
    {
        var info = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in (string[])["-nostdin", "-v", "error", "-y", .. arguments])
        {
            info.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException("ffmpeg is not installed: the README's test command (./test.sh, via scripts/ensure-deps.sh) installs it with apt-get.", e);
        }

        using (process)
        {
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"ffmpeg {string.Join(' ', arguments)} failed: {error}");
            }
        }
    }
}

/// <summary>A temporary folder deleted after the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("media-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
