using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>A project with its version tag.</summary>
public sealed record VersionedProject(Project Project, string ETag);

/// <summary>
/// Projects and their members in the document store. The project document carries
/// <see cref="Project.OwnerCount"/>; every membership change rewrites it in one atomic batch with the
/// member document, guarded by the project's ETag, so concurrent demotions cannot remove the last Owner.
/// </summary>
public sealed class ProjectStore(IDocumentStore store, IdentityStore identity, TimeProvider time) : IProjectMembership
{
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
        return project.Deleting ? null : new VersionedProject(project, doc.ETag);
    }

    /// <summary>
    /// Creates the project with its creator as Owner. The index entries (the creator's list, the
    /// organization's list) are written first: if the project write then fails, the lists only hold
    /// an id that resolves to nothing and is skipped.
    /// </summary>
    public async Task<VersionedProject> CreateAsync(string orgId, string name, string creatorId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var project = new Project(Ids.New("p"), name, orgId, ProjectStatus.NotStarted, new ProjectSettings(), creatorId, now, now, OwnerCount: 1);
        await identity.IndexMembershipAsync(creatorId, project.Id, nameof(ProjectRole.Owner), now, ct);
        await identity.IndexOrganizationProjectAsync(orgId, project.Id, now, ct);
        var results = await Container.ExecuteBatchAsync(ProjectContainers.Partition(project.Id),
        [
            BatchOperation.Create(project.Id, Body(project, ProjectContainers.ProjectType)),
            BatchOperation.Create(creatorId, Body(new ProjectMember(creatorId, ProjectRole.Owner, now), ProjectContainers.MemberType)),
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

            if (ifMatch is not null && !string.Equals(ifMatch.Trim('"'), current.ETag.Trim('"'), StringComparison.Ordinal))
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
        return doc?.Body.Deserialize<ProjectMember>(DocumentJson.Options);
    }

    public async Task<Page<ProjectMember>> ListMembersAsync(string projectId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(ProjectContainers.Partition(projectId), Filter.Eq("type", ProjectContainers.MemberType), [new SortField("addedAt")], pageSize, continuationToken),
            ct);
        return new Page<ProjectMember>([.. page.Items.Select(d => d.Body.Deserialize<ProjectMember>(DocumentJson.Options)!)], page.ContinuationToken);
    }

    /// <summary>Adds a member or changes their role. Returns the member and whether they were added.</summary>
    /// <exception cref="LastOwnerException">The change would demote the last Owner.</exception>
    public async Task<(ProjectMember Member, bool Added)?> SetRoleAsync(string projectId, string userId, ProjectRole role, CancellationToken ct)
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

            var existing = memberDoc?.Body.Deserialize<ProjectMember>(DocumentJson.Options);
            if (existing?.Role == role)
            {
                return (existing, false);
            }

            var owners = project.Project.OwnerCount
                - (existing?.Role == ProjectRole.Owner ? 1 : 0)
                + (role == ProjectRole.Owner ? 1 : 0);
            if (owners < 1)
            {
                throw new LastOwnerException(projectId);
            }

            var member = new ProjectMember(userId, role, existing?.AddedAt ?? time.GetUtcNow());
            if (existing is null)
            {
                // Index first: a dangling index entry is skipped by "my projects"; a missing one would hide the project.
                await identity.IndexMembershipAsync(userId, projectId, role.ToString(), member.AddedAt, ct);
            }

            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(projectId, Body(project.Project with { OwnerCount = owners, UpdatedAt = time.GetUtcNow() }, ProjectContainers.ProjectType), project.ETag),
                    memberDoc is null
                        ? BatchOperation.Create(userId, Body(member, ProjectContainers.MemberType))
                        : BatchOperation.Replace(userId, Body(member, ProjectContainers.MemberType), memberDoc.ETag),
                ], ct);
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                // A concurrent membership change: recount on fresh data.
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
                continue;
            }

            if (existing is not null)
            {
                await identity.IndexMembershipAsync(userId, projectId, role.ToString(), member.AddedAt, ct);
            }

            return (member, existing is null);
        }
    }

    /// <summary>Removes a member. False when they are not a member.</summary>
    /// <exception cref="LastOwnerException">The member is the last Owner.</exception>
    public async Task<bool> RemoveMemberAsync(string projectId, string userId, CancellationToken ct)
    {
        var partition = ProjectContainers.Partition(projectId);
        for (var attempt = 1; ; attempt++)
        {
            var project = await GetAsync(projectId, ct);
            var memberDoc = await Container.ReadAsync(partition, userId, ct);
            if (project is null || memberDoc is null || memberDoc.Body["type"]?.GetValue<string>() != ProjectContainers.MemberType)
            {
                return false;
            }

            var existing = memberDoc.Body.Deserialize<ProjectMember>(DocumentJson.Options)!;
            var owners = project.Project.OwnerCount - (existing.Role == ProjectRole.Owner ? 1 : 0);
            if (owners < 1)
            {
                throw new LastOwnerException(projectId);
            }

            try
            {
                await Container.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(projectId, Body(project.Project with { OwnerCount = owners, UpdatedAt = time.GetUtcNow() }, ProjectContainers.ProjectType), project.ETag),
                    BatchOperation.Delete(userId, memberDoc.ETag),
                ], ct);
            }
            catch (DocumentBatchFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
                continue;
            }

            await identity.RemoveMembershipIndexAsync(userId, projectId, ct);
            return true;
        }
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
            var page = await Container.QueryAsync(new DocumentQuery(partition, Filter.Eq("type", ProjectContainers.MemberType), PageSize: 100), ct);
            if (page.Items.Count == 0)
            {
                break;
            }

            foreach (var member in page.Items)
            {
                await identity.RemoveMembershipIndexAsync(member.Id, projectId, ct);
                await IdentityStore.DeleteIfExistsAsync(Container, partition, member.Id, ct);
            }
        }

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
