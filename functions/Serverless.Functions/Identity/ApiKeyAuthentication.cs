using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Serverless.Functions.Identity;

/// <summary>
/// Resolves a presented API key to its <see cref="Caller"/>, caching hits for <see cref="CacheTtl"/>.
/// Revocation and user changes made by this process evict the entry at once; other instances see
/// them within the TTL. Unknown keys are never cached, so a key created on another instance works
/// immediately.
/// </summary>
public sealed class ApiKeyAuthenticator(IdentityStore identity, TimeProvider time)
{
    public static readonly TimeSpan CacheTtl = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);

    public async Task<Caller?> AuthenticateAsync(string presentedKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(presentedKey);
        var hash = ApiKeyHashing.Hash(presentedKey);
        var keyId = ApiKeyHashing.KeyId(hash);
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(keyId, out var cached) && cached.ExpiresAt > now)
        {
            return ApiKeyHashing.Matches(hash, cached.Hash) ? cached.Caller : null;
        }

        var record = await identity.FindApiKeyAsync(keyId, ct);
        if (record is null || !ApiKeyHashing.Matches(hash, record.Hash))
        {
            _cache.TryRemove(keyId, out _);
            return null;
        }

        var user = await identity.GetUserAsync(record.UserId, ct);
        if (user is null)
        {
            return null;
        }

        var caller = new Caller(user.Id, user.OrgId, user.OrgRole, user.IsPlatformAdmin, keyId);
        _cache[keyId] = new CacheEntry(record.Hash, caller, now + CacheTtl);
        return caller;
    }

    /// <summary>Forgets a key at once (called on revocation).</summary>
    public void Evict(string keyId) => _cache.TryRemove(keyId, out _);

    private sealed record CacheEntry(string Hash, Caller Caller, DateTimeOffset ExpiresAt);
}

/// <summary>
/// The <c>ApiKey</c> authentication scheme: <c>Authorization: Bearer &lt;key&gt;</c> or
/// <c>X-Api-Key: &lt;key&gt;</c>. A missing, unknown or revoked key is answered with 401 problem
/// details and <c>WWW-Authenticate: Bearer</c>.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyAuthenticator authenticator,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ApiKeyHeader = "X-Api-Key";

    private const string FailureItem = "apikey.failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var (key, error) = ReadKey(Request);
        if (error is not null)
        {
            Context.Items[FailureItem] = error;
            return AuthenticateResult.Fail(error);
        }

        if (key is null)
        {
            return AuthenticateResult.NoResult();
        }

        var caller = await authenticator.AuthenticateAsync(key, Context.RequestAborted);
        if (caller is null)
        {
            const string unknown = "The API key is unknown or has been revoked.";
            Context.Items[FailureItem] = unknown;
            return AuthenticateResult.Fail(unknown);
        }

        return AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = Context.Items[FailureItem] as string;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = failure is null
            ? "Bearer realm=\"api\""
            : "Bearer realm=\"api\", error=\"invalid_token\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = failure ?? $"This endpoint needs an API key: send 'Authorization: Bearer <key>' or '{ApiKeyHeader}: <key>'.",
            },
        });
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails { Status = StatusCodes.Status403Forbidden, Title = "Forbidden", Detail = "Your API key does not grant this operation." },
        });
    }

    private static (string? Key, string? Error) ReadKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        var headerKey = request.Headers[ApiKeyHeader].ToString();
        if (authorization.Length > 0)
        {
            const string bearer = "Bearer ";
            if (!authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
            {
                return (null, "The Authorization header must use the Bearer scheme: 'Authorization: Bearer <key>'.");
            }

            var key = authorization[bearer.Length..].Trim();
            return key.Length is 0 or > 256 ? (null, "The bearer token is empty or too long to be an API key.") : (key, null);
        }

        if (headerKey.Length > 0)
        {
            var key = headerKey.Trim();
            return key.Length > 256 ? (null, $"The {ApiKeyHeader} header is too long to be an API key.") : (key, null);
        }

        return (null, null);
    }
}
