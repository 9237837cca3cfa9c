using System.Diagnostics;
using System.Text.Json;
using Serverless.Testing;

namespace Serverless.Functions.Tests;

/// <summary>scripts/publish.sh produces a package the Functions host can start (a bash script: Linux and macOS).</summary>
[Trait("Category", "Publish")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PublishScriptTests
{
    [Fact]
    public async Task PublishScript_Run_PackageHasHostJsonFunctionFoldersAndExecutable()
    {
        // Arrange
        var output = Path.Combine(Path.GetTempPath(), $"functionapp-{Guid.NewGuid():N}");
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "scripts", "publish.sh"));
        info.ArgumentList.Add(output);

        // Publish with the configuration these tests were built with, so only the RID-specific
        // executable is compiled again and the test stays well under a minute.
#if DEBUG
        info.Environment["PUBLISH_CONFIGURATION"] = "Debug";
#else
        info.Environment["PUBLISH_CONFIGURATION"] = "Release";
#endif
        try
        {
            // Act
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            await process.WaitForExitAsync(timeout.Token);

            // Assert
            Assert.True(process.ExitCode == 0, $"publish.sh failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
            using var hostJson = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "host.json")));
            var executable = hostJson.RootElement.GetProperty("customHandler").GetProperty("description").GetProperty("defaultExecutablePath").GetString()!;
            var executablePath = Path.Combine(output, executable);
            Assert.True(File.Exists(executablePath), $"{executable} is missing from the package.");
            Assert.True(File.GetUnixFileMode(executablePath).HasFlag(UnixFileMode.UserExecute), $"{executable} is not executable.");
            Assert.True(File.Exists(Path.Combine(output, "libcoreclr.so")), "The package is not self-contained (no libcoreclr.so).");
            foreach (var function in Functions.FunctionCatalog.All.Keys)
            {
                Assert.True(File.Exists(Path.Combine(output, function, "function.json")), $"{function}/function.json is missing.");
            }

            Assert.False(Directory.Exists(Path.Combine(output, "Functions")), "function.json files must sit at the package root only.");
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
