using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Xml;
using global::Azure.Core;

namespace Serverless.Storage.Azure;

/// <summary>A failed call as the service (or the network) reported it; each store maps it to its own typed error.</summary>
internal sealed record StorageFailure(string Message, int Status, string? ErrorCode, Exception? Inner);

/// <summary>
/// The little REST client shared by the blob and queue stores: one pooled <see cref="HttpClient"/>,
/// Shared Key signing or bearer tokens, bounded retries for idempotent calls, and error mapping.
/// </summary>
internal sealed class AzureRestClient
{
    /// <summary>The REST version we speak: bearer auth needs 2017-11-09+; SAS strings below follow 2020-12-06+.</summary>
    public const string ApiVersion = "2024-11-04";

    private const string StorageScope = "https://storage.azure.com/.default";
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(100);
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(800)];

    // One client for the process: sockets are pooled per endpoint and recycled so DNS changes are seen.
    private static readonly HttpClient SharedHttp = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly HttpClient _http;
    private readonly string _base; // Uri normalizes a bare host to "host/", so the base is kept as text
    private readonly TokenCredential? _credential;
    private readonly Func<StorageFailure, Exception> _error;
    private Task<AccessToken>? _token;

    public AzureRestClient(Uri endpoint, AzureStorageOptions options, TokenCredential? credential, HttpClient? http, Func<StorageFailure, Exception> error)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(options);
        _base = endpoint.AbsoluteUri.TrimEnd('/');
        Endpoint = new Uri(_base);
        _http = http ?? SharedHttp;
        _error = error;
        if (options.AccountKey is not null)
        {
            var account = options.AccountName ?? throw new ArgumentException("Shared Key needs AccountName.", nameof(options));
            Signer = new SharedKeySigner(account, options.AccountKey);
        }
        else
        {
            _credential = credential ?? throw new ArgumentNullException(nameof(credential), "Without an AccountKey a TokenCredential is required.");
        }
    }

    /// <summary>The service endpoint (path-style endpoints keep their account segment).</summary>
    public Uri Endpoint { get; }

    /// <summary>The Shared Key signer, or null in token mode.</summary>
    public SharedKeySigner? Signer { get; }

    /// <summary>Builds <c>endpoint/path?query</c>; <paramref name="path"/> must already be escaped.</summary>
    public Uri BuildUri(string path, params (string Name, string? Value)[] query)
    {
        var sb = new StringBuilder(_base);
        if (path.Length > 0)
        {
            sb.Append('/').Append(path);
        }
        else
        {
            sb.Append('/');
        }

        var first = true;
        foreach (var (name, value) in query)
        {
            if (value is null)
            {
                continue;
            }

            sb.Append(first ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
            first = false;
        }

        return new Uri(sb.ToString());
    }

    /// <summary>
    /// Sends a request made by <paramref name="create"/> (called again for each attempt), retrying
    /// 500/503, timeouts and dropped connections when <paramref name="idempotent"/>. Returns the
    /// response whatever its status otherwise; callers decide what a 404 means.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> create, bool idempotent, CancellationToken cancellationToken, bool streamResponse = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            var canRetry = idempotent && attempt < RetryDelays.Length;
            using var request = create();
            await AuthorizeAsync(request, cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(AttemptTimeout);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, streamResponse ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (IsConnectionRefused(ex))
            {
                // A refused connection means nothing listens there; retrying only delays the answer.
                throw _error(new StorageFailure($"Azure Storage is unreachable at {Endpoint}: connection refused. Is Azurite (or the account endpoint) running?", 0, null, ex));
            }
            catch (HttpRequestException ex)
            {
                if (canRetry)
                {
                    await Task.Delay(RetryDelays[attempt], cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw _error(new StorageFailure($"Azure Storage is unreachable at {Endpoint}: {ex.Message}", 0, null, ex));
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                if (canRetry)
                {
                    await Task.Delay(RetryDelays[attempt], cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw _error(new StorageFailure($"Azure Storage at {Endpoint} did not answer within {AttemptTimeout.TotalSeconds:0}s.", 0, null, ex));
            }

            if (canRetry && response.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.ServiceUnavailable)
            {
                response.Dispose();
                await Task.Delay(RetryDelays[attempt], cancellationToken).ConfigureAwait(false);
                continue;
            }

            return response;
        }
    }

    /// <summary>Throws the store's typed error for a non-success response (disposing it).</summary>
    public async Task ThrowIfFailedAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var failure = await ReadFailureAsync(response, what, cancellationToken).ConfigureAwait(false);
        response.Dispose();
        throw _error(failure);
    }

    /// <summary>Reads the status, <c>x-ms-error-code</c> and the XML error message of a failed response.</summary>
    public static async Task<StorageFailure> ReadFailureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        var code = response.Headers.TryGetValues("x-ms-error-code", out var codes) ? codes.FirstOrDefault() : null;
        string? detail = null;
        try
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (body.Length > 0 && body.Length < 64 * 1024)
            {
                var doc = System.Xml.Linq.XDocument.Parse(body);
                code ??= doc.Root?.Element("Code")?.Value;
                detail = doc.Root?.Element("Message")?.Value?.Split('\n')[0].Trim();
            }
        }
        catch (XmlException)
        {
            // Not every error has an XML body (HEAD responses never do); the status and header suffice.
        }

        var status = (int)response.StatusCode;
        var message = $"{what} failed: {status} {code ?? response.ReasonPhrase}" + (detail is null ? string.Empty : $" ({detail})");
        return new StorageFailure(message, status, code, null);
    }

    /// <summary>A bearer token for the storage scope, cached until five minutes before it expires.</summary>
    public async ValueTask<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (_credential is null)
        {
            throw new InvalidOperationException("This store uses Shared Key, not Entra ID.");
        }

        // Concurrent callers share one fetch; a failed or expiring fetch is replaced by the next caller.
        var current = _token;
        if (current is { IsCompletedSuccessfully: true } && current.Result.ExpiresOn > DateTimeOffset.UtcNow.AddMinutes(5))
        {
            return current.Result.Token;
        }

        if (current is null || current.IsCompleted)
        {
            var fresh = _credential.GetTokenAsync(new TokenRequestContext([StorageScope]), CancellationToken.None).AsTask();
            current = Interlocked.CompareExchange(ref _token, fresh, current) == current ? fresh : _token!;
        }

        var token = await current.WaitAsync(cancellationToken).ConfigureAwait(false);
        return token.Token;
    }

    /// <summary>Escapes a blob name per path segment so '/' keeps separating virtual folders.</summary>
    public static string EscapePath(string name) => string.Join('/', name.Split('/').Select(Uri.EscapeDataString));

    /// <summary>RFC 1123 date as the service writes it.</summary>
    public static DateTimeOffset ParseDate(string? value) =>
        value is null ? default : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private async Task AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.TryAddWithoutValidation("x-ms-date", DateTimeOffset.UtcNow.ToString("R", CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("x-ms-version", ApiVersion);
        if (Signer is not null)
        {
            Signer.Sign(request);
        }
        else
        {
            var token = await GetTokenAsync(cancellationToken).ConfigureAwait(false);
            request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {token}");
        }
    }

    private static bool IsConnectionRefused(HttpRequestException ex) =>
        ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
}
