using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Identity;

/// <summary>A group of users of one organization, added to projects as one unit.</summary>
/// <remarks>Names need not be unique: groups are addressed by id.</remarks>
public sealed record UserGroup(string Id, string OrgId, string Name, int MemberCount, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Most users in one group: adding a group to a project writes one membership per user.</summary>
    public const int MaxMembers = 500;

    /// <summary>Most projects one group may be in: adding a user to a group writes one membership per project.</summary>
    public const int MaxProjects = 100;
}

/// <summary>A user in a group.</summary>
public sealed record GroupMember(string UserId, DateTimeOffset AddedAt);

/// <summary>A project the group is in, with the role its members get there (the group's side of the link).</summary>
public sealed record GroupProjectLink(string ProjectId, DateTimeOffset AddedAt);

/// <summary>
/// Where groups live: container <c>groups</c>, one partition <c>group:{id}</c> per group holding the
/// group, its members (id = user id) and its project links (id = project id), so a group's fan-out
/// reads one partition. The organization's list of groups is an index entry under <c>org:{id}</c>.
/// </summary>
public static class GroupContainers
{
    public const string Groups = "groups";
    public const string GroupType = "group";
    public const string MemberType = "groupMember";
    public const string ProjectType = "groupProject";
    public const string OrgIndexType = "orgGroup";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Groups, ["type", "addedAt"])];

    public static string Partition(string groupId) => $"group:{groupId}";
}

/// <summary>The group already holds <see cref="UserGroup.MaxMembers"/> users or is in <see cref="UserGroup.MaxProjects"/> projects.</summary>
public sealed class GroupLimitException(string message) : Exception(message);
