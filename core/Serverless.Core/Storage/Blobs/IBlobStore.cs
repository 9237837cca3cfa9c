namespace Serverless.Core.Storage.Blobs;

/// <summary>
/// The blob store port (Azure Blob Storage, or Azurite locally), reached through our own REST client
/// because the Azure SDK does not restore on our build machines. Content is always streamed.
/// </summary>
public interface IBlobStore
{
    /// <summary>Creates the container if missing (idempotent).</summary>
    Task CreateContainerIfNotExistsAsync(string container, CancellationToken cancellationToken = default);

    /// <summary>
    /// Uploads a stream of any length without buffering it whole: blocks of
    /// <see cref="BlobUploadOptions.BlockSize"/> are staged and then committed, so readers never see
    /// a partial blob. Returns the committed blob's properties.
    /// </summary>
    Task<BlobProperties> UploadAsync(string container, string name, Stream content, BlobUploadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Stages one block of a block blob (ids are caller-chosen; see <see cref="CommitBlocksAsync"/>).</summary>
    Task StageBlockAsync(string container, string name, string blockId, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Commits staged blocks, in order, as the blob's content.</summary>
    Task<BlobProperties> CommitBlocksAsync(string container, string name, IReadOnlyList<string> blockIds, BlobUploadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Opens the blob (or a byte range of it) for reading. Throws <see cref="BlobNotFoundException"/>.</summary>
    Task<BlobDownload> DownloadAsync(string container, string name, BlobRange? range = null, CancellationToken cancellationToken = default);

    /// <summary>Properties and metadata, or null when the blob does not exist.</summary>
    Task<BlobProperties?> GetPropertiesAsync(string container, string name, CancellationToken cancellationToken = default);

    /// <summary>Replaces the blob's metadata.</summary>
    Task SetMetadataAsync(string container, string name, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default);

    /// <summary>One page of blobs whose names start with <paramref name="prefix"/>.</summary>
    Task<BlobPage> ListAsync(string container, string? prefix = null, int pageSize = 1000, string? continuationToken = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes the blob; returns false when it did not exist.</summary>
    Task<bool> DeleteAsync(string container, string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// A time-limited URL granting <paramref name="permissions"/> on one blob: a service SAS signed
    /// with the account key, or a user-delegation SAS when the store uses Entra ID.
    /// </summary>
    Task<Uri> CreateSasUriAsync(string container, string name, BlobSasPermissions permissions, DateTimeOffset expiresOn, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="CreateSasUriAsync(string, string, BlobSasPermissions, DateTimeOffset, CancellationToken)"/>,
    /// with response-header overrides signed into the SAS (<c>rscd</c>, <c>rsct</c>): the service answers a
    /// GET through the link with these headers instead of the blob's stored ones.
    /// </summary>
    /// <remarks>
    /// The default implementation serves stores without overrides: it signs a plain SAS when
    /// <paramref name="responseHeaders"/> is null and refuses otherwise, so a link never silently lacks them.
    /// </remarks>
    Task<Uri> CreateSasUriAsync(string container, string name, BlobSasPermissions permissions, DateTimeOffset expiresOn, BlobSasResponseHeaders? responseHeaders, CancellationToken cancellationToken = default) =>
        responseHeaders is null
            ? CreateSasUriAsync(container, name, permissions, expiresOn, cancellationToken)
            : throw new NotSupportedException($"{GetType().Name} cannot sign response-header overrides into a SAS.");

    /// <summary>Checks the service answers; used by the health endpoint.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken = default);
}
