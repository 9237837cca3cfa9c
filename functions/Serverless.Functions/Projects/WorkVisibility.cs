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
/// work) applies on top of it, and both are enforced where tasks are read (issue 5). Nothing is
/// enforced yet because tasks do not exist yet.
/// </remarks>
public static class WorkVisibility
{
    public static WorkScope For(Project project, Caller caller)
    {
        ArgumentNullException.ThrowIfNull(project);
        ArgumentNullException.ThrowIfNull(caller);
        return !project.Settings.ShowTasksByOrganization || string.Equals(caller.OrgId, project.OrgId, StringComparison.Ordinal)
            ? WorkScope.Everything
            : new WorkScope(caller.OrgId);
    }
}
