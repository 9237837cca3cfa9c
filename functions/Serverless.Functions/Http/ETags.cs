namespace Serverless.Functions.Http;

/// <summary>ETag and If-Match handling shared by the endpoints that support optimistic concurrency.</summary>
public static class ETags
{
    /// <summary>Sets the response's <c>ETag</c> header, quoted as HTTP requires.</summary>
    public static void Set(HttpResponse response, string etag)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(etag);
        response.Headers.ETag = etag.StartsWith('"') ? etag : $"\"{etag}\"";
    }

    /// <summary>The tag of an <c>If-Match</c> header without its quotes, or null when the header is absent.</summary>
    public static string? Unquote(string? ifMatch) =>
        string.IsNullOrWhiteSpace(ifMatch) ? null : ifMatch.Trim().Trim('"');

    /// <summary>Whether an <c>If-Match</c> value names the stored version <paramref name="etag"/> (quotes and spaces ignored).</summary>
    public static bool Same(string ifMatch, string etag)
    {
        ArgumentNullException.ThrowIfNull(ifMatch);
        ArgumentNullException.ThrowIfNull(etag);
        return string.Equals(ifMatch.Trim().Trim('"'), etag.Trim('"'), StringComparison.Ordinal);
    }
}
