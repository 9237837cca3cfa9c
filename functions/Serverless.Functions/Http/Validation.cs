namespace Serverless.Functions.Http;

/// <summary>Collects field errors of one request; the handler returns 400 when any exist, before writing anything.</summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public IDictionary<string, string[]> ToDictionary() => _errors;

    public void Add(string field, string message) =>
        _errors[field] = _errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];

    /// <summary>
    /// An optional ISO-8601 date or date-time with a zone, in the stored form (<c>StoredTimestamp.Format</c>);
    /// null when absent or invalid (then an error names the field).
    /// </summary>
    public string? Timestamp(string field, string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (Serverless.Core.Filters.StoredTimestamp.TryParse(value, out var parsed))
        {
            return Serverless.Core.Filters.StoredTimestamp.Format(parsed);
        }

        Add(field, $"'{field}' is an ISO-8601 date or date-time with a zone, e.g. 2026-05-01 or 2026-05-01T12:00:00Z.");
        return null;
    }

    /// <summary>A display name: 1..<paramref name="maxLength"/> characters after trimming, no control characters.</summary>
    public string? Name(string field, string? value, int maxLength = 200, bool required = true)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, $"'{field}' is required.");
            }

            return null;
        }

        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            Add(field, $"'{field}' must not be empty or blank.");
            return null;
        }

        if (trimmed.Length > maxLength)
        {
            Add(field, $"'{field}' is {trimmed.Length} characters long; the limit is {maxLength}.");
            return null;
        }

        if (trimmed.Any(char.IsControl))
        {
            Add(field, $"'{field}' must not contain control characters.");
            return null;
        }

        return trimmed;
    }
}

/// <summary>Paging rules shared by every list endpoint.</summary>
public static class Paging
{
    public const int DefaultPageSize = 50;

    /// <summary>The largest page a list endpoint returns; larger requests are refused, not silently cut.</summary>
    public const int MaxPageSize = 200;

    /// <summary>Checks <c>pageSize</c> and returns it (default when absent); adds an error naming the field otherwise.</summary>
    public static int PageSize(int? requested, FieldErrors errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (requested is null)
        {
            return DefaultPageSize;
        }

        if (requested is < 1 or > MaxPageSize)
        {
            errors.Add("pageSize", $"'pageSize' must be between 1 and {MaxPageSize}; it is {requested}.");
            return DefaultPageSize;
        }

        return requested.Value;
    }
}

/// <summary>One page of a list: the items and the token for the next page (null at the end).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? ContinuationToken);
