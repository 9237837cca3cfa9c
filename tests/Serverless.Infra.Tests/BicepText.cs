using System.Text;
using System.Text.RegularExpressions;

namespace Serverless.Infra.Tests;

/// <summary>
/// Just enough reading of Bicep to check consistency without the Bicep compiler (not available on
/// our machines): comment stripping, bracket balance, and the list and object literals main.bicep
/// keeps in a fixed one-entry-per-line shape.
/// </summary>
internal static partial class BicepText
{
    /// <summary>Checks that braces, brackets and parentheses nest correctly outside strings and comments (interpolations included).</summary>
    /// <returns>Null when balanced, else what is wrong and where.</returns>
    public static string? FindBracketError(string text)
    {
        // Stack entries: '{', '[', '(' for code brackets, 'S' for a string, 'I' for a ${ interpolation.
        var stack = new Stack<(char Kind, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n')
            {
                line++;
            }

            var inString = stack.Count > 0 && stack.Peek().Kind == 'S';
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '\'')
                {
                    stack.Pop();
                }
                else if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
                {
                    stack.Push(('I', line));
                    i++;
                }

                continue;
            }

            if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }

                line++;
                continue;
            }

            if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    return $"line {line}: unterminated /* comment";
                }

                line += text.AsSpan(i, end - i).Count('\n');
                i = end + 1;
                continue;
            }

            switch (c)
            {
                case '\'':
                    stack.Push(('S', line));
                    break;
                case '{' or '[' or '(':
                    stack.Push((c, line));
                    break;
                case '}' or ']' or ')':
                    var open = c switch { '}' => '{', ']' => '[', _ => '(' };
                    if (stack.Count == 0)
                    {
                        return $"line {line}: '{c}' closes nothing";
                    }

                    var top = stack.Pop();
                    if (c == '}' && top.Kind == 'I')
                    {
                        break; // end of an interpolation: back inside the string
                    }

                    if (top.Kind != open)
                    {
                        return $"line {line}: '{c}' closes '{top.Kind}' opened on line {top.Line}";
                    }

                    break;
            }
        }

        return stack.Count == 0 ? null : $"'{stack.Peek().Kind}' opened on line {stack.Peek().Line} is never closed";
    }

    /// <summary>The entries of <c>var name = [ ... ]</c> (one per line), quoted literals or names of string vars resolved.</summary>
    public static IReadOnlyList<string> StringArrayVar(string bicep, string name)
    {
        var match = Regex.Match(bicep, $@"^var {Regex.Escape(name)} = \[\s*\n(?<body>.*?)^\]", RegexOptions.Multiline | RegexOptions.Singleline);
        if (!match.Success)
        {
            throw new InvalidOperationException($"main.bicep has no 'var {name} = [' list.");
        }

        var entries = new List<string>();
        foreach (var raw in match.Groups["body"].Value.Split('\n'))
        {
            var entry = raw.Trim();
            if (entry.Length == 0 || entry.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            entries.Add(entry.StartsWith('\'') ? entry.Trim('\'') : StringVar(bicep, entry));
        }

        return entries;
    }

    /// <summary>The value of <c>var name = 'value'</c>.</summary>
    public static string StringVar(string bicep, string name)
    {
        var match = Regex.Match(bicep, $@"^var {Regex.Escape(name)} = '(?<value>[^']*)'", RegexOptions.Multiline);
        return match.Success ? match.Groups["value"].Value : throw new InvalidOperationException($"No 'var {name} = '...'' in the Bicep file.");
    }

    /// <summary>The Cosmos container entries of main.bicep: <c>{ name: 'x', partitionKeyPath: '/pk', indexedPaths: [ 'a' ] }</c>.</summary>
    public static IReadOnlyList<BicepCosmosContainer> CosmosContainers(string bicep)
    {
        var entries = CosmosContainerLine().Matches(bicep)
            .Select(m => new BicepCosmosContainer(
                m.Groups["name"].Value,
                m.Groups["pk"].Value,
                QuotedStrings().Matches(m.Groups["paths"].Value).Select(p => p.Groups["value"].Value).ToArray()))
            .ToList();
        return entries.Count > 0 ? entries : throw new InvalidOperationException("main.bicep lists no Cosmos containers in the expected shape.");
    }

    /// <summary>The keys of the function app's <c>appsettings</c> config block, with their raw values.</summary>
    public static IReadOnlyDictionary<string, string> AppSettings(string functionBicep)
    {
        var start = functionBicep.IndexOf("name: 'appsettings'", StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException("function.bicep has no appsettings config resource.");
        }

        var open = functionBicep.IndexOf("properties: {", start, StringComparison.Ordinal) + "properties: ".Length;
        var depth = 0;
        var end = open;
        for (; end < functionBicep.Length; end++)
        {
            depth += functionBicep[end] switch { '{' => 1, '}' => -1, _ => 0 };
            if (depth == 0)
            {
                break;
            }
        }

        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in SettingLine().Matches(functionBicep[open..end]))
        {
            settings.Add(m.Groups["key"].Value, m.Groups["value"].Value.Trim());
        }

        return settings;
    }

    /// <summary>Text without <c>//</c> line comments (strings containing // are rare in our files and kept).</summary>
    public static string WithoutLineComments(string text)
    {
        var sb = new StringBuilder();
        foreach (var raw in text.Split('\n'))
        {
            var trimmed = raw.TrimStart();
            if (!trimmed.StartsWith("//", StringComparison.Ordinal))
            {
                sb.Append(raw).Append('\n');
            }
        }

        return sb.ToString();
    }

    [GeneratedRegex(@"\{\s*name:\s*'(?<name>[^']+)',\s*partitionKeyPath:\s*'(?<pk>[^']+)',\s*indexedPaths:\s*\[(?<paths>[^\]]*)\]\s*\}")]
    private static partial Regex CosmosContainerLine();

    [GeneratedRegex(@"'(?<value>[^']*)'")]
    private static partial Regex QuotedStrings();

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z_][A-Za-z0-9_]*):\s*(?<value>.+)$", RegexOptions.Multiline)]
    private static partial Regex SettingLine();
}

/// <summary>One Cosmos container as main.bicep declares it.</summary>
internal sealed record BicepCosmosContainer(string Name, string PartitionKeyPath, IReadOnlyList<string> IndexedPaths);
