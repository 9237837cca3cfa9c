using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace Serverless.Storage.Azure;

/// <summary>
/// Signs Blob and Queue requests with Shared Key, following "Authorize with Shared Key"
/// (version 2009-09-19 and later; Content-Length empty when zero, since 2015-02-21).
/// </summary>
internal sealed class SharedKeySigner
{
    private readonly string _accountName;
    private readonly byte[] _key;

    public SharedKeySigner(string accountName, string base64Key)
    {
        _accountName = accountName;
        _key = Convert.FromBase64String(base64Key);
    }

    public string AccountName => _accountName;

    /// <summary>Adds the <c>Authorization: SharedKey account:signature</c> header (x-ms-date must already be set).</summary>
    public void Sign(HttpRequestMessage request)
    {
        var signature = ComputeSignature(BuildStringToSign(request, _accountName));
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {_accountName}:{signature}");
    }

    /// <summary>HMAC-SHA256 of UTF-8 <paramref name="stringToSign"/> with the account key, Base64-encoded.</summary>
    public string ComputeSignature(string stringToSign) => Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>The string to sign for <paramref name="request"/>; see the spec's field order.</summary>
    public static string BuildStringToSign(HttpRequestMessage request, string accountName)
    {
        var content = request.Content?.Headers;
        var length = content?.ContentLength;
        var sb = new StringBuilder();
        sb.Append(request.Method.Method).Append('\n');
        sb.Append(Join(content?.ContentEncoding)).Append('\n');
        sb.Append(Join(content?.ContentLanguage)).Append('\n');
        sb.Append(length is null or 0 ? string.Empty : length.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(content?.ContentMD5 is { } md5 ? Convert.ToBase64String(md5) : string.Empty).Append('\n');
        sb.Append(content?.ContentType?.ToString() ?? string.Empty).Append('\n');
        sb.Append(string.Empty).Append('\n'); // Date: we always send x-ms-date instead.
        sb.Append(Header(request.Headers, "If-Modified-Since")).Append('\n');
        sb.Append(Header(request.Headers, "If-Match")).Append('\n');
        sb.Append(Header(request.Headers, "If-None-Match")).Append('\n');
        sb.Append(Header(request.Headers, "If-Unmodified-Since")).Append('\n');
        sb.Append(Header(request.Headers, "Range")).Append('\n');
        AppendCanonicalizedHeaders(sb, request);
        AppendCanonicalizedResource(sb, request.RequestUri!, accountName);
        return sb.ToString();
    }

    private static void AppendCanonicalizedHeaders(StringBuilder sb, HttpRequestMessage request)
    {
        var headers = request.Headers
            .Concat(request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>())
            .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            .Select(h => (Name: h.Key.ToLowerInvariant(), Value: string.Join(",", h.Value.Select(Unfold))))
            .OrderBy(h => h.Name, StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            sb.Append(name).Append(':').Append(value).Append('\n');
        }
    }

    private static void AppendCanonicalizedResource(StringBuilder sb, Uri uri, string accountName)
    {
        // The encoded path as sent; for path-style URLs (Azurite) it already starts with the
        // account, which then appears twice — that is what the service computes too.
        sb.Append('/').Append(accountName).Append(uri.AbsolutePath);
        var query = ParseQuery(uri.Query);
        foreach (var group in query.GroupBy(q => q.Name.ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append('\n').Append(group.Key).Append(':')
              .Append(string.Join(",", group.Select(q => q.Value).Order(StringComparer.Ordinal)));
        }
    }

    private static IEnumerable<(string Name, string Value)> ParseQuery(string query)
    {
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            yield return eq < 0
                ? (Uri.UnescapeDataString(pair), string.Empty)
                : (Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..]));
        }
    }

    private static string Header(HttpRequestHeaders headers, string name) =>
        headers.NonValidated.TryGetValues(name, out var values) ? string.Join(",", values) : string.Empty;

    private static string Join(ICollection<string>? values) => values is null || values.Count == 0 ? string.Empty : string.Join(",", values);

    // The spec: replace any linear whitespace (including folding) by a single space and trim.
    private static string Unfold(string value)
    {
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                space = true;
                continue;
            }

            if (space)
            {
                sb.Append(' ');
                space = false;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}
