using System.Text;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Filters;

/// <summary>
/// The glob shapes the document stores can answer with an index-friendly string function:
/// <c>text</c> (equals), <c>text*</c> (starts with), <c>*text</c> (ends with), <c>*text*</c> (contains),
/// <c>*</c> (any string). Matching is case-sensitive. A backslash makes the next <c>*</c>, <c>?</c>,
/// <c>[</c>, <c>]</c> or <c>\</c> literal. Other shapes (<c>a*b</c>, <c>?</c>, <c>[abc]</c>) are refused
/// rather than approximated, because neither store can evaluate them without scanning.
/// </summary>
public static class GlobPattern
{
    private const string Supported =
        "supported shapes are 'text' (equals), 'text*' (starts with), '*text' (ends with), '*text*' (contains) and '*' (any string); " +
        "write \\*, \\?, \\[, \\] or \\\\ for a literal character";

    /// <summary>Compiles <paramref name="pattern"/> over the string at <paramref name="documentPath"/>.</summary>
    /// <exception cref="FilterException">The pattern has an unsupported shape.</exception>
    public static Filter Compile(string documentPath, string pattern, string location)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var literal = new StringBuilder(pattern.Length);
        var leading = false;
        var trailing = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '\\':
                    if (i + 1 >= pattern.Length || pattern[i + 1] is not ('*' or '?' or '[' or ']' or '\\'))
                    {
                        throw new FilterException(location, $"Glob '{pattern}' has a backslash that escapes nothing at position {i}; {Supported}.");
                    }

                    literal.Append(pattern[++i]);
                    break;
                case '*':
                    if (i == 0)
                    {
                        leading = true;
                    }
                    else if (i == pattern.Length - 1 && !trailing)
                    {
                        trailing = true;
                    }
                    else
                    {
                        throw Unsupported(pattern, location);
                    }

                    break;
                case '?' or '[' or ']':
                    throw Unsupported(pattern, location);
                default:
                    literal.Append(c);
                    break;
            }
        }

        var text = literal.ToString();
        return (leading, trailing) switch
        {
            (false, false) => Filter.Eq(documentPath, text),
            (false, true) => Filter.StartsWith(documentPath, text),
            (true, false) when pattern.Length == 1 => Filter.StartsWith(documentPath, string.Empty),
            (true, false) => Filter.EndsWith(documentPath, text),
            (true, true) => Filter.Contains(documentPath, text),
        };
    }

    private static FilterException Unsupported(string pattern, string location) =>
        new(location, $"Unsupported glob '{pattern}': {Supported}.");
}
