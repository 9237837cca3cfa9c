namespace Serverless.Storage.Azure;

/// <summary>
/// Where the Azure Storage account is and how to authenticate to it. With <see cref="AccountKey"/>
/// requests are signed with Shared Key (Azurite and local use only; production accounts disable
/// Shared Key); without it they carry Entra ID bearer tokens from a managed identity.
/// </summary>
/// <param name="BlobEndpoint">The Blob service endpoint, e.g. <c>https://acct.blob.core.windows.net</c> or Azurite's path-style <c>http://127.0.0.1:10000/devstoreaccount1</c>.</param>
/// <param name="QueueEndpoint">The Queue service endpoint.</param>
/// <param name="AccountName">The storage account's name (required for Shared Key and SAS).</param>
/// <param name="AccountKey">The Base64 account key, or null for Entra ID.</param>
/// <param name="ManagedIdentityClientId">A user-assigned managed identity's client id; null uses <c>DefaultAzureCredential</c>.</param>
public sealed record AzureStorageOptions(
    Uri BlobEndpoint,
    Uri QueueEndpoint,
    string? AccountName = null,
    string? AccountKey = null,
    string? ManagedIdentityClientId = null)
{
    /// <summary>Azurite's well-known development account name.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    /// <summary>Azurite's well-known development account key (public, documented; not a secret).</summary>
    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>True when requests are signed with the account key rather than bearer tokens.</summary>
    public bool UsesSharedKey => AccountKey is not null;

    /// <summary>
    /// Parses an Azure Storage connection string: <c>UseDevelopmentStorage=true</c>, or
    /// <c>DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;</c> with optional
    /// <c>BlobEndpoint</c>/<c>QueueEndpoint</c>/<c>EndpointSuffix</c>.
    /// </summary>
    /// <exception cref="FormatException">The string is malformed or lacks what is needed to reach both services.</exception>
    public static AzureStorageOptions FromConnectionString(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var segment in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = segment.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"Connection string segment '{Redact(segment)}' is not Name=Value.");
            }

            // Keys end in '=' padding, so only the first '=' separates name from value.
            parts[segment[..eq].Trim()] = segment[(eq + 1)..].Trim();
        }

        if (parts.TryGetValue("UseDevelopmentStorage", out var dev) && bool.TryParse(dev, out var useDev) && useDev)
        {
            var proxy = parts.TryGetValue("DevelopmentStorageProxyUri", out var p) ? p.TrimEnd('/') : "http://127.0.0.1";
            return new AzureStorageOptions(
                new Uri($"{proxy}:10000/{DevelopmentAccountName}"),
                new Uri($"{proxy}:10001/{DevelopmentAccountName}"),
                DevelopmentAccountName,
                DevelopmentAccountKey);
        }

        parts.TryGetValue("AccountName", out var account);
        parts.TryGetValue("AccountKey", out var key);
        var protocol = parts.TryGetValue("DefaultEndpointsProtocol", out var proto) ? proto.ToLowerInvariant() : "https";
        if (protocol is not ("http" or "https"))
        {
            throw new FormatException($"DefaultEndpointsProtocol must be http or https, not '{protocol}'.");
        }

        var suffix = parts.TryGetValue("EndpointSuffix", out var s) ? s : "core.windows.net";
        var blob = Endpoint(parts, "BlobEndpoint", account, protocol, "blob", suffix);
        var queue = Endpoint(parts, "QueueEndpoint", account, protocol, "queue", suffix);
        if (key is not null)
        {
            if (string.IsNullOrEmpty(account))
            {
                throw new FormatException("A connection string with AccountKey needs AccountName.");
            }

            if (!IsBase64(key))
            {
                throw new FormatException("AccountKey is not valid Base64.");
            }
        }

        return new AzureStorageOptions(blob, queue, string.IsNullOrEmpty(account) ? null : account, string.IsNullOrEmpty(key) ? null : key);
    }

    private static Uri Endpoint(Dictionary<string, string> parts, string name, string? account, string protocol, string service, string suffix)
    {
        if (parts.TryGetValue(name, out var explicitEndpoint))
        {
            return Uri.TryCreate(explicitEndpoint.TrimEnd('/'), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                ? uri
                : throw new FormatException($"{name} '{explicitEndpoint}' is not an absolute http(s) URL.");
        }

        return string.IsNullOrEmpty(account)
            ? throw new FormatException($"The connection string has neither {name} nor AccountName.")
            : new Uri($"{protocol}://{account}.{service}.{suffix}");
    }

    private static bool IsBase64(string value)
    {
        var buffer = new byte[value.Length];
        return Convert.TryFromBase64String(value, buffer, out _);
    }

    private static string Redact(string segment) =>
        segment.StartsWith("AccountKey", StringComparison.OrdinalIgnoreCase) ? "AccountKey=***" : segment;
}
