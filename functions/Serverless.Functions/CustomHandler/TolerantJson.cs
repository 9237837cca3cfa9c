using System.Globalization;
using System.Text.Json;

namespace Serverless.Functions.CustomHandler;

/// <summary>
/// Reads custom-handler payload values whatever encoding the host chose: plain values, JSON strings
/// holding JSON one level deeper, numbers written as strings.
/// </summary>
public static class TolerantJson
{
    private const int MaxNesting = 3;

    /// <summary>
    /// The text of a queue message. A JSON string is unwrapped, and unwrapped once more when its
    /// content is itself a JSON string literal (the host's double serialization); objects and arrays
    /// (a host that parsed JSON messages) come back as their JSON text; other values as written.
    /// </summary>
    public static string MessageText(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            return value.GetRawText();
        }

        var text = value.GetString() ?? string.Empty;
        return TryUnquote(text, out var inner) ? inner : text;
    }

    /// <summary>A scalar as text: strings unwrapped (twice if double-encoded), other values as written.</summary>
    public static string? ScalarText(JsonElement? value)
    {
        if (value is not { } element || element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return null;
        }

        return element.ValueKind == JsonValueKind.String ? MessageText(element) : element.GetRawText();
    }

    /// <summary>An integer written as a number, a string, or a JSON string holding a string.</summary>
    public static long? WholeNumber(JsonElement? value) =>
        ScalarText(value) is { } text && long.TryParse(text.Trim().Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    /// <summary>A timestamp written as an ISO 8601 string (possibly double-encoded).</summary>
    public static DateTimeOffset? Timestamp(JsonElement? value) =>
        ScalarText(value) is { } text && DateTimeOffset.TryParse(text.Trim().Trim('"'), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : null;

    /// <summary>
    /// JSON objects found in <paramref name="value"/>: an object, an array of objects, or a string
    /// holding either (up to three levels of string encoding).
    /// </summary>
    /// <exception cref="InvalidInvocationException">The value holds no JSON object.</exception>
    public static IReadOnlyList<JsonElement> Objects(JsonElement value)
    {
        var current = value;
        for (var depth = 0; depth <= MaxNesting; depth++)
        {
            switch (current.ValueKind)
            {
                case JsonValueKind.Object:
                    return [current.Clone()];
                case JsonValueKind.Array:
                    var items = current.EnumerateArray().SelectMany(Objects).ToList();
                    return items;
                case JsonValueKind.String:
                    if (!TryParse(current.GetString() ?? string.Empty, out current))
                    {
                        throw new InvalidInvocationException("Expected a JSON object but found plain text.");
                    }

                    break;
                default:
                    throw new InvalidInvocationException($"Expected a JSON object but found a {current.ValueKind}.");
            }
        }

        throw new InvalidInvocationException($"Expected a JSON object but found more than {MaxNesting} levels of string encoding.");
    }

    /// <summary>True when <paramref name="text"/> is a JSON string literal; <paramref name="inner"/> is its content.</summary>
    private static bool TryUnquote(string text, out string inner)
    {
        var trimmed = text.AsSpan().Trim();
        if (trimmed.Length >= 2 && trimmed[0] == '"' && trimmed[^1] == '"'
            && TryParse(trimmed.ToString(), out var parsed) && parsed.ValueKind == JsonValueKind.String)
        {
            inner = parsed.GetString() ?? string.Empty;
            return true;
        }

        inner = text;
        return false;
    }

    private static bool TryParse(string text, out JsonElement element)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            element = document.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            element = default;
            return false;
        }
    }
}
