using Serverless.Core.Storage.Documents;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>Whose work a caller may see in a project, by organization.</summary>
/// <param name="OrganizationId">Only work done by users of this organization; null: every organization's work.</param>
public sealed record WorkScope(string? OrganizationId)
{
    public static WorkScope Everything { get; } = new((string?)null);

    public bool AllOrganizations => OrganizationId is null;

    /// <summary>
    /// The restriction as a document-store filter on the field holding the worker's organization
    /// (null: no restriction), to AND into a task or assignment query.
    /// </summary>
    public Filter? ToFilter(string organizationPath) => OrganizationId is null ? null : Filter.Eq(organizationPath, OrganizationId);
}

/// <summary>
/// The organization rule of task visibility, for the tasks feature to call: with the project setting
/// <see cref="ProjectSettings.ShowTasksByOrganization"/> on, users of a labeling company see only the
/// work of their own company; users of the project's organization see every company's work. With it
/// off (the default) nobody is restricted by organization.
/// </summary>
/// <remarks>
/// This is only the organization dimension: the role rule (annotators and reviewers see only their own
/// work) applies on top of it. Both are enforced where tasks are listed and read (<c>TasksApi</c>): a task is
/// the work of its assignees, so a restricted caller sees the tasks with at least one assignee of their
/// organization, and of those only the items assigned to such assignees. An assignee's organization is the one
/// recorded on their project membership.
/// </remarks>
public static class WorkVisibility
{
    /// <summary>
    /// Of <paramref name="userIds"/>, those whose work <paramref name="scope"/> shows: every one when the scope is
    /// unrestricted, else the project members of the scope's organization (a member recorded without an organization
    /// belongs to the project's own; a user no longer a member shows to nobody restricted).
    /// </summary>
    public static async Task<IReadOnlySet<string>> VisibleWorkersAsync(WorkScope scope, ProjectStore projects, Project project, IEnumerable<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(projects);
        ArgumentNullException.ThrowIfNull(project);
        var distinct = userIds.Distinct(StringComparer.Ordinal).ToList();
        if (scope.AllOrganizations)
        {
            return distinct.ToHashSet(StringComparer.Ordinal);
        }

        var members = await Task.WhenAll(distinct.Select(u => projects.GetMemberAsync(project.Id, u, ct)));
        return distinct.Where((_, k) => members[k] is { } m && string.Equals(m.OrgId ?? project.OrgId, scope.OrganizationId, StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);
    }

    public static WorkScope For(Project project, Caller caller)
    {
        ArgumentNullException.ThrowIfNull(project);
        ArgumentNullException.ThrowIfNull(caller);
        return !project.Settings.ShowTasksByOrganization || string.Equals(caller.OrgId, project.OrgId, StringComparison.Ordinal)
            ? WorkScope.Everything
            : new WorkScope(caller.OrgId);
    }
}
