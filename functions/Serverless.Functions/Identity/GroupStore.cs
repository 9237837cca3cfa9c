using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;

namespace Serverless.Functions.Identity;

/// <summary>
/// Groups, their members and their project links. Adding a member or a project rewrites the group
/// document in the same atomic batch, guarded by its ETag, so the caps hold under concurrent adds.
/// Keeping project memberships in step is <c>GroupMembershipService</c>'s job.
/// </summary>
public sealed class GroupStore(IDocumentStore store, TimeProvider time)
{
    private const int MaxAttempts = 30;

    private IDocumentContainer Container => store.Container(GroupContainers.Groups);

    private IDocumentContainer Orgs => store.Container(IdentityContainers.Organizations);

    public async Task<UserGroup?> GetAsync(string groupId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(groupId))
        {
            return null;
        }

        var doc = await Container.ReadAsync(GroupContainers.Partition(groupId), groupId, ct);
        return doc?.Body.Deserialize<UserGroup>(DocumentJson.Options);
    }

    /// <summary>Creates the group, then its entry in the organization's list (a crash leaves an unlisted, unused group).</summary>
    public async Task<UserGroup> CreateAsync(string orgId, string name, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var group = new UserGroup(Ids.New("g"), orgId, name, 0, now, now);
        await Container.CreateAsync(GroupContainers.Partition(group.Id), group.Id, Body(group, GroupContainers.GroupType), ct);
        await IndexAsync(group, ct);
        return group;
    }

    /// <summary>One page of the organization's groups, oldest first.</summary>
    public async Task<Page<UserGroup>> ListAsync(string orgId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Orgs.QueryAsync(
            new DocumentQuery(IdentityContainers.OrgPartition(orgId), Filter.Eq("type", GroupContainers.OrgIndexType), [new SortField("createdAt")], pageSize, continuationToken),
            ct);
        var groups = page.Items.Select(d => d.Body["group"].Deserialize<UserGroup>(DocumentJson.Options)!);
        return new Page<UserGroup>([.. groups], page.ContinuationToken);
    }

    /// <summary>Renames the group (the group document is the truth; the list entry follows). Null when absent.</summary>
    public async Task<UserGroup?> RenameAsync(string groupId, string name, CancellationToken ct)
    {
        var group = await UpdateGroupAsync(groupId, g => g with { Name = name }, ct);
        if (group is not null)
        {
            await IndexAsync(group, ct);
        }

        return group;
    }

    public async Task<IReadOnlyList<GroupMember>> ListMembersAsync(string groupId, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(GroupContainers.Partition(groupId), Filter.Eq("type", GroupContainers.MemberType), [new SortField("addedAt")], UserGroup.MaxMembers * 2),
            ct);
        return [.. page.Items.Select(d => d.Body.Deserialize<GroupMember>(DocumentJson.Options)!)];
    }

    public async Task<IReadOnlyList<GroupProjectLink>> ListProjectsAsync(string groupId, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(GroupContainers.Partition(groupId), Filter.Eq("type", GroupContainers.ProjectType), [new SortField("addedAt")], UserGroup.MaxProjects * 2),
            ct);
        return [.. page.Items.Select(d => d.Body.Deserialize<GroupProjectLink>(DocumentJson.Options)!)];
    }

    /// <summary>Adds a user; false when already a member, null when the group does not exist.</summary>
    /// <exception cref="GroupLimitException">The group is full.</exception>
    public Task<bool?> AddMemberAsync(string groupId, string userId, CancellationToken ct) =>
        AddChildAsync(groupId, userId, new GroupMember(userId, time.GetUtcNow()), GroupContainers.MemberType, g =>
        {
            if (g.MemberCount >= UserGroup.MaxMembers)
            {
                throw new GroupLimitException($"A group holds at most {UserGroup.MaxMembers} users; this one is full.");
            }

            return g with { MemberCount = g.MemberCount + 1 };
        }, ct);

    /// <summary>Removes a user; false when they are not in the group.</summary>
    public async Task<bool> RemoveMemberAsync(string groupId, string userId, CancellationToken ct) =>
        await RemoveChildAsync(groupId, userId, GroupContainers.MemberType, g => g with { MemberCount = Math.Max(0, g.MemberCount - 1) }, ct);

    /// <summary>Records that the group is in the project; false when it already was.</summary>
    /// <exception cref="GroupLimitException">The group is in too many projects.</exception>
    public async Task<bool?> LinkProjectAsync(string groupId, string projectId, CancellationToken ct)
    {
        var count = (await ListProjectsAsync(groupId, ct)).Count;
        return await AddChildAsync(groupId, projectId, new GroupProjectLink(projectId, time.GetUtcNow()), GroupContainers.ProjectType, g =>
        {
            if (count >= UserGroup.MaxProjects)
            {
                throw new GroupLimitException($"A group can be in at most {UserGroup.MaxProjects} projects.");
            }

            return g with { UpdatedAt = time.GetUtcNow() };
        }, ct);
    }

    public Task<bool> UnlinkProjectAsync(string groupId, string projectId, CancellationToken ct) =>
        RemoveChildAsync(groupId, projectId, GroupContainers.ProjectType, g => g with { UpdatedAt = time.GetUtcNow() }, ct);

    /// <summary>Deletes the list entry first (the group disappears from listings), then every document of the group.</summary>
    public async Task DeleteAsync(UserGroup group, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(group);
        await IdentityStore.DeleteIfExistsAsync(Orgs, IdentityContainers.OrgPartition(group.OrgId), group.Id, ct);
        var partition = GroupContainers.Partition(group.Id);
        while (true)
        {
            var page = await Container.QueryAsync(new DocumentQuery(partition, Filter.In("type", GroupContainers.MemberType, GroupContainers.ProjectType), PageSize: 100), ct);
            if (page.Items.Count == 0)
            {
                break;
            }

            foreach (var doc in page.Items)
            {
                await IdentityStore.DeleteIfExistsAsync(Container, partition, doc.Id, ct);
            }
        }

        await IdentityStore.DeleteIfExistsAsync(Container, partition, group.Id, ct);
    }

    private Task<StoredDocument> IndexAsync(UserGroup group, CancellationToken ct) =>
        Orgs.UpsertAsync(
            IdentityContainers.OrgPartition(group.OrgId),
            group.Id,
            new JsonObject { ["type"] = GroupContainers.OrgIndexType, ["createdAt"] = group.CreatedAt, ["group"] = JsonSerializer.SerializeToNode(group with { MemberCount = 0 }, DocumentJson.Options) },
            cancellationToken: ct);

    private async Task<bool?> AddChildAsync<T>(string groupId, string childId, T child, string type, Func<UserGroup, UserGroup> change, CancellationToken ct)
    {
        var partition = GroupContainers.Partition(groupId);
        for (var attempt = 1; ; attempt++)
        {
            var groupDoc = await Container.ReadAsync(partition, groupId, ct);
            if (groupDoc is null)
            {
                return null;
            }

            if (await Container.ReadAsync(partition, childId, ct) is not null)
            {
                return false;
            }

            var group = change(groupDoc.Body.Deserialize<UserGroup>(DocumentJson.Options)!);
            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(groupId, Body(group with { UpdatedAt = time.GetUtcNow() }, GroupContainers.GroupType), groupDoc.ETag),
                    BatchOperation.Create(childId, Body(child, type)),
                ], ct);
                return true;
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    private async Task<bool> RemoveChildAsync(string groupId, string childId, string type, Func<UserGroup, UserGroup> change, CancellationToken ct)
    {
        var partition = GroupContainers.Partition(groupId);
        for (var attempt = 1; ; attempt++)
        {
            var groupDoc = await Container.ReadAsync(partition, groupId, ct);
            var childDoc = await Container.ReadAsync(partition, childId, ct);
            if (groupDoc is null || childDoc is null || childDoc.Body["type"]?.GetValue<string>() != type)
            {
                return false;
            }

            var group = change(groupDoc.Body.Deserialize<UserGroup>(DocumentJson.Options)!);
            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(groupId, Body(group with { UpdatedAt = time.GetUtcNow() }, GroupContainers.GroupType), groupDoc.ETag),
                    BatchOperation.Delete(childId, childDoc.ETag),
                ], ct);
                return true;
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    private async Task<UserGroup?> UpdateGroupAsync(string groupId, Func<UserGroup, UserGroup> change, CancellationToken ct)
    {
        var partition = GroupContainers.Partition(groupId);
        for (var attempt = 1; ; attempt++)
        {
            var doc = await Container.ReadAsync(partition, groupId, ct);
            if (doc is null)
            {
                return null;
            }

            var group = change(doc.Body.Deserialize<UserGroup>(DocumentJson.Options)!) with { UpdatedAt = time.GetUtcNow() };
            try
            {
                await Container.ReplaceAsync(partition, groupId, Body(group, GroupContainers.GroupType), doc.ETag, ct);
                return group;
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                // A concurrent member change bumped the ETag: re-apply on fresh data.
            }
        }
    }

    private static JsonObject Body<T>(T value, string type)
    {
        var body = JsonSerializer.SerializeToNode(value, DocumentJson.Options)!.AsObject();
        body["type"] = type;
        return body;
    }
}
