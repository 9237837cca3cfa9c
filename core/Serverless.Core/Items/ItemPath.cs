using System.Globalization;
using System.Text;

namespace Serverless.Core.Items;

/// <summary>Why an item name or folder path was refused.</summary>
public enum ItemPathProblem
{
    Empty,
    DotSegment,
    EmptySegment,
    ControlCharacter,
    Backslash,
    SlashInName,
    DriveLetter,
    NotAbsolute,
    TrailingSlash,
    SurroundingWhitespace,
    InvalidUnicode,
    NameTooLong,
    PathTooLong,
}

/// <summary>An item name or folder path was refused; <see cref="Problem"/> says why, the message says how to fix it.</summary>
public sealed class ItemPathException(ItemPathProblem problem, string message) : Exception(message)
{
    public ItemPathProblem Problem { get; } = problem;
}

/// <summary>
/// Normalizes and checks item names (<c>cat.png</c>) and folder paths (<c>/animals/cats</c>). Strings are
/// put in Unicode NFC so that visually equal names are equal; nothing else is rewritten: a path that
/// would need cleaning (<c>..</c>, <c>.</c>, <c>//</c>, a trailing <c>/</c>, backslashes, drive letters,
/// control characters) is refused with an <see cref="ItemPathException"/> rather than silently repaired.
/// </summary>
public static class ItemPath
{
    /// <summary>Longest name, in UTF-8 bytes (common file-system limit).</summary>
    public const int MaxNameBytes = 255;

    /// <summary>Longest folder path or full path, in characters (after NFC).</summary>
    public const int MaxPathLength = 1024;

    /// <summary>The root folder.</summary>
    public const string Root = "/";

    /// <summary>Returns the NFC form of an item name after checking it.</summary>
    /// <exception cref="ItemPathException">The name is empty, '.', '..', too long, or holds '/', '\', a control character or a drive prefix.</exception>
    public static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var normalized = Nfc(name, "name");
        CheckSegment(normalized, "Item name", isName: true);
        return normalized;
    }

    /// <summary>Returns the NFC form of a folder path after checking it: <c>/</c> or <c>/a/b</c>.</summary>
    /// <exception cref="ItemPathException">The path is not absolute, has empty, '.' or '..' segments, a trailing '/',
    /// backslashes, a drive letter, control characters, or is too long.</exception>
    public static string NormalizeFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var normalized = Nfc(folder, "folder path");
        CheckAbsolute(normalized, "Folder path");
        if (normalized.Length > MaxPathLength)
        {
            throw new ItemPathException(ItemPathProblem.PathTooLong, $"The folder path is {normalized.Length} characters long; the limit is {MaxPathLength}.");
        }

        if (normalized == Root)
        {
            return normalized;
        }

        if (normalized.EndsWith('/'))
        {
            throw new ItemPathException(ItemPathProblem.TrailingSlash, $"Folder path '{Printable(normalized)}' ends with '/': write it without the trailing slash (the root folder alone is '/').");
        }

        foreach (var segment in normalized[1..].Split('/'))
        {
            CheckSegment(segment, "A folder name in the path", isName: false);
        }

        return normalized;
    }

    /// <summary>Splits and checks a full item path (<c>/a/b/cat.png</c>) into its folder and name.</summary>
    public static (string Folder, string Name) SplitFullPath(string fullPath)
    {
        ArgumentNullException.ThrowIfNull(fullPath);
        var normalized = Nfc(fullPath, "item path");
        CheckAbsolute(normalized, "Item path");
        if (normalized.Length > MaxPathLength)
        {
            throw new ItemPathException(ItemPathProblem.PathTooLong, $"The item path is {normalized.Length} characters long; the limit is {MaxPathLength}.");
        }

        var slash = normalized.LastIndexOf('/');
        var folder = slash == 0 ? Root : NormalizeFolder(normalized[..slash]);
        var name = normalized[(slash + 1)..];
        if (name.Length == 0)
        {
            throw new ItemPathException(ItemPathProblem.TrailingSlash, $"Item path '{Printable(normalized)}' ends with '/': it names a folder, not an item.");
        }

        return (folder, NormalizeName(name));
    }

    /// <summary>Joins a checked folder and name: <c>/a</c> + <c>b.png</c> = <c>/a/b.png</c>.</summary>
    public static string Combine(string folder, string name)
    {
        var f = NormalizeFolder(folder);
        var n = NormalizeName(name);
        var full = f == Root ? Root + n : f + "/" + n;
        if (full.Length > MaxPathLength)
        {
            throw new ItemPathException(ItemPathProblem.PathTooLong, $"The item path is {full.Length} characters long; the limit is {MaxPathLength}.");
        }

        return full;
    }

    private static string Nfc(string value, string what)
    {
        // Lone surrogates cannot be stored as UTF-8 (and would make normalization throw).
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                throw new ItemPathException(ItemPathProblem.InvalidUnicode, $"The {what} holds an unpaired UTF-16 surrogate at position {i}; send valid Unicode text.");
            }
        }

        return value.Normalize(NormalizationForm.FormC);
    }

    private static void CheckAbsolute(string path, string what)
    {
        if (path.Length == 0)
        {
            throw new ItemPathException(ItemPathProblem.Empty, $"{what} must not be empty; the root folder is '/'.");
        }

        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            throw new ItemPathException(ItemPathProblem.DriveLetter, $"{what} '{Printable(path)}' starts with a drive letter; paths are relative to the dataset and start with '/'.");
        }

        if (path.Contains('\\', StringComparison.Ordinal))
        {
            throw new ItemPathException(ItemPathProblem.Backslash, $"{what} '{Printable(path)}' contains a backslash; separate folders with '/'.");
        }

        if (path[0] != '/')
        {
            throw new ItemPathException(ItemPathProblem.NotAbsolute, $"{what} '{Printable(path)}' must start with '/' (e.g. '/animals/cats').");
        }
    }

    private static void CheckSegment(string segment, string what, bool isName)
    {
        if (segment.Length == 0)
        {
            throw isName
                ? new ItemPathException(ItemPathProblem.Empty, "Item name must not be empty.")
                : new ItemPathException(ItemPathProblem.EmptySegment, "The folder path has an empty segment ('//'); remove the doubled '/'.");
        }

        if (segment is "." or "..")
        {
            throw new ItemPathException(ItemPathProblem.DotSegment, $"{what} must not be '{segment}'; relative segments are not allowed.");
        }

        foreach (var c in segment)
        {
            if (char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                throw new ItemPathException(ItemPathProblem.ControlCharacter, $"{what} '{Printable(segment)}' contains the control character U+{(int)c:X4}.");
            }

            if (c == '\\')
            {
                throw new ItemPathException(ItemPathProblem.Backslash, $"{what} '{Printable(segment)}' contains a backslash; separate folders with '/'.");
            }

            if (c == '/' && isName)
            {
                throw new ItemPathException(ItemPathProblem.SlashInName, $"Item name '{Printable(segment)}' contains '/'; give the folder separately.");
            }
        }

        if (isName && segment.Length >= 2 && char.IsAsciiLetter(segment[0]) && segment[1] == ':')
        {
            throw new ItemPathException(ItemPathProblem.DriveLetter, $"Item name '{Printable(segment)}' starts with a drive letter.");
        }

        if (char.IsWhiteSpace(segment[0]) || char.IsWhiteSpace(segment[^1]))
        {
            throw new ItemPathException(ItemPathProblem.SurroundingWhitespace, $"{what} '{Printable(segment)}' starts or ends with whitespace; remove it.");
        }

        var bytes = Encoding.UTF8.GetByteCount(segment);
        if (bytes > MaxNameBytes)
        {
            throw new ItemPathException(ItemPathProblem.NameTooLong, $"{what} is {bytes} UTF-8 bytes long; the limit is {MaxNameBytes}.");
        }
    }

    private static string Printable(string s) =>
        new(s.Select(c => char.IsControl(c) ? '?' : c).Take(80).ToArray());
}
