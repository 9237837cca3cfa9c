namespace Serverless.Storage.Azure;

/// <summary>Azure's naming rules, checked before sending so bad input fails fast with a clear message.</summary>
public static class StorageNames
{
    /// <summary>Container or queue: 3..63 chars of lowercase letters, digits and '-', starting and ending with a letter or digit, no "--".</summary>
    public static void ValidateContainerOrQueue(string name, string kind = "container")
    {
        ArgumentNullException.ThrowIfNull(name);
        var ok = name.Length is >= 3 and <= 63
            && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
            && name[0] != '-' && name[^1] != '-'
            && !name.Contains("--", StringComparison.Ordinal);
        if (!ok)
        {
            throw new ArgumentException($"'{name}' is not a valid {kind} name: use 3..63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.", nameof(name));
        }
    }

    /// <summary>Blob: 1..1024 characters, no control characters.</summary>
    public static void ValidateBlob(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is < 1 or > 1024 || name.Any(char.IsControl))
        {
            throw new ArgumentException($"'{(name.Length > 64 ? name[..64] + "..." : name)}' is not a valid blob name: use 1..1024 characters without control characters.", nameof(name));
        }
    }

    /// <summary>Metadata: names are C# identifiers, values printable ASCII (they travel as HTTP headers).</summary>
    public static void ValidateMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        foreach (var (key, value) in metadata)
        {
            var validName = key.Length > 0 && (char.IsAsciiLetter(key[0]) || key[0] == '_') && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
            if (!validName)
            {
                throw new ArgumentException($"Metadata name '{key}' must be a C# identifier (ASCII letters, digits, '_').", nameof(metadata));
            }

            if (value is null || value.Any(c => c is < ' ' or > '~'))
            {
                throw new ArgumentException($"Metadata value of '{key}' must be printable ASCII.", nameof(metadata));
            }
        }
    }
}
