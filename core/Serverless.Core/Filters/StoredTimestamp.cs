using System.Globalization;
using System.Text.RegularExpressions;

namespace Serverless.Core.Filters;

/// <summary>
/// How timestamps are stored in documents: ISO-8601 UTC strings of fixed width,
/// <c>2024-05-01T12:00:00.0000000Z</c>, the format Cosmos DB recommends. Fixed width makes the
/// lexical order the chronological order, so range filters and sorting work on plain strings in both stores.
/// </summary>
/// <remarks>Writers of filterable timestamps (items' <c>createdAt</c>/<c>updatedAt</c>) must use
/// <see cref="Format"/>; filters convert the timestamps they receive with <see cref="TryParse"/>.</remarks>
public static partial class StoredTimestamp
{
    private const string StoredFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>The stored representation of <paramref name="value"/> (converted to UTC).</summary>
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString(StoredFormat, CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses an ISO-8601 timestamp as filters accept it: a date (<c>2024-05-01</c>, midnight UTC) or a
    /// date and time with a zone (<c>2024-05-01T12:00Z</c>, <c>2024-05-01T12:00:00.5+02:00</c>). A time
    /// without a zone is refused because its instant would be a guess.
    /// </summary>
    public static bool TryParse(string text, out DateTimeOffset value)
    {
        value = default;
        if (text.Length > 40)
        {
            return false;
        }

        if (DateOnlyPattern().IsMatch(text))
        {
            return DateTimeOffset.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
        }

        return DateTimePattern().IsMatch(text) &&
               DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out value);
    }

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", RegexOptions.CultureInvariant)]
    private static partial Regex DateOnlyPattern();

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,7})?)?(Z|[+-][0-9]{2}:[0-9]{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimePattern();
}
