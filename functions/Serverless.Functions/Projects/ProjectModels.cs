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
public sealed record ProjectSettings(bool RequireStatusClearBeforeEdit = false, int FrameTolerance = 0, double FpsTolerance = 0.2)
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
    bool Deleting = false);

/// <summary>A project in a list, with the caller's role when listed as "mine".</summary>
public sealed record ProjectSummary(string Id, string Name, string OrgId, ProjectStatus Status, ProjectRole? Role);

/// <summary>A member of a project.</summary>
public sealed record ProjectMember(string UserId, ProjectRole Role, DateTimeOffset AddedAt);

/// <summary>Container and partitions: a project and its members share <c>project:{id}</c>, so membership checks are point reads.</summary>
public static class ProjectContainers
{
    public const string Projects = "projects";
    public const string ProjectType = "project";
    public const string MemberType = "member";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Projects, ["type", "role", "addedAt"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>The change would leave the project without an Owner.</summary>
public sealed class LastOwnerException(string projectId)
    : Exception($"Project '{projectId}' must keep at least one Owner: promote another member to Owner first.");

/// <summary>Another writer changed the project first (HTTP If-Match mismatch).</summary>
public sealed class ProjectChangedException(string projectId)
    : Exception($"Project '{projectId}' was changed since you read it (ETag mismatch); read it again and retry.");
