using System.Text;
using System.Text.RegularExpressions;

namespace Serverless.Durable.Tests;

/// <summary>A forbidden API found in an orchestrator class.</summary>
public sealed record DeterminismViolation(string File, int Line, string Orchestrator, string Api);

/// <summary>
/// Finds classes deriving from <c>TaskOrchestrator&lt;,&gt;</c> (or implementing <c>ITaskOrchestrator</c>)
/// in C# source text and reports the non-deterministic APIs used inside their bodies. A text scan,
/// not Roslyn (not referenced here): comments and string literals are blanked first so that
/// mentions in docs do not count, while code inside interpolation holes still does.
/// </summary>
public static partial class DeterminismScanner
{
    private static readonly (string Api, Regex Pattern)[] Forbidden =
    [
        ("DateTime.UtcNow/Now/Today", ApiRegex(@"\bDateTime\s*\.\s*(UtcNow|Now|Today)\b")),
        ("DateTimeOffset.UtcNow/Now", ApiRegex(@"\bDateTimeOffset\s*\.\s*(UtcNow|Now)\b")),
        ("Guid.NewGuid", ApiRegex(@"\bGuid\s*\.\s*NewGuid\b")),
        ("Task.Delay", ApiRegex(@"\bTask\s*\.\s*Delay\b")),
        ("Task.Run", ApiRegex(@"\bTask\s*\.\s*Run\b")),
        ("Task.Factory.StartNew", ApiRegex(@"\bFactory\s*\.\s*StartNew\b")),
        ("Thread.Sleep", ApiRegex(@"\bThread\s*\.\s*Sleep\b")),
        ("new Thread", ApiRegex(@"\bnew\s+Thread\b")),
        ("Random", ApiRegex(@"\b(new\s+Random\b|Random\s*\.\s*Shared\b)")),
        ("Stopwatch", ApiRegex(@"\bStopwatch\b")),
        ("ConfigureAwait(false)", ApiRegex(@"\bConfigureAwait\s*\(\s*false\s*\)")),
        ("Environment variables", ApiRegex(@"\bEnvironment\s*\.\s*GetEnvironmentVariable")),
        ("File/Directory I/O", ApiRegex(@"\b(File|Directory|FileStream|StreamReader|StreamWriter)\s*[.(]")),
        ("HttpClient", ApiRegex(@"\bHttpClient\b")),
        ("Socket/network", ApiRegex(@"\b(Socket|TcpClient|WebRequest)\b")),
    ];

    /// <summary>Every <c>.cs</c> file under <paramref name="root"/> except build output and packages.</summary>
    public static IEnumerable<string> SourceFiles(string root) =>
        Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(path => !path.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "node_modules" or ".git"));

    /// <summary>Orchestrator class names declared in <paramref name="source"/>.</summary>
    public static IReadOnlyList<string> FindOrchestrators(string source) =>
        [.. OrchestratorDeclaration().Matches(Blank(source)).Select(m => m.Groups["name"].Value)];

    /// <summary>Violations inside the orchestrator classes of <paramref name="source"/>.</summary>
    public static IReadOnlyList<DeterminismViolation> Scan(string source, string file)
    {
        ArgumentNullException.ThrowIfNull(source);
        var code = Blank(source);
        var violations = new List<DeterminismViolation>();
        foreach (Match declaration in OrchestratorDeclaration().Matches(code))
        {
            var open = code.IndexOf('{', declaration.Index + declaration.Length - 1);
            if (open < 0)
            {
                continue;
            }

            var close = MatchingBrace(code, open);
            var body = code[open..close];
            foreach (var (api, pattern) in Forbidden)
            {
                foreach (Match hit in pattern.Matches(body))
                {
                    var line = code.AsSpan(0, open + hit.Index).Count('\n') + 1;
                    violations.Add(new DeterminismViolation(file, line, declaration.Groups["name"].Value, api));
                }
            }
        }

        return violations;
    }

    private static int MatchingBrace(string code, int open)
    {
        var depth = 0;
        for (var i = open; i < code.Length; i++)
        {
            if (code[i] == '{')
            {
                depth++;
            }
            else if (code[i] == '}' && --depth == 0)
            {
                return i;
            }
        }

        return code.Length;
    }

    /// <summary>Replaces comments and string/char literal text with spaces (keeping newlines and interpolation holes).</summary>
    internal static string Blank(string source)
    {
        var output = new StringBuilder(source.Length);
        var i = 0;
        while (i < source.Length)
        {
            var c = source[i];
            var next = i + 1 < source.Length ? source[i + 1] : '\0';
            if (c == '/' && next == '/')
            {
                while (i < source.Length && source[i] != '\n')
                {
                    output.Append(' ');
                    i++;
                }
            }
            else if (c == '/' && next == '*')
            {
                var end = source.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? source.Length : end + 2;
                AppendBlank(output, source, i, end);
                i = end;
            }
            else if (c == '\'')
            {
                var end = i + 1;
                while (end < source.Length && source[end] != '\'')
                {
                    end += source[end] == '\\' ? 2 : 1;
                }

                end = Math.Min(end + 1, source.Length);
                AppendBlank(output, source, i, end);
                i = end;
            }
            else if (c == '"' || ((c is '$' or '@') && (next == '"' || (next is '$' or '@' && i + 2 < source.Length && source[i + 2] == '"'))))
            {
                i = BlankString(output, source, i);
            }
            else
            {
                output.Append(c);
                i++;
            }
        }

        return output.ToString();
    }

    private static int BlankString(StringBuilder output, string source, int start)
    {
        var i = start;
        var interpolated = false;
        var verbatim = false;
        while (source[i] is '$' or '@')
        {
            interpolated |= source[i] == '$';
            verbatim |= source[i] == '@';
            output.Append(' ');
            i++;
        }

        if (source.AsSpan(i).StartsWith("\"\"\"", StringComparison.Ordinal))
        {
            var end = source.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
            end = end < 0 ? source.Length : end + 3;
            AppendBlank(output, source, i, end);
            return end;
        }

        output.Append(' ');
        i++;
        while (i < source.Length)
        {
            var c = source[i];
            if (!verbatim && c == '\\')
            {
                AppendBlank(output, source, i, Math.Min(i + 2, source.Length));
                i += 2;
            }
            else if (c == '"' && verbatim && i + 1 < source.Length && source[i + 1] == '"')
            {
                output.Append("  ");
                i += 2;
            }
            else if (c == '"')
            {
                output.Append(' ');
                return i + 1;
            }
            else if (interpolated && c == '{' && i + 1 < source.Length && source[i + 1] == '{')
            {
                output.Append("  ");
                i += 2;
            }
            else if (interpolated && c == '{')
            {
                // Code inside a hole stays visible to the scan.
                var depth = 0;
                while (i < source.Length)
                {
                    if (source[i] == '{')
                    {
                        depth++;
                    }
                    else if (source[i] == '}' && --depth == 0)
                    {
                        output.Append(' ');
                        i++;
                        break;
                    }

                    output.Append(source[i] is '{' ? ' ' : source[i]);
                    i++;
                }
            }
            else
            {
                output.Append(c == '\n' ? '\n' : ' ');
                i++;
            }
        }

        return i;
    }

    private static void AppendBlank(StringBuilder output, string source, int from, int to)
    {
        for (var k = from; k < to && k < source.Length; k++)
        {
            output.Append(source[k] == '\n' ? '\n' : ' ');
        }
    }

    private static Regex ApiRegex(string pattern) => new(pattern, RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture);

    [GeneratedRegex(@"\bclass\s+(?<name>\w+)(\s*<[^>{]*>)?(\s*\([^)]*\))?\s*:\s*[^{;]*?\b(TaskOrchestrator\s*<|ITaskOrchestrator\b)", RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture)]
    private static partial Regex OrchestratorDeclaration();
}
