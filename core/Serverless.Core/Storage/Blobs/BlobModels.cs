namespace Serverless.Core.Storage.Blobs;

/// <summary>Options for uploads.</summary>
/// <param name="ContentType">Stored and served as the blob's Content-Type.</param>
/// <param name="Metadata">Name/value pairs; names must be C# identifiers (Azure's rule).</param>
/// <param name="IfNoneMatchAny">Fail with <see cref="BlobConflictException"/> if the blob already exists.</param>
/// <param name="BlockSize">Bytes per staged block (default 4 MiB; at most 100 MiB).</param>
public sealed record BlobUploadOptions(
    string? ContentType = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    bool IfNoneMatchAny = false,
    int BlockSize = 4 * 1024 * 1024);

/// <summary>What the service reports about a blob.</summary>
public sealed record BlobProperties(
    string Container,
    string Name,
    long Length,
    string? ContentType,
    string ETag,
    DateTimeOffset LastModified,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>A byte range: <paramref name="Offset"/> and optional <paramref name="Length"/> (to the end when null).</summary>
public sealed record BlobRange(long Offset, long? Length = null);

/// <summary>An open download. Dispose it to release the connection.</summary>
public sealed class BlobDownload(BlobProperties properties, Stream content) : IAsyncDisposable, IDisposable
{
    public BlobProperties Properties { get; } = properties;

    public Stream Content { get; } = content;

    public ValueTask DisposeAsync() => Content.DisposeAsync();

    public void Dispose() => Content.Dispose();
}

/// <summary>One page of a listing.</summary>
public sealed record BlobPage(IReadOnlyList<BlobItem> Items, string? ContinuationToken);

/// <summary>A listed blob.</summary>
public sealed record BlobItem(string Name, long Length, string? ContentType, string ETag, DateTimeOffset LastModified);

/// <summary>Permissions a SAS grants.</summary>
[Flags]
public enum BlobSasPermissions
{
    None = 0,
    Read = 1,
    Create = 2,
    Write = 4,
    Delete = 8,
}

/// <summary>
/// Response headers a SAS makes the service send on reads through it (service SAS <c>rscd</c> and
/// <c>rsct</c>). There is no SAS override for <c>X-Content-Type-Options</c>.
/// </summary>
/// <param name="ContentDisposition">E.g. <c>attachment; filename="a.png"</c>.</param>
/// <param name="ContentType">Served instead of the stored Content-Type.</param>
public sealed record BlobSasResponseHeaders(string? ContentDisposition = null, string? ContentType = null)
{
    /// <summary>
    /// <c>attachment</c> with an ASCII <c>filename</c> (non-ASCII, quotes, backslashes and controls become
    /// '_') and, when the name is not plain ASCII, an RFC 5987 <c>filename*</c> with the exact name.
    /// </summary>
    public static string Attachment(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var ascii = new System.Text.StringBuilder(fileName.Length);
        foreach (var c in fileName)
        {
            ascii.Append(c is < ' ' or > '~' or '"' or '\\' ? '_' : c);
        }

        var plain = ascii.ToString();
        return plain == fileName
            ? $"attachment; filename=\"{plain}\""
            : $"attachment; filename=\"{plain}\"; filename*=UTF-8''{Uri.EscapeDataString(fileName)}";
    }
}

/// <summary>Base of the blob store's typed errors.</summary>
public class BlobStoreException(string message, int status = 0, string? errorCode = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>HTTP status from the service (0 when none was received).</summary>
    public int Status { get; } = status;

    /// <summary>The service's error code (x-ms-error-code), e.g. <c>AuthenticationFailed</c>.</summary>
    public string? ErrorCode { get; } = errorCode;
}

/// <summary>The blob or container does not exist.</summary>
public sealed class BlobNotFoundException(string message, string? errorCode = null) : BlobStoreException(message, 404, errorCode);

/// <summary>The blob exists and the caller required that it did not, or its ETag changed.</summary>
public sealed class BlobConflictException(string message, int status, string? errorCode = null) : BlobStoreException(message, status, errorCode);
