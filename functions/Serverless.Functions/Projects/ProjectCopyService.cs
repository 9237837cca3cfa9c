using Serverless.Functions.Identity;
using Serverless.Functions.Recipes;

namespace Serverless.Functions.Projects;

/// <summary>
/// Copies a project into a new one of the same organization, the caller its Owner: settings, labeling
/// companies, recipes (classes, attributes, instruction text; not the PDF file), direct members with
/// their roles and groups with theirs. Datasets are not copied yet (they will be, by the dataset clone
/// orchestration). Runs in the request: its size is bounded by the caps on members, groups and recipes.
/// </summary>
public sealed class ProjectCopyService(ProjectStore projects, GroupMembershipService groups, RecipeStore recipes, TimeProvider time)
{
    private const int PageSize = 200;

    public async Task<VersionedProject> CopyAsync(Project source, string name, Caller caller, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(caller);
        var created = await projects.CreateAsync(source.OrgId, name, caller.UserId, ct, caller.OrgId);
        var copyId = created.Project.Id;
        var updated = await projects.UpdateAsync(copyId, null, p => p with { Settings = source.Settings, LabelingCompanies = source.LabelingCompanies ?? [] }, ct) ?? created;

        string? token = null;
        do
        {
            var page = await projects.ListMembersAsync(source.Id, PageSize, token, ct);
            foreach (var member in page.Items.Where(m => m.DirectRole is not null && m.UserId != caller.UserId))
            {
                await projects.SetRoleAsync(copyId, member.UserId, member.DirectRole!.Value, ct, member.OrgId);
            }

            token = page.ContinuationToken;
        }
        while (token is not null);

        foreach (var group in await projects.ListGroupsAsync(source.Id, ct))
        {
            await groups.AddToProjectAsync(copyId, group.GroupId, group.Role, time.GetUtcNow(), ct);
        }

        token = null;
        do
        {
            var page = await recipes.ListAsync(source.Id, PageSize, token, ct);
            foreach (var summary in page.Items)
            {
                if (await recipes.GetAsync(source.Id, summary.Id, ct) is { } recipe)
                {
                    await recipes.CreateAsync(copyId, recipe.Recipe.ToOntology(), caller.UserId, ct);
                }
            }

            token = page.ContinuationToken;
        }
        while (token is not null);

        return await projects.GetAsync(copyId, ct) ?? updated;
    }
}
