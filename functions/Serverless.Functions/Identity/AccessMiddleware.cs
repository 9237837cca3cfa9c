using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Serverless.Functions.Identity;

/// <summary>Answers "what role does this user hold in this project?" (null: not a member, or no such project).</summary>
public interface IProjectMembership
{
    /// <summary>The caller's role, or null when the project does not exist, is being deleted, or the user is not a member.</summary>
    Task<ProjectRole?> GetRoleAsync(string projectId, string userId, CancellationToken ct);
}

/// <summary>
/// Enforces each endpoint's <see cref="PermissionRequirement"/> before parameter binding, so that a
/// refused caller learns nothing from validation errors. Runs after authentication: every endpoint
/// needs an API key (401 otherwise) unless it is <see cref="AnonymousByDesign"/>.
/// </summary>
/// <remarks>
/// Deny by default: an endpoint with neither metadata is refused with 403. Outsiders get 404 for
/// a project or organization (its existence is not revealed); members lacking the permission 403.
/// </remarks>
public sealed class AccessMiddleware(RequestDelegate next, IProblemDetailsService problems)
{
    public const string ProjectRouteValue = "projectId";
    public const string OrgRouteValue = "orgId";

    /// <summary>Where the middleware leaves the caller's project role for handlers.</summary>
    public const string ProjectRoleItem = "access.projectRole";

    /// <summary>
    /// Whether the caller works in the project as an annotator or reviewer: the roles that see and change only
    /// their own work (assigned items, own activity), while managers and above see the project's.
    /// </summary>
    public static bool SeesOnlyOwnWork(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items[ProjectRoleItem] is ProjectRole.Annotator or ProjectRole.Reviewer;
    }

    public async Task InvokeAsync(HttpContext context, IProjectMembership membership)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(membership);
        var endpoint = context.GetEndpoint();
        if (endpoint is null || endpoint.Metadata.GetMetadata<AnonymousByDesign>() is not null)
        {
            await next(context);
            return;
        }

        if (context.User.Identity?.IsAuthenticated != true)
        {
            await context.ChallengeAsync();
            return;
        }

        var required = endpoint.Metadata.GetMetadata<PermissionRequirement>();
        if (required is null)
        {
            await WriteAsync(context, StatusCodes.Status403Forbidden, "Forbidden", $"Endpoint '{endpoint.DisplayName}' declares no permission, so it is denied (deny by default).");
            return;
        }

        var caller = Caller.From(context.User);
        var rule = required.Rule;
        var refusal = rule.Scope switch
        {
            PermissionScope.Authenticated => null,
            PermissionScope.Platform => caller.IsPlatformAdmin ? null : Refuse(StatusCodes.Status403Forbidden, $"{rule.Permission} needs a platform administrator."),
            PermissionScope.Organization => CheckOrganization(context, caller, rule),
            PermissionScope.Project => await CheckProjectAsync(context, caller, rule, membership),
            _ => Refuse(StatusCodes.Status403Forbidden, $"Unknown permission scope {rule.Scope}."),
        };
        if (refusal is not null)
        {
            await WriteAsync(context, refusal.Value.Status, refusal.Value.Status == StatusCodes.Status404NotFound ? "Not found" : "Forbidden", refusal.Value.Detail);
            return;
        }

        await next(context);
    }

    private static (int Status, string Detail)? CheckOrganization(HttpContext context, Caller caller, PermissionRule rule)
    {
        var orgId = context.GetRouteValue(OrgRouteValue) as string;
        if (orgId is null || !string.Equals(orgId, caller.OrgId, StringComparison.Ordinal))
        {
            return Refuse(StatusCodes.Status404NotFound, $"Organization '{orgId}' does not exist or you are not a member of it.");
        }

        return rule.OrgRoles.Contains(caller.OrgRole)
            ? null
            : Refuse(StatusCodes.Status403Forbidden, $"{rule.Permission} needs organization role {string.Join(" or ", rule.OrgRoles)}; you are {caller.OrgRole}.");
    }

    private static async Task<(int Status, string Detail)?> CheckProjectAsync(HttpContext context, Caller caller, PermissionRule rule, IProjectMembership membership)
    {
        var projectId = context.GetRouteValue(ProjectRouteValue) as string;
        var role = Ids.IsWellFormed(projectId) ? await membership.GetRoleAsync(projectId!, caller.UserId, context.RequestAborted) : null;
        if (role is null)
        {
            return Refuse(StatusCodes.Status404NotFound, $"Project '{projectId}' does not exist or you are not a member of it.");
        }

        context.Items[ProjectRoleItem] = role.Value;
        return rule.ProjectRoles.Contains(role.Value)
            ? null
            : Refuse(StatusCodes.Status403Forbidden, $"{rule.Permission} needs project role {string.Join(" or ", rule.ProjectRoles)}; you are {role.Value}.");
    }

    private static (int Status, string Detail) Refuse(int status, string detail) => (status, detail);

    private async Task WriteAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
