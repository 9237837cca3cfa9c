using System.Text;

namespace Serverless.Core.Exports.Zip;

/// <summary>
/// Makes entry names safe to extract anywhere: relative, forward slashes, no <c>.</c>/<c>..</c>
/// segments, no drive letters, no control characters or characters Windows refuses (':' would even
/// open an NTFS alternate stream), no trailing dots or spaces (Windows drops them, merging names).
/// </summary>
public static class ZipEntryNames
{
    /// <summary>Longest name in UTF-8 bytes (the header field is 16-bit; we stay well below).</summary>
    public const int MaxNameBytes = 4096;

    private const string WindowsRefused = "<>:\"|?*";

    /// <summary>Returns the safe form of <paramref name="name"/>, or throws under <see cref="ZipNamePolicy.Reject"/> if it needed changes.</summary>
    public static string Sanitize(string name, ZipNamePolicy policy = ZipNamePolicy.Sanitize)
    {
        ArgumentNullException.ThrowIfNull(name);
        string? reason = null;
        var text = name;
        if (text.Contains('\\', StringComparison.Ordinal))
        {
            reason ??= "it contains backslashes";
            text = text.Replace('\\', '/');
        }

        if (text.Length >= 2 && char.IsAsciiLetter(text[0]) && text[1] == ':')
        {
            reason ??= "it starts with a drive letter";
            text = text[2..];
        }

        if (text.StartsWith('/'))
        {
            reason ??= "it is an absolute path";
        }

        var builder = new StringBuilder(text.Length);
        foreach (var segment in text.Split('/'))
        {
            if (segment.Length == 0)
            {
                continue;
            }

            if (segment is "." or "..")
            {
                reason ??= $"it contains a '{segment}' segment";
                continue;
            }

            var clean = CleanSegment(segment, ref reason);
            if (clean.Length == 0)
            {
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append('/');
            }

            builder.Append(clean);
        }

        var result = builder.ToString();
        if (result.Length == 0)
        {
            throw new ZipEntryNameException(name, "nothing is left of it after removing unsafe parts");
        }

        if (reason is not null && policy == ZipNamePolicy.Reject)
        {
            throw new ZipEntryNameException(name, reason);
        }

        if (Encoding.UTF8.GetByteCount(result) > MaxNameBytes)
        {
            throw new ZipEntryNameException(name, $"it is longer than {MaxNameBytes} UTF-8 bytes");
        }

        return result;
    }

    /// <summary>Returns <paramref name="name"/>, or <c>stem (2).ext</c>, <c>stem (3).ext</c> ... until <paramref name="isTaken"/> says no.</summary>
    public static string MakeUnique(string name, Func<string, bool> isTaken)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(isTaken);
        if (!isTaken(name))
        {
            return name;
        }

        var slash = name.LastIndexOf('/');
        var dot = name.LastIndexOf('.');
        var split = dot > slash + 1 ? dot : name.Length;
        var stem = name[..split];
        var extension = name[split..];
        for (var n = 2; ; n++)
        {
            var candidate = $"{stem} ({n}){extension}";
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }
    }

    private static string CleanSegment(string segment, ref string? reason)
    {
        var chars = segment.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (char.IsControl(c))
            {
                reason ??= "it contains control characters";
                chars[i] = '_';
            }
            else if (WindowsRefused.Contains(c, StringComparison.Ordinal))
            {
                reason ??= $"it contains '{c}'";
                chars[i] = '_';
            }
        }

        var clean = new string(chars);
        var trimmed = clean.TrimEnd('.', ' ');
        if (trimmed.Length != clean.Length)
        {
            reason ??= "a segment ends with a dot or a space";
        }

        return trimmed;
    }
}
