using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>Body of <c>POST /api/projects</c>; <c>orgId</c> defaults to the caller's organization.</summary>
public sealed record CreateProjectRequest(string? Name, string? OrgId);

/// <summary>Body of <c>PATCH /api/projects/{projectId}</c>.</summary>
public sealed record RenameProjectRequest(string? Name);

/// <summary>Body of <c>PUT /api/projects/{projectId}/status</c>.</summary>
public sealed record ChangeStatusRequest(ProjectStatus? Status);

/// <summary>Body of <c>PATCH /api/projects/{projectId}/settings</c>: only the fields present change.</summary>
public sealed record UpdateSettingsRequest(bool? RequireStatusClearBeforeEdit, int? FrameTolerance, double? FpsTolerance, bool? ShowTasksByOrganization = null);

/// <summary>Body of <c>PUT /api/projects/{projectId}/members/{userId}</c> and of joining as an organization admin.</summary>
public sealed record SetMemberRoleRequest(ProjectRole? Role);

/// <summary>What the project endpoints need from DI.</summary>
public sealed record ProjectServices(ProjectStore Projects, IdentityStore Identity, ApiKeyAuthenticator Authenticator, ProjectOrchestrations Orchestrations);

/// <summary>
/// Projects (<c>api/projects</c>), their status, settings and members, and the organization admin's
/// view of every project of the organization (<c>api/orgs/{orgId}/projects</c>).
/// </summary>
/// <remarks>
/// Writes to a project accept <c>If-Match</c> with the <c>ETag</c> that <c>GET</c> returned (412 on
/// mismatch); without it, concurrent writes are applied one after the other on fresh data.
/// </remarks>
public static class ProjectsApi
{
    public static IEndpointRouteBuilder MapProjectsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var projects = app.MapGroup("api/projects").WithTags("Projects");
        projects.MapPost("/", CreateAsync).WithName("CreateProject").RequirePermission(Permission.ProjectsCreate);
        projects.MapGet("/", ListMineAsync).WithName("ListMyProjects").RequirePermission(Permission.ProjectsListMine);
        projects.MapGet("/{projectId}", GetAsync).WithName("GetProject").RequirePermission(Permission.ProjectRead);
        projects.MapPatch("/{projectId}", RenameAsync).WithName("RenameProject").RequirePermission(Permission.ProjectRename);
        projects.MapDelete("/{projectId}", DeleteAsync).WithName("DeleteProject").RequirePermission(Permission.ProjectDelete)
            .Produces<OrchestrationAccepted>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound);
        projects.MapPut("/{projectId}/status", ChangeStatusAsync).WithName("ChangeProjectStatus").RequirePermission(Permission.ProjectStatusChange);
        projects.MapGet("/{projectId}/settings", GetSettingsAsync).WithName("GetProjectSettings").RequirePermission(Permission.ProjectRead);
        projects.MapPatch("/{projectId}/settings", UpdateSettingsAsync).WithName("UpdateProjectSettings").RequirePermission(Permission.ProjectSettingsUpdate);

        var members = projects.MapGroup("/{projectId}/members").WithTags("Members");
        members.MapGet("/", ListMembersAsync).WithName("ListProjectMembers").RequirePermission(Permission.MembersRead);
        members.MapPut("/{userId}", SetMemberRoleAsync).WithName("SetProjectMemberRole").RequirePermission(Permission.MembersManage);
        members.MapDelete("/{userId}", RemoveMemberAsync).WithName("RemoveProjectMember").RequirePermission(Permission.MembersManage);
        members.MapGet("/{userId}/api-keys", ListMemberApiKeysAsync).WithName("ListProjectMemberApiKeys").RequirePermission(Permission.MemberApiKeysManage);
        members.MapDelete("/{userId}/api-keys/{keyId}", RevokeMemberApiKeyAsync).WithName("RevokeProjectMemberApiKey").RequirePermission(Permission.MemberApiKeysManage);

        var orgProjects = app.MapGroup("api/orgs/{orgId}/projects").WithTags("Organizations");
        orgProjects.MapGet("/", ListOrganizationProjectsAsync).WithName("ListOrganizationProjects").RequirePermission(Permission.OrganizationProjectsList);
        orgProjects.MapPost("/{projectId}/join", JoinAsync).WithName("JoinOrganizationProject").RequirePermission(Permission.OrganizationProjectsJoin);
        return app;
    }

    internal static async Task<Results<Created<Project>, ValidationProblem>> CreateAsync(
        CreateProjectRequest request, ClaimsPrincipal principal, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var caller = Caller.From(principal);
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (request.OrgId is not null && !string.Equals(request.OrgId, caller.OrgId, StringComparison.Ordinal))
        {
            errors.Add("orgId", $"You can create projects only in your organization '{caller.OrgId}'.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var created = await services.Projects.CreateAsync(caller.OrgId, name!, caller.UserId, ct, caller.OrgId);
        ETags.Set(response, created.ETag);
        return TypedResults.Created($"/api/projects/{created.Project.Id}", created.Project);
    }

    internal static async Task<Results<Ok<Page<ProjectSummary>>, ValidationProblem>> ListMineAsync(
        int? pageSize, string? continuationToken, ClaimsPrincipal principal, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var caller = Caller.From(principal);
        var ids = await services.Identity.ListMembershipsAsync(caller.UserId, size, continuationToken, ct);
        var roles = await Task.WhenAll(ids.Items.Select(id => services.Projects.GetRoleAsync(id, caller.UserId, ct)));
        var projects = (await services.Projects.GetManyAsync(ids.Items, ct)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        var items = ids.Items.Zip(roles)
            .Where(p => p.Second is not null && projects.ContainsKey(p.First))
            .Select(p => Summary(projects[p.First], p.Second))
            .ToList();
        return TypedResults.Ok(new Page<ProjectSummary>(items, ids.ContinuationToken));
    }

    internal static async Task<Results<Ok<Project>, ProblemHttpResult>> GetAsync(string projectId, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return NotFound(projectId);
        }

        ETags.Set(response, project.ETag);
        return TypedResults.Ok(project.Project);
    }

    internal static async Task<Results<Ok<Project>, ValidationProblem, ProblemHttpResult>> RenameAsync(
        string projectId, RenameProjectRequest request, [FromHeader(Name = "If-Match")] string? ifMatch, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return await UpdateAsync(projectId, ifMatch, response, services, p => p with { Name = name! }, ct);
    }

    /// <summary>
    /// Starts the <see cref="DeleteProject"/> cascade (one instance per project) and then marks the project deleting,
    /// so from this answer on it is 404 everywhere, a second DELETE included. Starting first means a crash between
    /// the two steps leaves a running cascade (which marks the project itself), never a hidden project nobody deletes.
    /// </summary>
    internal static async Task<IResult> DeleteAsync(string projectId, HttpRequest http, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        if (await services.Projects.GetAsync(projectId, ct) is null)
        {
            return NotFound(projectId);
        }

        var instanceId = await services.Orchestrations.StartAsync(projectId, nameof(DeleteProject), nameof(DeleteProject), new DeleteProjectInput(projectId), ProjectDeletionRegistration.Key, ct);
        await services.Projects.MarkDeletingAsync(projectId, ct);
        return OrchestrationAccepted.Result(http, projectId, instanceId);
    }

    internal static async Task<Results<Ok<Project>, ValidationProblem, ProblemHttpResult>> ChangeStatusAsync(
        string projectId, ChangeStatusRequest request, [FromHeader(Name = "If-Match")] string? ifMatch, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        if (request.Status is not { } target)
        {
            return Problems.Validation("status", $"'status' is required: one of {string.Join(", ", Enum.GetNames<ProjectStatus>())}.");
        }

        string? refused = null;
        var result = await UpdateAsync(projectId, ifMatch, response, services, p =>
        {
            if (p.Status != target && !ProjectStatuses.CanMove(p.Status, target))
            {
                refused = $"A project cannot move from {p.Status} to {target}; from {p.Status} it can move to {string.Join(", ", ProjectStatuses.Transitions[p.Status])}.";
                return p;
            }

            return p with { Status = target };
        }, ct);
        return refused is null ? result : Problems.Conflict(refused);
    }

    internal static async Task<Results<Ok<ProjectSettings>, ProblemHttpResult>> GetSettingsAsync(string projectId, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return NotFound(projectId);
        }

        ETags.Set(response, project.ETag);
        return TypedResults.Ok(project.Project.Settings);
    }

    internal static async Task<Results<Ok<ProjectSettings>, ValidationProblem, ProblemHttpResult>> UpdateSettingsAsync(
        string projectId, UpdateSettingsRequest request, [FromHeader(Name = "If-Match")] string? ifMatch, HttpResponse response, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        if (request.RequireStatusClearBeforeEdit is null && request.FrameTolerance is null && request.FpsTolerance is null && request.ShowTasksByOrganization is null)
        {
            errors.Add("body", "Send at least one of 'requireStatusClearBeforeEdit', 'frameTolerance', 'fpsTolerance', 'showTasksByOrganization'.");
        }

        if (request.FrameTolerance is < 0 or > ProjectSettings.MaxFrameTolerance)
        {
            errors.Add("frameTolerance", $"'frameTolerance' must be a whole number of frames from 0 to {ProjectSettings.MaxFrameTolerance}; it is {request.FrameTolerance}.");
        }

        if (request.FpsTolerance is { } fps && (!double.IsFinite(fps) || fps < 0 || fps > ProjectSettings.MaxFpsTolerance))
        {
            errors.Add("fpsTolerance", $"'fpsTolerance' must be a number of frames per second from 0 to {ProjectSettings.MaxFpsTolerance}; it is {fps}.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var result = await UpdateAsync(projectId, ifMatch, response, services, p => p with
        {
            Settings = p.Settings with
            {
                RequireStatusClearBeforeEdit = request.RequireStatusClearBeforeEdit ?? p.Settings.RequireStatusClearBeforeEdit,
                FrameTolerance = request.FrameTolerance ?? p.Settings.FrameTolerance,
                FpsTolerance = request.FpsTolerance ?? p.Settings.FpsTolerance,
                ShowTasksByOrganization = request.ShowTasksByOrganization ?? p.Settings.ShowTasksByOrganization,
            },
        }, ct);
        return result.Result switch
        {
            Ok<Project> ok => TypedResults.Ok(ok.Value!.Settings),
            ProblemHttpResult problem => problem,
            _ => throw new InvalidOperationException("Unexpected update result."),
        };
    }

    internal static async Task<Results<Ok<Page<ProjectMember>>, ValidationProblem>> ListMembersAsync(
        string projectId, int? pageSize, string? continuationToken, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Projects.ListMembersAsync(projectId, size, continuationToken, ct));
    }

    internal static async Task<Results<Created<ProjectMember>, Ok<ProjectMember>, ValidationProblem, ProblemHttpResult>> SetMemberRoleAsync(
        string projectId, string userId, SetMemberRoleRequest request, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        if (request.Role is not { } role)
        {
            return Problems.Validation("role", $"'role' is required: one of {string.Join(", ", Enum.GetNames<ProjectRole>())}.");
        }

        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return NotFound(projectId);
        }

        // Members come from the project's organization or one of its labeling companies.
        var user = Ids.IsWellFormed(userId) ? await services.Identity.GetUserAsync(userId, ct) : null;
        if (user is null || !project.Project.AdmitsOrganization(user.OrgId))
        {
            return Problems.NotFound($"User '{userId}' does not exist in the project's organization or its labeling companies.");
        }

        return await SetRoleAsync(projectId, userId, user.OrgId, role, services, ct);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RemoveMemberAsync(string projectId, string userId, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        try
        {
            var outcome = Ids.IsWellFormed(userId) ? await services.Projects.RemoveMemberAsync(projectId, userId, ct) : RemoveMemberOutcome.NotMember;
            return outcome switch
            {
                RemoveMemberOutcome.Removed or RemoveMemberOutcome.DirectRoleRemoved => TypedResults.NoContent(),
                RemoveMemberOutcome.OnlyThroughGroups => Problems.Conflict($"User '{userId}' is a member of project '{projectId}' only through groups; remove them from the group or remove the group from the project."),
                _ => Problems.NotFound($"User '{userId}' is not a member of project '{projectId}'."),
            };
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<Ok<IReadOnlyList<ApiKeyInfo>>, ProblemHttpResult>> ListMemberApiKeysAsync(
        string projectId, string userId, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(userId) || await services.Projects.GetMemberAsync(projectId, userId, ct) is null)
        {
            return Problems.NotFound($"User '{userId}' is not a member of project '{projectId}'.");
        }

        return TypedResults.Ok(await services.Identity.ListApiKeysAsync(userId, ct));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeMemberApiKeyAsync(
        string projectId, string userId, string keyId, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(userId) || await services.Projects.GetMemberAsync(projectId, userId, ct) is null)
        {
            return Problems.NotFound($"User '{userId}' is not a member of project '{projectId}'.");
        }

        if (!Ids.IsWellFormed(keyId) || !await services.Identity.RevokeApiKeyAsync(userId, keyId, ct))
        {
            return Problems.NotFound($"User '{userId}' has no API key '{keyId}'.");
        }

        services.Authenticator.Evict(keyId);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<Page<ProjectSummary>>, ValidationProblem>> ListOrganizationProjectsAsync(
        string orgId, int? pageSize, string? continuationToken, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var ids = await services.Identity.ListOrganizationProjectsAsync(orgId, size, continuationToken, ct);
        var projects = await services.Projects.GetManyAsync(ids.Items, ct);

        // An entry can outlive a move that crashed half way; the project document says where it is.
        var here = projects.Where(p => string.Equals(p.OrgId, orgId, StringComparison.Ordinal));
        return TypedResults.Ok(new Page<ProjectSummary>([.. here.Select(p => Summary(p, null))], ids.ContinuationToken));
    }

    internal static async Task<Results<Created<ProjectMember>, Ok<ProjectMember>, ValidationProblem, ProblemHttpResult>> JoinAsync(
        string orgId, string projectId, SetMemberRoleRequest request, ClaimsPrincipal principal, [AsParameters] ProjectServices services, CancellationToken ct)
    {
        var project = Ids.IsWellFormed(projectId) ? await services.Projects.GetAsync(projectId, ct) : null;
        if (project is null || !string.Equals(project.Project.OrgId, orgId, StringComparison.Ordinal))
        {
            return Problems.NotFound($"Organization '{orgId}' has no project '{projectId}'.");
        }

        var caller = Caller.From(principal);
        return await SetRoleAsync(projectId, caller.UserId, caller.OrgId, request.Role ?? ProjectRole.Owner, services, ct);
    }

    private static async Task<Results<Created<ProjectMember>, Ok<ProjectMember>, ValidationProblem, ProblemHttpResult>> SetRoleAsync(
        string projectId, string userId, string orgId, ProjectRole role, ProjectServices services, CancellationToken ct)
    {
        try
        {
            var result = await services.Projects.SetRoleAsync(projectId, userId, role, ct, orgId);
            if (result is not { } changed)
            {
                return NotFound(projectId);
            }

            return changed.Added
                ? TypedResults.Created($"/api/projects/{projectId}/members/{userId}", changed.Member)
                : TypedResults.Ok(changed.Member);
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    private static async Task<Results<Ok<Project>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        string projectId, string? ifMatch, HttpResponse response, ProjectServices services, Func<Project, Project> change, CancellationToken ct)
    {
        try
        {
            var updated = await services.Projects.UpdateAsync(projectId, ETags.Unquote(ifMatch), change, ct);
            if (updated is null)
            {
                return NotFound(projectId);
            }

            ETags.Set(response, updated.ETag);
            return TypedResults.Ok(updated.Project);
        }
        catch (ProjectChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }
    }

    private static ProjectSummary Summary(Project project, ProjectRole? role) => new(project.Id, project.Name, project.OrgId, project.Status, role);

    private static ProblemHttpResult NotFound(string projectId) => Problems.NotFound($"Project '{projectId}' does not exist.");
}
