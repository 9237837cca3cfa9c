using Microsoft.Extensions.Options;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Identity;

/// <summary>First-start settings (section <c>Bootstrap</c>).</summary>
public sealed record BootstrapOptions
{
    public const string Section = "Bootstrap";

    /// <summary>
    /// The admin's API key, when it must be known in advance (e.g. set from a Key Vault secret).
    /// Only its hash is stored. Empty: a random key is generated and logged once.
    /// </summary>
    public string? AdminApiKey { get; set; }

    public string OrganizationName { get; set; } = "Default organization";

    public string AdminName { get; set; } = "Administrator";

    public IReadOnlyList<string> Validate()
    {
        if (string.IsNullOrEmpty(AdminApiKey))
        {
            return [];
        }

        return AdminApiKey.Length < ApiKeyHashing.MinimumConfiguredLength || AdminApiKey.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? [$"Bootstrap:AdminApiKey must be at least {ApiKeyHashing.MinimumConfiguredLength} characters without spaces (it is compared by a fast hash, so it must be random and long); leave it empty to have one generated."]
            : [];
    }
}

/// <summary>
/// On first start (no user exists) creates the default organization and its admin with one API key.
/// Race-safe across instances: the admin's user document has a fixed id and is created last, with
/// create-if-absent semantics, so exactly one instance wins; a loser deletes the key it prepared
/// and never prints it. The generated key is logged once, by the winner only.
/// </summary>
public sealed class IdentityBootstrap(IdentityStore identity, IOptions<BootstrapOptions> options, ILogger<IdentityBootstrap> logger, TimeProvider time) : IHostedService
{
    public const string DefaultOrganizationId = "o_default";
    public const string AdminUserId = "u_admin";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await identity.AnyUserAsync(cancellationToken))
        {
            return;
        }

        var settings = options.Value;
        var configured = !string.IsNullOrEmpty(settings.AdminApiKey);
        var org = await identity.CreateOrganizationAsync(settings.OrganizationName, cancellationToken, DefaultOrganizationId);
        var admin = new UserAccount(AdminUserId, settings.AdminName, null, org.Id, OrgRole.Admin, IsPlatformAdmin: true, time.GetUtcNow());
        try
        {
            await identity.CreateUserAsync(admin, cancellationToken);
        }
        catch (DocumentConflictException)
        {
            IdentityLog.BootstrapLost(logger);
            return;
        }

        var key = await identity.CreateApiKeyAsync(admin.Id, "bootstrap admin key", cancellationToken, configured ? settings.AdminApiKey : null);
        if (configured)
        {
            IdentityLog.BootstrapConfigured(logger, admin.Id, key.Id);
        }
        else
        {
            IdentityLog.BootstrapGenerated(logger, admin.Id, key.Key);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Source-generated logs of identity (event ids 1200–1299).</summary>
internal static partial class IdentityLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "First start: created admin user {UserId}. Its API key, shown only this once, is: {ApiKey}  (store it now; send it as 'Authorization: Bearer <key>')")]
    public static partial void BootstrapGenerated(ILogger logger, string userId, string apiKey);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "First start: created admin user {UserId} with the API key from Bootstrap:AdminApiKey (key id {KeyId})")]
    public static partial void BootstrapConfigured(ILogger logger, string userId, string keyId);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "First start: another instance created the admin user first; nothing to do")]
    public static partial void BootstrapLost(ILogger logger);
}
