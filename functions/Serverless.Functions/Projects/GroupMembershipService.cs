using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>What a group change did, for the HTTP layer to answer.</summary>
public enum GroupChangeOutcome
{
    Done,
    ProjectNotFound,
    GroupNotFound,
    GroupNotAdmitted,
    NotInGroup,
    TooManyGroups,
}

/// <summary>
/// Keeps project memberships in step with groups. A group in a project is materialized: each of its
/// users holds a grant on their member document (<see cref="ProjectMember.Groups"/>), so the access check
/// stays one point read of the member document per request, the same as for direct members. This
/// service writes those grants whenever a group is added to or removed from a project, a user joins or
/// leaves a group, or a group is deleted.
/// </summary>
/// <remarks>
/// Ordering makes every step safe to repeat and races benign: the group's side of a link is written
/// before its members are listed (a user added meanwhile sees the link and gets the grant), and removed
/// before grants are taken back. Changes that could remove the last Owner are checked for the whole
/// change before the first write (<see cref="ProjectStore.OwnersAfterAsync"/>) and refused as one.
/// </remarks>
public sealed class GroupMembershipService(ProjectStore projects, GroupStore groups)
{
    /// <summary>Adds the group to the project with <paramref name="role"/>, or changes its role.</summary>
    /// <exception cref="LastOwnerException">Lowering the role would leave no Owner.</exception>
    /// <exception cref="GroupLimitException">The group is in too many projects.</exception>
    public async Task<(GroupChangeOutcome Outcome, ProjectGroup? Group, bool Added)> AddToProjectAsync(string projectId, string groupId, ProjectRole role, DateTimeOffset now, CancellationToken ct)
    {
        var project = await projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return (GroupChangeOutcome.ProjectNotFound, null, false);
        }

        var group = await groups.GetAsync(groupId, ct);
        if (group is null)
        {
            return (GroupChangeOutcome.GroupNotFound, null, false);
        }

        if (!project.Project.AdmitsOrganization(group.OrgId))
        {
            return (GroupChangeOutcome.GroupNotAdmitted, null, false);
        }

        var existing = await projects.GetGroupAsync(projectId, groupId, ct);
        if (existing is null && (await projects.ListGroupsAsync(projectId, ct)).Count >= ProjectStore.MaxGroupsPerProject)
        {
            return (GroupChangeOutcome.TooManyGroups, null, false);
        }

        var members = await groups.ListMembersAsync(groupId, ct);
        var userIds = members.Select(m => m.UserId).ToList();
        if (await projects.OwnersAfterAsync(projectId, userIds, (d, g) => (d, Grant(g, groupId, role)), ct) < 1)
        {
            throw new LastOwnerException(projectId);
        }

        await groups.LinkProjectAsync(groupId, projectId, ct);
        var link = new ProjectGroup(groupId, group.OrgId, role, existing?.AddedAt ?? now);
        await projects.PutGroupAsync(projectId, link, ct);

        // Listed again after the link: users who joined meanwhile are included (or got the grant themselves).
        foreach (var member in await groups.ListMembersAsync(groupId, ct))
        {
            await projects.SetGroupGrantAsync(projectId, member.UserId, group.OrgId, groupId, role, ct);
        }

        return (GroupChangeOutcome.Done, link, existing is null);
    }

    /// <summary>Removes the group from the project: its users leave unless they are direct members or in another of its groups.</summary>
    /// <exception cref="LastOwnerException">The group's users include the only Owners.</exception>
    public async Task<GroupChangeOutcome> RemoveFromProjectAsync(string projectId, string groupId, CancellationToken ct)
    {
        var link = Ids.IsWellFormed(groupId) ? await projects.GetGroupAsync(projectId, groupId, ct) : null;
        if (link is null)
        {
            return GroupChangeOutcome.GroupNotFound;
        }

        var members = await groups.ListMembersAsync(groupId, ct);
        if (await projects.OwnersAfterAsync(projectId, members.Select(m => m.UserId), (d, g) => (d, Grant(g, groupId, null)), ct) < 1)
        {
            throw new LastOwnerException(projectId);
        }

        await RevokeAsync(projectId, link, members, ct);
        return GroupChangeOutcome.Done;
    }

    /// <summary>Adds a user (of the group's organization, checked by the caller) and grants them the group's role in its projects.</summary>
    /// <exception cref="GroupLimitException">The group is full.</exception>
    public async Task<(GroupChangeOutcome Outcome, bool Added)> AddUserAsync(UserGroup group, UserAccount user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(user);
        var added = await groups.AddMemberAsync(group.Id, user.Id, ct);
        if (added is null)
        {
            return (GroupChangeOutcome.GroupNotFound, false);
        }

        foreach (var link in await groups.ListProjectsAsync(group.Id, ct))
        {
            var projectGroup = await projects.GetGroupAsync(link.ProjectId, group.Id, ct);
            if (projectGroup is not null)
            {
                await projects.SetGroupGrantAsync(link.ProjectId, user.Id, user.OrgId, group.Id, projectGroup.Role, ct);
            }
        }

        return (GroupChangeOutcome.Done, added.Value);
    }

    /// <summary>Removes a user from the group and takes back the group's role in each of its projects.</summary>
    /// <exception cref="LastOwnerException">The user is, through this group, the only Owner of one of its projects.</exception>
    public async Task<GroupChangeOutcome> RemoveUserAsync(UserGroup group, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(group);
        var links = await groups.ListProjectsAsync(group.Id, ct);
        foreach (var link in links)
        {
            if (await projects.OwnersAfterAsync(link.ProjectId, [userId], (d, g) => (d, Grant(g, group.Id, null)), ct) < 1)
            {
                throw new LastOwnerException(link.ProjectId);
            }
        }

        if (!await groups.RemoveMemberAsync(group.Id, userId, ct))
        {
            return GroupChangeOutcome.NotInGroup;
        }

        foreach (var link in links)
        {
            await projects.SetGroupGrantAsync(link.ProjectId, userId, group.OrgId, group.Id, null, ct);
        }

        return GroupChangeOutcome.Done;
    }

    /// <summary>Removes the group from every project, then deletes it.</summary>
    /// <exception cref="LastOwnerException">The group holds the only Owners of one of its projects.</exception>
    public async Task DeleteAsync(UserGroup group, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(group);
        var members = await groups.ListMembersAsync(group.Id, ct);
        var links = await groups.ListProjectsAsync(group.Id, ct);
        foreach (var link in links)
        {
            if (await projects.OwnersAfterAsync(link.ProjectId, members.Select(m => m.UserId), (d, g) => (d, Grant(g, group.Id, null)), ct) < 1)
            {
                throw new LastOwnerException(link.ProjectId);
            }
        }

        foreach (var link in links)
        {
            var projectGroup = await projects.GetGroupAsync(link.ProjectId, group.Id, ct);
            await RevokeAsync(link.ProjectId, projectGroup ?? new ProjectGroup(group.Id, group.OrgId, ProjectRole.Annotator, link.AddedAt), members, ct);
        }

        await groups.DeleteAsync(group, ct);
    }

    /// <summary>
    /// Group side first, so no new grant follows; the project's link document goes last, so a retry finds it.
    /// When a concurrent change makes a revocation hit the one-Owner rule after the check, the group is put
    /// back as it was (link and the grants already taken) before the refusal is reported.
    /// </summary>
    private async Task RevokeAsync(string projectId, ProjectGroup link, IReadOnlyList<GroupMember> members, CancellationToken ct)
    {
        await groups.UnlinkProjectAsync(link.GroupId, projectId, ct);
        var revoked = new List<GroupMember>();
        try
        {
            foreach (var member in members)
            {
                await projects.SetGroupGrantAsync(projectId, member.UserId, link.OrgId, link.GroupId, null, ct);
                revoked.Add(member);
            }
        }
        catch (LastOwnerException)
        {
            await groups.LinkProjectAsync(link.GroupId, projectId, CancellationToken.None);
            foreach (var member in revoked)
            {
                await projects.SetGroupGrantAsync(projectId, member.UserId, link.OrgId, link.GroupId, link.Role, CancellationToken.None);
            }

            throw;
        }

        await projects.RemoveGroupAsync(projectId, link.GroupId, ct);
    }

    private static List<GroupGrant> Grant(IReadOnlyList<GroupGrant> grants, string groupId, ProjectRole? role)
    {
        var others = grants.Where(g => !string.Equals(g.GroupId, groupId, StringComparison.Ordinal)).ToList();
        if (role is { } r)
        {
            others.Add(new GroupGrant(groupId, r));
        }

        return others;
    }
}
