using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using global::Azure.Core;
using Serverless.Core.Storage.Blobs;

namespace Serverless.Storage.Azure;

/// <summary>
/// <see cref="IBlobStore"/> over the Blob service REST API (Azure or Azurite). Uploads stream in
/// blocks, holding at most one block in memory; downloads stream the response body.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    private const int MaxBlockSize = 100 * 1024 * 1024;
    private readonly AzureRestClient _client;
    private readonly AzureStorageOptions _options;
    private Task<UserDelegationKey>? _delegationKey;

    /// <summary>Uses Shared Key when <paramref name="options"/> has an account key, else Entra ID (managed identity or the default chain).</summary>
    public AzureBlobStore(AzureStorageOptions options)
        : this(options, AzureCredentials.For(options), null)
    {
    }

    /// <summary>Uses Entra ID bearer tokens from <paramref name="credential"/> (ignored when the options carry an account key).</summary>
    public AzureBlobStore(AzureStorageOptions options, TokenCredential credential)
        : this(options, credential, null)
    {
    }

    internal AzureBlobStore(AzureStorageOptions options, TokenCredential? credential, HttpClient? http)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _client = new AzureRestClient(options.BlobEndpoint, options, credential, http, f => f.Status switch
        {
            404 => new BlobNotFoundException(f.Message, f.ErrorCode),
            409 or 412 => new BlobConflictException(f.Message, f.Status, f.ErrorCode),
            _ => new BlobStoreException(f.Message, f.Status, f.ErrorCode, f.Inner),
        });
    }

    /// <inheritdoc />
    public async Task CreateContainerIfNotExistsAsync(string container, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(container);
        using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(container, ("restype", "container"))), true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return; // ContainerAlreadyExists: idempotent by contract.
        }

        await _client.ThrowIfFailedAsync(response, $"Create container '{container}'", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<BlobProperties> UploadAsync(string container, string name, Stream content, BlobUploadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        ArgumentNullException.ThrowIfNull(content);
        options ??= new BlobUploadOptions();
        ValidateUploadOptions(options);
        if (content.CanSeek && content.Length - content.Position < options.BlockSize)
        {
            // A seekable stream that fits in one block is sent as it is (rewound for each attempt): no block-sized
            // copy, so a stream of many small uploads does not keep block-sized buffers alive in the pool.
            var start = content.Position;
            var length = content.Length - start;
            return await PutBlobAsync(container, name, () => new SeekableRangeContent(content, start, length), length, options, cancellationToken).ConfigureAwait(false);
        }

        // One block-sized buffer, pooled: many small uploads should not each allocate 4 MiB.
        var buffer = ArrayPool<byte>.Shared.Rent(options.BlockSize);
        try
        {
            var block = buffer.AsMemory(0, options.BlockSize);
            var filled = await FillAsync(content, block, cancellationToken).ConfigureAwait(false);
            if (filled < block.Length)
            {
                // The whole stream fits in one block: a single Put Blob is atomic and saves a round-trip.
                var data = block[..filled];
                return await PutBlobAsync(container, name, () => new ReadOnlyMemoryContent(data), filled, options, cancellationToken).ConfigureAwait(false);
            }

            var prefix = Guid.NewGuid().ToString("N");
            var blockIds = new List<string>();
            long total = 0;
            while (filled > 0)
            {
                var blockId = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{prefix}{blockIds.Count:D8}"));
                var data = block[..filled];
                await PutBlockAsync(container, name, blockId, () => new ReadOnlyMemoryContent(data), filled, cancellationToken).ConfigureAwait(false);
                blockIds.Add(blockId);
                total += filled;
                filled = await FillAsync(content, block, cancellationToken).ConfigureAwait(false);
            }

            var committed = await CommitBlocksAsync(container, name, blockIds, options, cancellationToken).ConfigureAwait(false);
            return committed with { Length = total };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc />
    public async Task StageBlockAsync(string container, string name, string blockId, Stream content, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        ArgumentException.ThrowIfNullOrEmpty(blockId);
        ArgumentNullException.ThrowIfNull(content);
        if (content.CanSeek && content.Length - content.Position <= MaxBlockSize)
        {
            // Sent as it is (rewound for each attempt) rather than copied into a growing buffer.
            var start = content.Position;
            var length = content.Length - start;
            await PutBlockAsync(container, name, blockId, () => new SeekableRangeContent(content, start, length), length, cancellationToken).ConfigureAwait(false);
            return;
        }

        using var memory = new MemoryStream();
        await CopyBoundedAsync(content, memory, MaxBlockSize, cancellationToken).ConfigureAwait(false);
        var data = memory.GetBuffer().AsMemory(0, (int)memory.Length);
        await PutBlockAsync(container, name, blockId, () => new ReadOnlyMemoryContent(data), data.Length, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<BlobProperties> CommitBlocksAsync(string container, string name, IReadOnlyList<string> blockIds, BlobUploadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        ArgumentNullException.ThrowIfNull(blockIds);
        options ??= new BlobUploadOptions();
        ValidateUploadOptions(options);
        var xml = new XElement("BlockList", blockIds.Select(id => new XElement("Latest", id)));
        var body = Encoding.UTF8.GetBytes(new XDeclaration("1.0", "utf-8", null) + xml.ToString(SaveOptions.DisableFormatting));
        using var response = await _client.SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(BlobPath(container, name), ("comp", "blocklist")))
                {
                    Content = new ByteArrayContent(body),
                };
                AddUploadHeaders(request, options);
                return request;
            },
            !options.IfNoneMatchAny,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Commit blob '{container}/{name}'", cancellationToken).ConfigureAwait(false);

        // The service does not return the length; a committed list's length is the sum of its blocks.
        var properties = await GetPropertiesAsync(container, name, cancellationToken).ConfigureAwait(false);
        return properties ?? throw new BlobNotFoundException($"Blob '{container}/{name}' vanished right after its commit.");
    }

    /// <inheritdoc />
    public async Task<BlobDownload> DownloadAsync(string container, string name, BlobRange? range = null, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        string? rangeHeader = null;
        if (range is not null)
        {
            if (range.Offset < 0 || range.Length is <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(range), "A range needs Offset >= 0 and, when given, Length > 0.");
            }

            rangeHeader = range.Length is { } length
                ? FormattableString.Invariant($"bytes={range.Offset}-{range.Offset + length - 1}")
                : FormattableString.Invariant($"bytes={range.Offset}-");
        }

        var response = await _client.SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(BlobPath(container, name)));
                if (rangeHeader is not null)
                {
                    request.Headers.TryAddWithoutValidation("x-ms-range", rangeHeader);
                }

                return request;
            },
            true,
            cancellationToken,
            streamResponse: true).ConfigureAwait(false);
        try
        {
            await _client.ThrowIfFailedAsync(response, $"Download blob '{container}/{name}'", cancellationToken).ConfigureAwait(false);
            var properties = ReadProperties(container, name, response);
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new BlobDownload(properties, new ResponseStream(response, stream));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public async Task<BlobProperties?> GetPropertiesAsync(string container, string name, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Head, _client.BuildUri(BlobPath(container, name))), true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await _client.ThrowIfFailedAsync(response, $"Get properties of '{container}/{name}'", cancellationToken).ConfigureAwait(false);
        return ReadProperties(container, name, response);
    }

    /// <inheritdoc />
    public async Task SetMetadataAsync(string container, string name, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        StorageNames.ValidateMetadata(metadata);
        using var response = await _client.SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(BlobPath(container, name), ("comp", "metadata")));
                AddMetadata(request, metadata);
                return request;
            },
            true,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Set metadata of '{container}/{name}'", cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<BlobPage> ListAsync(string container, string? prefix = null, int pageSize = 1000, string? continuationToken = null, CancellationToken cancellationToken = default)
    {
        StorageNames.ValidateContainerOrQueue(container);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 5000);
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(
                container,
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", string.IsNullOrEmpty(prefix) ? null : prefix),
                ("marker", string.IsNullOrEmpty(continuationToken) ? null : continuationToken),
                ("maxresults", pageSize.ToString(CultureInfo.InvariantCulture)))),
            true,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"List container '{container}'", cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var doc = await XDocument.LoadAsync(body, LoadOptions.None, cancellationToken).ConfigureAwait(false);
        var root = doc.Root ?? throw new BlobStoreException("List response had no XML root.", (int)response.StatusCode);
        var items = root.Element("Blobs")?.Elements("Blob").Select(b =>
        {
            var p = b.Element("Properties");
            return new BlobItem(
                b.Element("Name")?.Value ?? string.Empty,
                long.Parse(p?.Element("Content-Length")?.Value ?? "0", CultureInfo.InvariantCulture),
                NullIfEmpty(p?.Element("Content-Type")?.Value),
                p?.Element("Etag")?.Value ?? string.Empty,
                AzureRestClient.ParseDate(p?.Element("Last-Modified")?.Value));
        }).ToList() ?? [];
        return new BlobPage(items, NullIfEmpty(root.Element("NextMarker")?.Value));
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string container, string name, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, _client.BuildUri(BlobPath(container, name))), true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await _client.ThrowIfFailedAsync(response, $"Delete blob '{container}/{name}'", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public Task<Uri> CreateSasUriAsync(string container, string name, BlobSasPermissions permissions, DateTimeOffset expiresOn, CancellationToken cancellationToken = default) =>
        CreateSasUriAsync(container, name, permissions, expiresOn, null, cancellationToken);

    /// <inheritdoc />
    public async Task<Uri> CreateSasUriAsync(string container, string name, BlobSasPermissions permissions, DateTimeOffset expiresOn, BlobSasResponseHeaders? responseHeaders, CancellationToken cancellationToken = default)
    {
        ValidateBlob(container, name);
        var rscd = responseHeaders?.ContentDisposition ?? string.Empty;
        var rsct = responseHeaders?.ContentType ?? string.Empty;
        if (rscd.Any(char.IsControl) || rsct.Any(char.IsControl))
        {
            throw new ArgumentException("SAS response headers cannot hold control characters.", nameof(responseHeaders));
        }

        if (permissions == BlobSasPermissions.None)
        {
            throw new ArgumentException("A SAS must grant at least one permission.", nameof(permissions));
        }

        var now = DateTimeOffset.UtcNow;
        var start = Format(now.AddMinutes(-5)); // tolerate clock skew between us and the service
        var expiry = Format(expiresOn);
        var sp = PermissionString(permissions);
        var protocol = _client.Endpoint.Scheme == Uri.UriSchemeHttps ? "https" : "https,http";
        var account = _options.AccountName ?? AccountFromEndpoint();
        var resource = $"/blob/{account}/{container}/{name}";
        var blobUri = _client.BuildUri(BlobPath(container, name));
        var version = AzureRestClient.ApiVersion;
        string query;
        if (_client.Signer is { } signer)
        {
            var stringToSign = ServiceSasStringToSign(sp, start, expiry, resource, protocol, version, rscd, rsct);
            query = Query([("sv", version), ("sr", "b"), ("sp", sp), ("st", start), ("se", expiry), ("spr", protocol), .. Overrides(rscd, rsct), ("sig", signer.ComputeSignature(stringToSign))]);
        }
        else
        {
            if (expiresOn > now.AddDays(7))
            {
                throw new ArgumentOutOfRangeException(nameof(expiresOn), "A user-delegation SAS can be valid for at most 7 days.");
            }

            var key = await GetDelegationKeyAsync(expiresOn, cancellationToken).ConfigureAwait(false);
            var stringToSign = string.Join('\n', sp, start, expiry, resource, key.ObjectId, key.TenantId, key.Start, key.Expiry, key.Service, key.Version, string.Empty, string.Empty, string.Empty, string.Empty, protocol, version, "b", string.Empty, string.Empty, string.Empty, rscd, string.Empty, string.Empty, rsct);
            var sig = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(key.Value), Encoding.UTF8.GetBytes(stringToSign)));
            query = Query([("sv", version), ("sr", "b"), ("sp", sp), ("st", start), ("se", expiry), ("spr", protocol), ("skoid", key.ObjectId), ("sktid", key.TenantId), ("skt", key.Start), ("ske", key.Expiry), ("sks", key.Service), ("skv", key.Version), .. Overrides(rscd, rsct), ("sig", sig)]);
        }

        return new Uri($"{blobUri.AbsoluteUri}?{query}");
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await _client.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, _client.BuildUri(string.Empty, ("comp", "list"), ("maxresults", "1"))), true, cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (BlobStoreException)
        {
            return false;
        }
    }

    /// <summary>The service SAS string-to-sign for a blob (version 2020-12-06 and later).</summary>
    /// <remarks>The last five fields are the response overrides rscc, rscd, rsce, rscl, rsct.</remarks>
    internal static string ServiceSasStringToSign(string permissions, string start, string expiry, string canonicalResource, string protocol, string version, string rscd = "", string rsct = "") =>
        string.Join('\n', permissions, start, expiry, canonicalResource, string.Empty, string.Empty, protocol, version, "b", string.Empty, string.Empty, string.Empty, rscd, string.Empty, string.Empty, rsct);

    private static IEnumerable<(string Name, string Value)> Overrides(string rscd, string rsct)
    {
        if (rscd.Length > 0)
        {
            yield return ("rscd", rscd);
        }

        if (rsct.Length > 0)
        {
            yield return ("rsct", rsct);
        }
    }

    /// <summary>Permissions in the order the service requires (r, c, w, d).</summary>
    internal static string PermissionString(BlobSasPermissions permissions)
    {
        var sb = new StringBuilder(4);
        if (permissions.HasFlag(BlobSasPermissions.Read))
        {
            sb.Append('r');
        }

        if (permissions.HasFlag(BlobSasPermissions.Create))
        {
            sb.Append('c');
        }

        if (permissions.HasFlag(BlobSasPermissions.Write))
        {
            sb.Append('w');
        }

        if (permissions.HasFlag(BlobSasPermissions.Delete))
        {
            sb.Append('d');
        }

        return sb.ToString();
    }

    private async Task<BlobProperties> PutBlobAsync(string container, string name, Func<HttpContent> body, long length, BlobUploadOptions options, CancellationToken cancellationToken)
    {
        using var response = await _client.SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(BlobPath(container, name))) { Content = body() };
                request.Content.Headers.ContentLength = length;
                request.Headers.TryAddWithoutValidation("x-ms-blob-type", "BlockBlob");
                AddUploadHeaders(request, options);
                return request;
            },
            !options.IfNoneMatchAny,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Upload blob '{container}/{name}'", cancellationToken).ConfigureAwait(false);
        return new BlobProperties(
            container,
            name,
            length,
            options.ContentType ?? "application/octet-stream",
            RawHeader(response, "ETag") ?? string.Empty,
            response.Content.Headers.LastModified ?? AzureRestClient.ParseDate(RawHeader(response, "Last-Modified")),
            options.Metadata ?? new Dictionary<string, string>());
    }

    private async Task PutBlockAsync(string container, string name, string blockId, Func<HttpContent> body, long length, CancellationToken cancellationToken)
    {
        using var response = await _client.SendAsync(
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, _client.BuildUri(BlobPath(container, name), ("comp", "block"), ("blockid", blockId))) { Content = body() };
                request.Content.Headers.ContentLength = length;
                return request;
            },
            true,
            cancellationToken).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, $"Stage block of '{container}/{name}'", cancellationToken).ConfigureAwait(false);
    }

    private async Task<UserDelegationKey> GetDelegationKeyAsync(DateTimeOffset until, CancellationToken cancellationToken)
    {
        var current = _delegationKey;
        if (current is not { IsCompletedSuccessfully: true } || current.Result.ExpiresOn < until)
        {
            current = FetchDelegationKeyAsync();
            _delegationKey = current;
        }

        return await current.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    // Shared by concurrent callers, so no single caller's cancellation may abort it.
    private async Task<UserDelegationKey> FetchDelegationKeyAsync()
    {
        // One key serves every SAS for up to 7 days; it is fetched once and reused.
        var start = DateTimeOffset.UtcNow.AddMinutes(-5);
        var expiry = DateTimeOffset.UtcNow.AddDays(7).AddMinutes(-5);
        var body = new XElement("KeyInfo", new XElement("Start", Format(start)), new XElement("Expiry", Format(expiry)));
        var bytes = Encoding.UTF8.GetBytes(body.ToString(SaveOptions.DisableFormatting));
        using var response = await _client.SendAsync(
            () => new HttpRequestMessage(HttpMethod.Post, _client.BuildUri(string.Empty, ("restype", "service"), ("comp", "userdelegationkey"))) { Content = new ByteArrayContent(bytes) },
            true,
            CancellationToken.None).ConfigureAwait(false);
        await _client.ThrowIfFailedAsync(response, "Get user delegation key", CancellationToken.None).ConfigureAwait(false);
        var doc = XDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        string Value(string element) => doc.Root?.Element(element)?.Value ?? throw new BlobStoreException($"User delegation key response lacks {element}.", (int)response.StatusCode);
        return new UserDelegationKey(Value("SignedOid"), Value("SignedTid"), Value("SignedStart"), Value("SignedExpiry"), Value("SignedService"), Value("SignedVersion"), Value("Value"), expiry);
    }

    private static BlobProperties ReadProperties(string container, string name, HttpResponseMessage response)
    {
        var headers = response.Content.Headers;
        long length = headers.ContentLength ?? 0;
        if (headers.ContentRange is { Length: { } total })
        {
            length = total; // a ranged read reports the whole blob's length after the slash
        }

        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, values) in response.Headers)
        {
            if (key.StartsWith("x-ms-meta-", StringComparison.OrdinalIgnoreCase))
            {
                metadata[key["x-ms-meta-".Length..]] = string.Join(",", values);
            }
        }

        return new BlobProperties(
            container,
            name,
            length,
            headers.ContentType?.ToString(),
            RawHeader(response, "ETag") ?? string.Empty,
            headers.LastModified ?? default,
            metadata);
    }

    private static string? RawHeader(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? values.ToString()
        : response.Content.Headers.NonValidated.TryGetValues(name, out var contentValues) ? contentValues.ToString()
        : null;

    private static void AddUploadHeaders(HttpRequestMessage request, BlobUploadOptions options)
    {
        request.Headers.TryAddWithoutValidation("x-ms-blob-content-type", options.ContentType ?? "application/octet-stream");
        if (options.Metadata is not null)
        {
            AddMetadata(request, options.Metadata);
        }

        if (options.IfNoneMatchAny)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", "*");
        }
    }

    private static void AddMetadata(HttpRequestMessage request, IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var (key, value) in metadata)
        {
            request.Headers.TryAddWithoutValidation($"x-ms-meta-{key}", value);
        }
    }

    private static void ValidateUploadOptions(BlobUploadOptions options)
    {
        if (options.BlockSize is < 1 or > MaxBlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"BlockSize must be 1..{MaxBlockSize} bytes.");
        }

        if (options.ContentType is not null && !MediaTypeHeaderValue.TryParse(options.ContentType, out _))
        {
            throw new ArgumentException($"'{options.ContentType}' is not a valid content type.", nameof(options));
        }

        if (options.Metadata is not null)
        {
            StorageNames.ValidateMetadata(options.Metadata);
        }
    }

    private static void ValidateBlob(string container, string name)
    {
        StorageNames.ValidateContainerOrQueue(container);
        StorageNames.ValidateBlob(name);
    }

    private static string BlobPath(string container, string name) => $"{container}/{AzureRestClient.EscapePath(name)}";

    private static async Task<int> FillAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await source.ReadAsync(buffer[filled..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    private static async Task CopyBoundedAsync(Stream source, MemoryStream target, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (target.Length + read > limit)
            {
                throw new ArgumentException($"A block can hold at most {limit} bytes.", nameof(source));
            }

            target.Write(buffer, 0, read);
        }
    }

    private string AccountFromEndpoint()
    {
        var host = _client.Endpoint.Host;
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? host[..dot] : host;
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static string Query(params (string Name, string Value)[] pairs) =>
        string.Join('&', pairs.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"));

    private sealed record UserDelegationKey(string ObjectId, string TenantId, string Start, string Expiry, string Service, string Version, string Value, DateTimeOffset ExpiresOn);

    /// <summary>
    /// A range of a caller's seekable stream as a request body: rewound to its start each time it is sent (so retries
    /// resend the same bytes) and never disposed with the request (the caller owns the stream).
    /// </summary>
    private sealed class SeekableRangeContent(Stream stream, long start, long length) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream target, TransportContext? context) =>
            SerializeToStreamAsync(target, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream target, TransportContext? context, CancellationToken cancellationToken)
        {
            stream.Position = start;
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                var left = length;
                while (left > 0)
                {
                    var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new IOException($"The stream ended {left} bytes before the {length} bytes it announced.");
                    }

                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    left -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }
    }
}
