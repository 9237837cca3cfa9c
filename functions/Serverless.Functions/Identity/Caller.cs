using System.Globalization;
using System.Security.Claims;

namespace Serverless.Functions.Identity;

/// <summary>The authenticated caller, as the API key handler put it into the request's principal.</summary>
public sealed record Caller(string UserId, string OrgId, OrgRole OrgRole, bool IsPlatformAdmin, string KeyId)
{
    private const string OrgClaim = "org";
    private const string OrgRoleClaim = "org_role";
    private const string PlatformAdminClaim = "platform_admin";
    private const string KeyIdClaim = "key_id";

    public ClaimsPrincipal ToPrincipal(string scheme) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, UserId),
            new Claim(OrgClaim, OrgId),
            new Claim(OrgRoleClaim, OrgRole.ToString()),
            new Claim(PlatformAdminClaim, IsPlatformAdmin ? "true" : "false"),
            new Claim(KeyIdClaim, KeyId),
        ],
        scheme));

    /// <summary>The caller of an authenticated request.</summary>
    /// <exception cref="InvalidOperationException">The request was not authenticated by the API key handler.</exception>
    public static Caller From(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        string Get(string type) => principal.FindFirstValue(type)
            ?? throw new InvalidOperationException($"The request has no '{type}' claim; the endpoint must require an API key.");
        return new Caller(
            Get(ClaimTypes.NameIdentifier),
            Get(OrgClaim),
            Enum.Parse<OrgRole>(Get(OrgRoleClaim)),
            bool.Parse(Get(PlatformAdminClaim)),
            Get(KeyIdClaim));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{UserId} ({OrgRole} of {OrgId})");
}
