using Serverless.Core.Storage.Documents;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>Where a project is in its life.</summary>
public enum ProjectStatus
{
    NotStarted,
    InProgress,
    Paused,
    Completed,
    Cancelled,
    Archived,
}

/// <summary>The allowed status changes, as data.</summary>
public static class ProjectStatuses
{
    public static IReadOnlyDictionary<ProjectStatus, IReadOnlyList<ProjectStatus>> Transitions { get; } = new Dictionary<ProjectStatus, IReadOnlyList<ProjectStatus>>
    {
        [ProjectStatus.NotStarted] = [ProjectStatus.InProgress, ProjectStatus.Cancelled, ProjectStatus.Archived],
        [ProjectStatus.InProgress] = [ProjectStatus.Paused, ProjectStatus.Completed, ProjectStatus.Cancelled],
        [ProjectStatus.Paused] = [ProjectStatus.InProgress, ProjectStatus.Cancelled],
        [ProjectStatus.Completed] = [ProjectStatus.InProgress, ProjectStatus.Archived],
        [ProjectStatus.Cancelled] = [ProjectStatus.Archived],

        // Unarchiving returns a project to Completed; work restarts from there with InProgress.
        [ProjectStatus.Archived] = [ProjectStatus.Completed],
    };

    public static bool CanMove(ProjectStatus from, ProjectStatus to) => Transitions[from].Contains(to);
}

/// <summary>Project settings.</summary>
/// <param name="RequireStatusClearBeforeEdit">Annotators must clear an item's status before editing its annotations.</param>
/// <param name="FrameTolerance">Frames a converted video may differ from its source by (0 to <see cref="MaxFrameTolerance"/>).</param>
/// <param name="FpsTolerance">Frames per second a converted video may differ by (0 to <see cref="MaxFpsTolerance"/>).</param>
/// <param name="ShowTasksByOrganization">
/// Users of a labeling company see only the work of their own company (<see cref="WorkVisibility"/>);
/// enforced by the tasks feature once it exists.
/// </param>
public sealed record ProjectSettings(bool RequireStatusClearBeforeEdit = false, int FrameTolerance = 0, double FpsTolerance = 0.2, bool ShowTasksByOrganization = false)
{
    public const int MaxFrameTolerance = 1000;
    public const double MaxFpsTolerance = 10;
}

/// <summary>A project as stored and returned.</summary>
public sealed record Project(
    string Id,
    string Name,
    string OrgId,
    ProjectStatus Status,
    ProjectSettings Settings,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int OwnerCount,
    bool Deleting = false,
    IReadOnlyList<string>? LabelingCompanies = null)
{
    /// <summary>Most labeling companies one project may have.</summary>
    public const int MaxLabelingCompanies = 20;

    /// <summary>Whether users of <paramref name="orgId"/> may be members: the owning organization or a labeling company.</summary>
    public bool AdmitsOrganization(string orgId) =>
        string.Equals(orgId, OrgId, StringComparison.Ordinal) || (LabelingCompanies ?? []).Contains(orgId, StringComparer.Ordinal);
}

/// <summary>A project in a list, with the caller's role when listed as "mine".</summary>
public sealed record ProjectSummary(string Id, string Name, string OrgId, ProjectStatus Status, ProjectRole? Role);

/// <summary>A role a member holds through a group added to the project.</summary>
public sealed record GroupGrant(string GroupId, ProjectRole Role);

/// <summary>A member of a project, with where their role comes from.</summary>
/// <param name="UserId">The user.</param>
/// <param name="Role">
/// The effective role, the one access checks read: <paramref name="DirectRole"/> when set (a decision about
/// this person wins over their groups), otherwise the most privileged role among <paramref name="Groups"/>.
/// </param>
/// <param name="AddedAt">When the user first became a member.</param>
/// <param name="DirectRole">The role given to the user directly, or null when they are a member only through groups.</param>
/// <param name="Groups">The groups that make the user a member, each with the role the group has in the project.</param>
/// <param name="OrgId">The user's organization (the project's own, or a labeling company).</param>
public sealed record ProjectMember(
    string UserId,
    ProjectRole Role,
    DateTimeOffset AddedAt,
    ProjectRole? DirectRole = null,
    IReadOnlyList<GroupGrant>? Groups = null,
    string? OrgId = null);

/// <summary>The ordering of roles by privilege, for choosing one effective role among several sources.</summary>
public static class ProjectRoleRanking
{
    /// <summary>Lower is more privileged. Reviewers rank above annotators: they judge annotators' work.</summary>
    public static int Rank(ProjectRole role) => role switch
    {
        ProjectRole.Owner => 0,
        ProjectRole.Developer => 1,
        ProjectRole.AnnotationManager => 2,
        ProjectRole.Reviewer => 3,
        ProjectRole.Annotator => 4,
        _ => 5,
    };

    /// <summary>The effective role of a member with these sources; null when there is none (not a member).</summary>
    public static ProjectRole? Effective(ProjectRole? direct, IReadOnlyList<GroupGrant> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        return direct ?? (groups.Count == 0 ? null : groups.MinBy(g => Rank(g.Role))!.Role);
    }
}

/// <summary>A group added to a project, with the role its members get.</summary>
public sealed record ProjectGroup(string GroupId, string OrgId, ProjectRole Role, DateTimeOffset AddedAt);

/// <summary>Container and partitions: a project and its members share <c>project:{id}</c>, so membership checks are point reads.</summary>
public static class ProjectContainers
{
    public const string Projects = "projects";
    public const string ProjectType = "project";
    public const string MemberType = "member";
    public const string GroupType = "projectGroup";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Projects, ["type", "role", "addedAt"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>The change would leave the project without an Owner.</summary>
public sealed class LastOwnerException(string projectId)
    : Exception($"Project '{projectId}' must keep at least one Owner: promote another member to Owner first.");

/// <summary>Another writer changed the project first (HTTP If-Match mismatch).</summary>
public sealed class ProjectChangedException(string projectId)
    : Exception($"Project '{projectId}' was changed since you read it (ETag mismatch); read it again and retry.");
