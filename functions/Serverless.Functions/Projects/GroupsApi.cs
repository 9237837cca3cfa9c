using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>Body of creating or renaming a group.</summary>
public sealed record GroupNameRequest(string? Name);

/// <summary>Body of <c>PUT /api/projects/{projectId}/groups/{groupId}</c>.</summary>
public sealed record ProjectGroupRequest(ProjectRole? Role);

/// <summary>What the group endpoints need from DI.</summary>
public sealed record GroupServices(GroupStore Groups, GroupMembershipService Memberships, ProjectStore Projects, IdentityStore Identity, TimeProvider Time);

/// <summary>
/// Groups of users: managed by organization admins (<c>api/orgs/{orgId}/groups</c>) and added to
/// projects by their Owners (<c>api/projects/{projectId}/groups</c>). Every user of a group added to a
/// project is a member with the group's role; the members list shows each member's sources
/// (<c>directRole</c>, <c>groups</c>). A direct role wins over group roles; among groups the most
/// privileged role counts. Removing a group removes the memberships it alone gave.
/// </summary>
public static class GroupsApi
{
    public static IEndpointRouteBuilder MapGroupsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var orgGroups = app.MapGroup("api/orgs/{orgId}/groups").WithTags("Groups");
        orgGroups.MapGet("/", ListAsync).WithName("ListGroups").RequirePermission(Permission.OrganizationGroupsRead);
        orgGroups.MapPost("/", CreateAsync).WithName("CreateGroup").RequirePermission(Permission.OrganizationGroupsManage);
        orgGroups.MapGet("/{groupId}", GetAsync).WithName("GetGroup").RequirePermission(Permission.OrganizationGroupsRead);
        orgGroups.MapPatch("/{groupId}", RenameAsync).WithName("RenameGroup").RequirePermission(Permission.OrganizationGroupsManage);
        orgGroups.MapDelete("/{groupId}", DeleteAsync).WithName("DeleteGroup").RequirePermission(Permission.OrganizationGroupsManage);
        orgGroups.MapGet("/{groupId}/members", ListMembersAsync).WithName("ListGroupMembers").RequirePermission(Permission.OrganizationGroupsRead);
        orgGroups.MapPut("/{groupId}/members/{userId}", AddMemberAsync).WithName("AddGroupMember").RequirePermission(Permission.OrganizationGroupsManage);
        orgGroups.MapDelete("/{groupId}/members/{userId}", RemoveMemberAsync).WithName("RemoveGroupMember").RequirePermission(Permission.OrganizationGroupsManage);

        var projectGroups = app.MapGroup("api/projects/{projectId}/groups").WithTags("Members");
        projectGroups.MapGet("/", ListProjectGroupsAsync).WithName("ListProjectGroups").RequirePermission(Permission.MembersRead);
        projectGroups.MapPut("/{groupId}", SetProjectGroupAsync).WithName("SetProjectGroup").RequirePermission(Permission.ProjectGroupsManage);
        projectGroups.MapDelete("/{groupId}", RemoveProjectGroupAsync).WithName("RemoveProjectGroup").RequirePermission(Permission.ProjectGroupsManage);
        return app;
    }

    internal static async Task<Results<Ok<Page<UserGroup>>, ValidationProblem>> ListAsync(
        string orgId, int? pageSize, string? continuationToken, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Groups.ListAsync(orgId, size, continuationToken, ct));
    }

    internal static async Task<Results<Created<UserGroup>, ValidationProblem>> CreateAsync(
        string orgId, GroupNameRequest request, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var group = await services.Groups.CreateAsync(orgId, name!, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/groups/{group.Id}", group);
    }

    internal static async Task<Results<Ok<UserGroup>, ProblemHttpResult>> GetAsync(string orgId, string groupId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var group = await FindAsync(orgId, groupId, services, ct);
        return group is null ? GroupNotFound(orgId, groupId) : TypedResults.Ok(group);
    }

    internal static async Task<Results<Ok<UserGroup>, ValidationProblem, ProblemHttpResult>> RenameAsync(
        string orgId, string groupId, GroupNameRequest request, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (await FindAsync(orgId, groupId, services, ct) is null)
        {
            return GroupNotFound(orgId, groupId);
        }

        var renamed = await services.Groups.RenameAsync(groupId, name!, ct);
        return renamed is null ? GroupNotFound(orgId, groupId) : TypedResults.Ok(renamed);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string orgId, string groupId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var group = await FindAsync(orgId, groupId, services, ct);
        if (group is null)
        {
            return GroupNotFound(orgId, groupId);
        }

        try
        {
            await services.Memberships.DeleteAsync(group, ct);
            return TypedResults.NoContent();
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict("The group holds the only Owners of a project. " + ex.Message);
        }
    }

    internal static async Task<Results<Ok<IReadOnlyList<GroupMember>>, ProblemHttpResult>> ListMembersAsync(
        string orgId, string groupId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var group = await FindAsync(orgId, groupId, services, ct);
        return group is null ? GroupNotFound(orgId, groupId) : TypedResults.Ok(await services.Groups.ListMembersAsync(groupId, ct));
    }

    internal static async Task<Results<Created<GroupMember>, Ok<GroupMember>, ProblemHttpResult>> AddMemberAsync(
        string orgId, string groupId, string userId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var group = await FindAsync(orgId, groupId, services, ct);
        if (group is null)
        {
            return GroupNotFound(orgId, groupId);
        }

        // Same organization only: a labeling company's users are grouped by that company's admins.
        var user = Ids.IsWellFormed(userId) ? await services.Identity.GetUserAsync(userId, ct) : null;
        if (user is null || !string.Equals(user.OrgId, orgId, StringComparison.Ordinal))
        {
            return Problems.NotFound($"User '{userId}' does not exist in organization '{orgId}'.");
        }

        try
        {
            var (outcome, added) = await services.Memberships.AddUserAsync(group, user, ct);
            if (outcome != GroupChangeOutcome.Done)
            {
                return GroupNotFound(orgId, groupId);
            }

            var member = new GroupMember(userId, services.Time.GetUtcNow());
            var stored = (await services.Groups.ListMembersAsync(groupId, ct)).FirstOrDefault(m => m.UserId == userId) ?? member;
            return added ? TypedResults.Created($"/api/orgs/{orgId}/groups/{groupId}/members/{userId}", stored) : TypedResults.Ok(stored);
        }
        catch (GroupLimitException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RemoveMemberAsync(
        string orgId, string groupId, string userId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        var group = await FindAsync(orgId, groupId, services, ct);
        if (group is null)
        {
            return GroupNotFound(orgId, groupId);
        }

        try
        {
            return Ids.IsWellFormed(userId) && await services.Memberships.RemoveUserAsync(group, userId, ct) == GroupChangeOutcome.Done
                ? TypedResults.NoContent()
                : Problems.NotFound($"User '{userId}' is not in group '{groupId}'.");
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict("Through this group the user is the only Owner of a project. " + ex.Message);
        }
    }

    internal static async Task<Ok<IReadOnlyList<ProjectGroup>>> ListProjectGroupsAsync(string projectId, [AsParameters] GroupServices services, CancellationToken ct) =>
        TypedResults.Ok(await services.Projects.ListGroupsAsync(projectId, ct));

    internal static async Task<Results<Created<ProjectGroup>, Ok<ProjectGroup>, ValidationProblem, ProblemHttpResult>> SetProjectGroupAsync(
        string projectId, string groupId, ProjectGroupRequest request, [AsParameters] GroupServices services, CancellationToken ct)
    {
        if (request.Role is not { } role)
        {
            return Problems.Validation("role", $"'role' is required: one of {string.Join(", ", Enum.GetNames<ProjectRole>())}.");
        }

        try
        {
            var (outcome, group, added) = await services.Memberships.AddToProjectAsync(projectId, groupId, role, services.Time.GetUtcNow(), ct);
            return outcome switch
            {
                GroupChangeOutcome.Done when added => TypedResults.Created($"/api/projects/{projectId}/groups/{groupId}", group!),
                GroupChangeOutcome.Done => TypedResults.Ok(group!),
                GroupChangeOutcome.ProjectNotFound => Problems.NotFound($"Project '{projectId}' does not exist."),
                GroupChangeOutcome.TooManyGroups => Problems.Conflict($"A project can have at most {ProjectStore.MaxGroupsPerProject} groups."),
                _ => Problems.NotFound($"Group '{groupId}' does not exist in the project's organization or its labeling companies."),
            };
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict(ex.Message);
        }
        catch (GroupLimitException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RemoveProjectGroupAsync(string projectId, string groupId, [AsParameters] GroupServices services, CancellationToken ct)
    {
        try
        {
            return await services.Memberships.RemoveFromProjectAsync(projectId, groupId, ct) == GroupChangeOutcome.Done
                ? TypedResults.NoContent()
                : Problems.NotFound($"Group '{groupId}' is not in project '{projectId}'.");
        }
        catch (LastOwnerException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    private static async Task<UserGroup?> FindAsync(string orgId, string groupId, GroupServices services, CancellationToken ct)
    {
        var group = await services.Groups.GetAsync(groupId, ct);
        return group is not null && string.Equals(group.OrgId, orgId, StringComparison.Ordinal) ? group : null;
    }

    private static ProblemHttpResult GroupNotFound(string orgId, string groupId) =>
        Problems.NotFound($"Organization '{orgId}' has no group '{groupId}'.");
}
