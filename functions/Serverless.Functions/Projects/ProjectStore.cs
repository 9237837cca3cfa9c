using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Filters;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>A membership change: the member before and after (null: not a member).</summary>
public sealed record MemberChange(ProjectMember? Before, ProjectMember? After);

/// <summary>What removing a member's direct role did.</summary>
public enum RemoveMemberOutcome
{
    /// <summary>The user is not a member.</summary>
    NotMember,

    /// <summary>The user had only the direct role and left the project.</summary>
    Removed,

    /// <summary>The direct role is gone; groups keep the user in the project with their role.</summary>
    DirectRoleRemoved,

    /// <summary>The user is a member only through groups: nothing to remove directly.</summary>
    OnlyThroughGroups,
}

/// <summary>A project with its version tag.</summary>
public sealed record VersionedProject(Project Project, string ETag);

/// <summary>
/// Projects and their members in the document store. The project document carries
/// <see cref="Project.OwnerCount"/>; every membership change rewrites it in one atomic batch with the
/// member document, guarded by the project's ETag, so concurrent demotions cannot remove the last Owner.
/// </summary>
public sealed class ProjectStore(IDocumentStore store, IdentityStore identity, GroupStore groups, SavedFilterStore savedFilters, TimeProvider time) : IProjectMembership
{
    /// <summary>Most groups one project may have.</summary>
    public const int MaxGroupsPerProject = 50;

    private const int MaxAttempts = 30;

    private IDocumentContainer Container => store.Container(ProjectContainers.Projects);

    public async Task<ProjectRole?> GetRoleAsync(string projectId, string userId, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        var projectTask = Container.ReadAsync(partition, projectId, ct);
        var memberTask = Container.ReadAsync(partition, userId, ct);
        var (project, member) = (await projectTask, await memberTask);
        if (project is null || project.Body["deleting"]?.GetValue<bool>() == true || member is null)
        {
            return null;
        }

        return member.Body.Deserialize<ProjectMember>(DocumentJson.Options)!.Role;
    }

    /// <summary>The project, or null when absent or being deleted.</summary>
    public async Task<VersionedProject?> GetAsync(string projectId, CancellationToken ct)
    {
        var doc = await Container.ReadAsync(ProjectContainers.Partition(projectId), projectId, ct);
        if (doc is null)
        {
            return null;
        }

        var project = doc.Body.Deserialize<Project>(DocumentJson.Options)!;
        return project.Deleting ? null : new VersionedProject(project with { LabelingCompanies = project.LabelingCompanies ?? [] }, doc.ETag);
    }

    /// <summary>
    /// Creates the project with its creator as Owner. The index entries (the creator's list, the
    /// organization's list) are written first: if the project write then fails, the lists only hold
    /// an id that resolves to nothing and is skipped.
    /// </summary>
    public async Task<VersionedProject> CreateAsync(string orgId, string name, string creatorId, CancellationToken ct, string? creatorOrgId = null)
    {
        var now = time.GetUtcNow();
        var project = new Project(Ids.New("p"), name, orgId, ProjectStatus.NotStarted, new ProjectSettings(), creatorId, now, now, OwnerCount: 1, LabelingCompanies: []);
        await identity.IndexMembershipAsync(creatorId, project.Id, nameof(ProjectRole.Owner), now, ct);
        await identity.IndexOrganizationProjectAsync(orgId, project.Id, now, ct);
        var results = await Container.ExecuteBatchAsync(ProjectContainers.Partition(project.Id),
        [
            BatchOperation.Create(project.Id, Body(project, ProjectContainers.ProjectType)),
            BatchOperation.Create(creatorId, Body(new ProjectMember(creatorId, ProjectRole.Owner, now, ProjectRole.Owner, [], creatorOrgId ?? orgId), ProjectContainers.MemberType)),
        ], ct);
        return new VersionedProject(project, results[0]!.ETag);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the current project and writes it guarded by its ETag.
    /// With <paramref name="ifMatch"/> (the client's If-Match) a mismatch throws
    /// <see cref="ProjectChangedException"/>; without it, a concurrent write is retried on fresh data.
    /// Returns null when the project does not exist.
    /// </summary>
    public async Task<VersionedProject?> UpdateAsync(string projectId, string? ifMatch, Func<Project, Project> change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var current = await GetAsync(projectId, ct);
            if (current is null)
            {
                return null;
            }

            if (ifMatch is not null && !ETags.Same(ifMatch, current.ETag))
            {
                throw new ProjectChangedException(projectId);
            }

            var updated = change(current.Project) with { UpdatedAt = time.GetUtcNow() };
            try
            {
                var doc = await Container.ReplaceAsync(ProjectContainers.Partition(projectId), projectId, Body(updated, ProjectContainers.ProjectType), current.ETag, ct);
                return new VersionedProject(updated, doc.ETag);
            }
            catch (DocumentPreconditionFailedException) when (ifMatch is null && attempt < MaxAttempts)
            {
                // Someone else wrote first; re-read and re-apply.
            }
            catch (DocumentPreconditionFailedException)
            {
                throw new ProjectChangedException(projectId);
            }
        }
    }

    public async Task<ProjectMember?> GetMemberAsync(string projectId, string userId, CancellationToken ct)
    {
        var doc = await Container.ReadAsync(ProjectContainers.Partition(projectId), userId, ct);
        return doc is null || doc.Body["type"]?.GetValue<string>() != ProjectContainers.MemberType ? null : Normalize(doc.Body.Deserialize<ProjectMember>(DocumentJson.Options)!);
    }

    public async Task<Page<ProjectMember>> ListMembersAsync(string projectId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(ProjectContainers.Partition(projectId), Filter.Eq("type", ProjectContainers.MemberType), [new SortField("addedAt")], pageSize, continuationToken),
            ct);
        return new Page<ProjectMember>([.. page.Items.Select(d => Normalize(d.Body.Deserialize<ProjectMember>(DocumentJson.Options)!))], page.ContinuationToken);
    }

    /// <summary>Adds a member or changes their direct role. Returns the member and whether they were added.</summary>
    /// <param name="projectId">The project.</param>
    /// <param name="userId">The user.</param>
    /// <param name="role">The direct role.</param>
    /// <param name="orgId">The user's organization, recorded on the member (labeling companies are found by it).</param>
    /// <param name="ct">Cancellation.</param>
    /// <exception cref="LastOwnerException">The change would demote the last Owner.</exception>
    public async Task<(ProjectMember Member, bool Added)?> SetRoleAsync(string projectId, string userId, ProjectRole role, CancellationToken ct, string? orgId = null)
    {
        var change = await ChangeMemberAsync(projectId, userId, orgId, (_, groups) => (role, groups), ct);
        return change is null ? null : (change.After!, change.Before is null);
    }

    /// <summary>Removes a member's direct role: they leave the project unless a group keeps them in it.</summary>
    /// <exception cref="LastOwnerException">The member is the last Owner.</exception>
    public async Task<RemoveMemberOutcome> RemoveMemberAsync(string projectId, string userId, CancellationToken ct)
    {
        var member = await GetMemberAsync(projectId, userId, ct);
        if (member is null)
        {
            return RemoveMemberOutcome.NotMember;
        }

        if (member.DirectRole is null)
        {
            return RemoveMemberOutcome.OnlyThroughGroups;
        }

        var change = await ChangeMemberAsync(projectId, userId, null, (_, groups) => (null, groups), ct);
        return change?.After is null ? RemoveMemberOutcome.Removed : RemoveMemberOutcome.DirectRoleRemoved;
    }

    /// <summary>Gives or takes (<paramref name="role"/> null) the role a group grants one of its users.</summary>
    /// <exception cref="LastOwnerException">The change would leave the project without an Owner.</exception>
    public Task<MemberChange?> SetGroupGrantAsync(string projectId, string userId, string orgId, string groupId, ProjectRole? role, CancellationToken ct) =>
        ChangeMemberAsync(projectId, userId, orgId, (direct, groups) =>
        {
            var others = groups.Where(g => !string.Equals(g.GroupId, groupId, StringComparison.Ordinal));
            return (direct, role is { } r ? [.. others, new GroupGrant(groupId, r)] : [.. others]);
        }, ct);

    /// <summary>
    /// How many Owners the project would have after applying <paramref name="change"/> to each listed
    /// member (point reads; nothing is written). Lets a group change that touches many members be refused
    /// whole, before its first write, instead of failing half way.
    /// </summary>
    public async Task<int?> OwnersAfterAsync(string projectId, IEnumerable<string> userIds, Func<ProjectRole?, IReadOnlyList<GroupGrant>, (ProjectRole? Direct, IReadOnlyList<GroupGrant> Groups)> change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(change);
        var project = await GetAsync(projectId, ct);
        if (project is null)
        {
            return null;
        }

        var owners = project.Project.OwnerCount;
        foreach (var userId in userIds)
        {
            var member = await GetMemberAsync(projectId, userId, ct);
            var (direct, groups) = change(member?.DirectRole, member?.Groups ?? []);
            owners += (ProjectRoleRanking.Effective(direct, groups) == ProjectRole.Owner ? 1 : 0) - (member?.Role == ProjectRole.Owner ? 1 : 0);
        }

        return owners;
    }

    /// <summary>
    /// The one write path of membership: applies <paramref name="change"/> to the member's sources (direct
    /// role, group grants), derives the effective role, and writes the member document in one atomic
    /// batch with the project document, whose ETag guards <see cref="Project.OwnerCount"/>. A member left
    /// with no source is deleted. Returns null when the project does not exist.
    /// </summary>
    /// <exception cref="LastOwnerException">The change would leave the project without an Owner.</exception>
    private async Task<MemberChange?> ChangeMemberAsync(
        string projectId, string userId, string? orgId, Func<ProjectRole?, IReadOnlyList<GroupGrant>, (ProjectRole? Direct, IReadOnlyList<GroupGrant> Groups)> change, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        for (var attempt = 1; ; attempt++)
        {
            var project = await GetAsync(projectId, ct);
            if (project is null)
            {
                return null;
            }

            var memberDoc = await Container.ReadAsync(partition, userId, ct);
            if (memberDoc is not null && memberDoc.Body["type"]?.GetValue<string>() != ProjectContainers.MemberType)
            {
                throw new InvalidOperationException($"'{userId}' is not a user id.");
            }

            var existing = memberDoc is null ? null : Normalize(memberDoc.Body.Deserialize<ProjectMember>(DocumentJson.Options)!);
            var (direct, groups) = change(existing?.DirectRole, existing?.Groups ?? []);
            groups = [.. groups.OrderBy(g => g.GroupId, StringComparer.Ordinal)];
            var role = ProjectRoleRanking.Effective(direct, groups);
            var member = role is { } r
                ? new ProjectMember(userId, r, existing?.AddedAt ?? time.GetUtcNow(), direct, groups, orgId ?? existing?.OrgId)
                : null;
            if (existing is null && member is null)
            {
                return new MemberChange(null, null);
            }

            if (existing is not null && member is not null && SameMember(existing, member))
            {
                return new MemberChange(existing, existing);
            }

            var owners = project.Project.OwnerCount
                - (existing?.Role == ProjectRole.Owner ? 1 : 0)
                + (member?.Role == ProjectRole.Owner ? 1 : 0);
            if (owners < 1)
            {
                throw new LastOwnerException(projectId);
            }

            if (existing is null)
            {
                // Index first: a dangling index entry is skipped by "my projects"; a missing one would hide the project.
                await identity.IndexMembershipAsync(userId, projectId, member!.Role.ToString(), member.AddedAt, ct);
            }

            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(projectId, Body(project.Project with { OwnerCount = owners, UpdatedAt = time.GetUtcNow() }, ProjectContainers.ProjectType), project.ETag),
                    member is null ? BatchOperation.Delete(userId, memberDoc!.ETag)
                        : memberDoc is null ? BatchOperation.Create(userId, Body(member, ProjectContainers.MemberType))
                        : BatchOperation.Replace(userId, Body(member, ProjectContainers.MemberType), memberDoc.ETag),
                ], ct);
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                // A concurrent membership change: recount on fresh data.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
                continue;
            }

            if (member is null)
            {
                await identity.RemoveMembershipIndexAsync(userId, projectId, ct);
            }
            else if (existing is not null && existing.Role != member.Role)
            {
                await identity.IndexMembershipAsync(userId, projectId, member.Role.ToString(), member.AddedAt, ct);
            }

            return new MemberChange(existing, member);
        }
    }

    /// <summary>Members written before groups existed carry only <c>role</c>: that was their direct role.</summary>
    private static ProjectMember Normalize(ProjectMember member) =>
        member.DirectRole is null && (member.Groups is null || member.Groups.Count == 0)
            ? member with { DirectRole = member.Role, Groups = [] }
            : member with { Groups = member.Groups ?? [] };

    private static bool SameMember(ProjectMember a, ProjectMember b) =>
        a.Role == b.Role && a.DirectRole == b.DirectRole && string.Equals(a.OrgId, b.OrgId, StringComparison.Ordinal)
        && (a.Groups ?? []).SequenceEqual(b.Groups ?? []);

    /// <summary>The groups added to the project (at most <see cref="MaxGroupsPerProject"/>).</summary>
    public async Task<IReadOnlyList<ProjectGroup>> ListGroupsAsync(string projectId, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(ProjectContainers.Partition(projectId), Filter.Eq("type", ProjectContainers.GroupType), [new SortField("addedAt")], MaxGroupsPerProject + 1),
            ct);
        return [.. page.Items.Select(d => d.Body.Deserialize<ProjectGroup>(DocumentJson.Options)!)];
    }

    public async Task<ProjectGroup?> GetGroupAsync(string projectId, string groupId, CancellationToken ct)
    {
        var doc = await Container.ReadAsync(ProjectContainers.Partition(projectId), groupId, ct);
        return doc is null || doc.Body["type"]?.GetValue<string>() != ProjectContainers.GroupType ? null : doc.Body.Deserialize<ProjectGroup>(DocumentJson.Options);
    }

    /// <summary>Records that the group is in the project with the role; the members' grants are written separately.</summary>
    public Task PutGroupAsync(string projectId, ProjectGroup group, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(group);
        return Container.UpsertAsync(ProjectContainers.Partition(projectId), group.GroupId, Body(group, ProjectContainers.GroupType), cancellationToken: ct);
    }

    public Task RemoveGroupAsync(string projectId, string groupId, CancellationToken ct) =>
        IdentityStore.DeleteIfExistsAsync(Container, ProjectContainers.Partition(projectId), groupId, ct);

    /// <summary>How many members or groups of the project come from <paramref name="orgId"/> (a labeling company being removed).</summary>
    public async Task<long> CountFromOrganizationAsync(string projectId, string orgId, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        var members = await Container.CountAsync(partition, Filter.And(Filter.Eq("type", ProjectContainers.MemberType), Filter.Eq("orgId", orgId)), ct);
        var groups = await Container.CountAsync(partition, Filter.And(Filter.Eq("type", ProjectContainers.GroupType), Filter.Eq("orgId", orgId)), ct);
        return members + groups;
    }

    /// <summary>
    /// Moves the project to <paramref name="targetOrgId"/>. The old organization becomes a labeling
    /// company, so its users stay valid members; the target stops being one. The target's index entry is
    /// written before the project changes and the old one removed after, so a crash leaves the project
    /// listed twice (the listing skips entries whose project is elsewhere), never in no organization.
    /// </summary>
    public async Task<VersionedProject?> MoveAsync(string projectId, string targetOrgId, CancellationToken ct)
    {
        var current = await GetAsync(projectId, ct);
        if (current is null)
        {
            return null;
        }

        await identity.IndexOrganizationProjectAsync(targetOrgId, projectId, current.Project.CreatedAt, ct);
        string? source = null;
        var moved = await UpdateAsync(projectId, null, p =>
        {
            source = p.OrgId;
            var companies = (p.LabelingCompanies ?? []).Append(p.OrgId).Where(o => !string.Equals(o, targetOrgId, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal);
            return p with { OrgId = targetOrgId, LabelingCompanies = [.. companies] };
        }, ct);
        if (moved is not null && source is not null && !string.Equals(source, targetOrgId, StringComparison.Ordinal))
        {
            await identity.RemoveOrganizationProjectAsync(source, projectId, ct);
        }

        return moved;
    }

    /// <summary>
    /// Marks the project deleting: from then on every endpoint answers 404 for it (the access check and
    /// <see cref="GetAsync"/> treat it as gone) while the cascade removes its data. Idempotent. Returns the project
    /// as it was, or null when its document no longer exists.
    /// </summary>
    public async Task<Project?> MarkDeletingAsync(string projectId, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        var doc = await Container.ReadAsync(partition, projectId, ct);
        if (doc is null)
        {
            return null;
        }

        var project = doc.Body.Deserialize<Project>(DocumentJson.Options)!;
        if (!project.Deleting)
        {
            try
            {
                await Container.ReplaceAsync(partition, projectId, Body(project with { Deleting = true, UpdatedAt = time.GetUtcNow() }, ProjectContainers.ProjectType), doc.ETag, ct);
            }
            catch (DocumentPreconditionFailedException)
            {
                // A concurrent write: deleting wins anyway, so mark it without the guard.
                var fresh = await Container.ReadAsync(partition, projectId, ct);
                if (fresh is null)
                {
                    return null;
                }

                fresh.Body["deleting"] = true;
                await Container.ReplaceAsync(partition, projectId, fresh.Body, cancellationToken: ct);
            }
        }

        return project;
    }

    /// <summary>
    /// Deletes the project's own documents: marks it deleting (every endpoint then answers 404 for it), removes the
    /// members and index entries, then the project document. Safe to repeat after a partial failure. The
    /// <c>DeleteProject</c> orchestration calls it last, once datasets, items, files and recipes are gone.
    /// Returns false when there is nothing left to delete.
    /// </summary>
    public async Task<bool> DeleteAsync(string projectId, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        var project = await MarkDeletingAsync(projectId, ct);
        if (project is null)
        {
            return false;
        }

        while (true)
        {
            var page = await Container.QueryAsync(new DocumentQuery(partition, Filter.In("type", ProjectContainers.MemberType, ProjectContainers.GroupType), PageSize: 100), ct);
            if (page.Items.Count == 0)
            {
                break;
            }

            foreach (var member in page.Items)
            {
                if (member.Body["type"]?.GetValue<string>() == ProjectContainers.MemberType)
                {
                    await identity.RemoveMembershipIndexAsync(member.Id, projectId, ct);
                }
                else
                {
                    await groups.UnlinkProjectAsync(member.Id, projectId, ct);
                }

                await IdentityStore.DeleteIfExistsAsync(Container, partition, member.Id, ct);
            }
        }

        await savedFilters.DeleteAllAsync(projectId, ct);
        await identity.RemoveOrganizationProjectAsync(project.OrgId, projectId, ct);
        await IdentityStore.DeleteIfExistsAsync(Container, partition, projectId, ct);
        return true;
    }

    /// <summary>Resolves project ids from an index page (in parallel point reads), skipping ids that no longer resolve.</summary>
    public async Task<IReadOnlyList<Project>> GetManyAsync(IReadOnlyList<string> projectIds, CancellationToken ct)
    {
        var projects = await Task.WhenAll(projectIds.Select(id => GetAsync(id, ct)));
        return [.. projects.Where(p => p is not null).Select(p => p!.Project)];
    }

    private static JsonObject Body<T>(T value, string type)
    {
        var body = JsonSerializer.SerializeToNode(value, DocumentJson.Options)!.AsObject();
        body["type"] = type;
        return body;
    }
}
