using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Serverless.Testing;

/// <summary>
/// A child process that tests depend on (Azurite, the local Cosmos server): started on free
/// loopback ports, awaited until it accepts connections, killed with its children on dispose.
/// </summary>
public sealed class LocalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private LocalProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>What the process printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="fileName"/> and waits until every port in <paramref name="ports"/> accepts TCP connections.</summary>
    public static async Task<LocalProcess> StartAsync(string fileName, IEnumerable<string> arguments, IReadOnlyList<int> ports, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var local = new LocalProcess(Process.Start(info) ?? throw new InvalidOperationException($"Could not start {fileName}."));
        var deadline = DateTime.UtcNow + timeout;
        foreach (var port in ports)
        {
            while (!await AcceptsConnectionsAsync(port))
            {
                if (local.HasExited || DateTime.UtcNow > deadline)
                {
                    var output = local.Output;
                    await local.DisposeAsync();
                    throw new InvalidOperationException($"{Path.GetFileName(fileName)} did not open port {port} within {timeout.TotalSeconds:0}s. Output:\n{output}");
                }

                await Task.Delay(50);
            }
        }

        return local;
    }

    /// <summary>Free TCP ports on 127.0.0.1, distinct from each other.</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }

    /// <summary>Kills the process tree and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task<bool> AcceptsConnectionsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 64 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }
}
