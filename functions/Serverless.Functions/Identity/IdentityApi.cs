using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Http;

namespace Serverless.Functions.Identity;

/// <summary>Body of <c>POST /api/me/api-keys</c>.</summary>
public sealed record CreateApiKeyRequest(string? Description);

/// <summary>A new user: name, optional e-mail, organization role (default Member).</summary>
public sealed record CreateUserRequest(string? Name, string? Email, OrgRole? OrgRole);

/// <summary>Body of <c>POST /api/orgs</c>: the organization and its first admin.</summary>
public sealed record CreateOrganizationRequest(string? Name, CreateUserRequest? Admin);

/// <summary>A user just created, with their first API key (shown once).</summary>
public sealed record CreatedUser(UserAccount User, CreatedApiKey ApiKey);

/// <summary>An organization just created, with its first admin and that admin's API key (shown once).</summary>
public sealed record CreatedOrganization(Organization Organization, UserAccount Admin, CreatedApiKey AdminApiKey);

/// <summary>What the identity endpoints need from DI.</summary>
public sealed record IdentityServices(IdentityStore Store, ApiKeyAuthenticator Authenticator, TimeProvider Time);

/// <summary>
/// The caller's account and API keys (<c>api/me</c>), organizations and their users (<c>api/orgs</c>).
/// </summary>
public static class IdentityApi
{
    public static IEndpointRouteBuilder MapIdentityApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var me = app.MapGroup("api/me").WithTags("Account");
        me.MapGet("/", GetMeAsync).WithName("GetMe").RequirePermission(Permission.AccountRead);
        me.MapGet("/api-keys", ListApiKeysAsync).WithName("ListMyApiKeys").RequirePermission(Permission.OwnApiKeysManage);
        me.MapPost("/api-keys", CreateApiKeyAsync).WithName("CreateMyApiKey").RequirePermission(Permission.OwnApiKeysManage);
        me.MapDelete("/api-keys/{keyId}", RevokeApiKeyAsync).WithName("RevokeMyApiKey").RequirePermission(Permission.OwnApiKeysManage);

        var orgs = app.MapGroup("api/orgs").WithTags("Organizations");
        orgs.MapPost("/", CreateOrganizationAsync).WithName("CreateOrganization").RequirePermission(Permission.OrganizationsCreate);
        orgs.MapGet("/{orgId}", GetOrganizationAsync).WithName("GetOrganization").RequirePermission(Permission.OrganizationRead);
        orgs.MapPost("/{orgId}/users", CreateUserAsync).WithName("CreateOrganizationUser").RequirePermission(Permission.OrganizationUsersManage);
        orgs.MapGet("/{orgId}/users", ListUsersAsync).WithName("ListOrganizationUsers").RequirePermission(Permission.OrganizationUsersManage);
        return app;
    }

    internal static async Task<Results<Ok<UserAccount>, ProblemHttpResult>> GetMeAsync(ClaimsPrincipal principal, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var caller = Caller.From(principal);
        var user = await services.Store.GetUserAsync(caller.UserId, ct);
        return user is null ? Problems.NotFound($"User '{caller.UserId}' no longer exists.") : TypedResults.Ok(user);
    }

    internal static async Task<Ok<IReadOnlyList<ApiKeyInfo>>> ListApiKeysAsync(ClaimsPrincipal principal, [AsParameters] IdentityServices services, CancellationToken ct) =>
        TypedResults.Ok(await services.Store.ListApiKeysAsync(Caller.From(principal).UserId, ct));

    internal static async Task<Results<Created<CreatedApiKey>, ValidationProblem, ProblemHttpResult>> CreateApiKeyAsync(
        CreateApiKeyRequest request, ClaimsPrincipal principal, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var description = errors.Name("description", request.Description);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        try
        {
            var created = await services.Store.CreateApiKeyAsync(Caller.From(principal).UserId, description!, ct);
            return TypedResults.Created($"/api/me/api-keys/{created.Id}", created);
        }
        catch (ApiKeyLimitException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeApiKeyAsync(string keyId, ClaimsPrincipal principal, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var caller = Caller.From(principal);
        if (!Ids.IsWellFormed(keyId) || !await services.Store.RevokeApiKeyAsync(caller.UserId, keyId, ct))
        {
            return Problems.NotFound($"You have no API key '{keyId}'.");
        }

        services.Authenticator.Evict(keyId);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Created<CreatedOrganization>, ValidationProblem>> CreateOrganizationAsync(
        CreateOrganizationRequest request, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var admin = request.Admin;
        if (admin is null)
        {
            errors.Add("admin", "'admin' (the organization's first administrator: name, email) is required.");
        }

        var adminName = admin is null ? null : errors.Name("admin.name", admin.Name);
        var adminEmail = admin is null ? null : Email(errors, "admin.email", admin.Email);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var org = await services.Store.CreateOrganizationAsync(name!, ct);
        var user = await services.Store.CreateUserAsync(new UserAccount(Ids.New("u"), adminName!, adminEmail, org.Id, OrgRole.Admin, false, services.Time.GetUtcNow()), ct);
        var key = await services.Store.CreateApiKeyAsync(user.Id, "first key", ct);
        return TypedResults.Created($"/api/orgs/{org.Id}", new CreatedOrganization(org, user, key));
    }

    internal static async Task<Results<Ok<Organization>, ProblemHttpResult>> GetOrganizationAsync(string orgId, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var org = await services.Store.GetOrganizationAsync(orgId, ct);
        return org is null ? Problems.NotFound($"Organization '{orgId}' does not exist.") : TypedResults.Ok(org);
    }

    internal static async Task<Results<Created<CreatedUser>, ValidationProblem>> CreateUserAsync(
        string orgId, CreateUserRequest request, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var email = Email(errors, "email", request.Email);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var user = await services.Store.CreateUserAsync(new UserAccount(Ids.New("u"), name!, email, orgId, request.OrgRole ?? OrgRole.Member, false, services.Time.GetUtcNow()), ct);
        var key = await services.Store.CreateApiKeyAsync(user.Id, "first key", ct);
        return TypedResults.Created($"/api/orgs/{orgId}/users/{user.Id}", new CreatedUser(user, key));
    }

    internal static async Task<Results<Ok<Page<UserAccount>>, ValidationProblem>> ListUsersAsync(
        string orgId, int? pageSize, string? continuationToken, [AsParameters] IdentityServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Store.ListOrganizationUsersAsync(orgId, size, continuationToken, ct));
    }

    private static string? Email(FieldErrors errors, string field, string? value)
    {
        if (value is null)
        {
            return null;
        }

        var trimmed = value.Trim();
        var at = trimmed.IndexOf('@', StringComparison.Ordinal);
        if (trimmed.Length > 254 || at < 1 || at == trimmed.Length - 1 || trimmed.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors.Add(field, $"'{field}' is not an e-mail address (name@domain, at most 254 characters).");
            return null;
        }

        return trimmed;
    }
}
