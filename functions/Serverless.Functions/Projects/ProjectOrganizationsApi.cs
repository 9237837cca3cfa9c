using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Projects;

/// <summary>A labeling company of a project.</summary>
public sealed record LabelingCompany(string OrgId, string Name);

/// <summary>Body of <c>POST /api/projects/{projectId}/move</c>.</summary>
public sealed record MoveProjectRequest(string? OrgId);

/// <summary>Body of <c>POST /api/projects/{projectId}/copy</c>.</summary>
/// <param name="Name">The copy's name; default: the source's name with " (copy)".</param>
/// <param name="IncludeDatasets">Also copy every dataset with its items (an orchestration; default false).</param>
public sealed record CopyProjectRequest(string? Name, bool? IncludeDatasets);

/// <summary>
/// Answer of a project copy with its datasets: the new project (already holding settings, members and recipes) and the
/// <see cref="CopyProjectDatasets"/> orchestration copying the datasets into it.
/// </summary>
public sealed record ProjectCopyAccepted(Project Project, OrchestrationAccepted Datasets);

/// <summary>What these endpoints need from DI.</summary>
public sealed record ProjectOrganizationServices(ProjectStore Projects, IdentityStore Identity, ProjectCopyService Copies, ProjectOrchestrations Orchestrations);

/// <summary>
/// A project across organizations: labeling companies (other organizations whose users may be made
/// members), moving a project to another organization, and copying a project.
/// </summary>
/// <remarks>
/// Moving: the caller must be the project's Owner and an <b>admin</b> of the target organization, which
/// must be their own (each user belongs to one organization). An admin, because the move hands the
/// project and its data to that organization's administration: its admins can then list and join it.
/// The old organization becomes a labeling company of the project, so its users stay members.
/// </remarks>
public static class ProjectOrganizationsApi
{
    public static IEndpointRouteBuilder MapProjectOrganizationsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var projects = app.MapGroup("api/projects/{projectId}").WithTags("Projects");
        projects.MapGet("/labeling-companies", ListCompaniesAsync).WithName("ListLabelingCompanies").RequirePermission(Permission.MembersRead);
        projects.MapPut("/labeling-companies/{companyId}", AddCompanyAsync).WithName("AddLabelingCompany").RequirePermission(Permission.LabelingCompaniesManage);
        projects.MapDelete("/labeling-companies/{companyId}", RemoveCompanyAsync).WithName("RemoveLabelingCompany").RequirePermission(Permission.LabelingCompaniesManage);
        projects.MapPost("/move", MoveAsync).WithName("MoveProject").RequirePermission(Permission.ProjectMove)
            .WithDescription("Moves the project to the caller's own organization; the caller must be an admin of it. The old organization becomes a labeling company.");
        projects.MapPost("/copy", CopyAsync).WithName("CopyProject").RequirePermission(Permission.ProjectCopy)
            .WithDescription("Copies settings, labeling companies, recipes (not their PDF files), direct members and groups into a new project of the same organization, the caller its Owner. With includeDatasets, the datasets and their items follow in an orchestration (202 with its status links).");
        return app;
    }

    internal static async Task<Results<Ok<IReadOnlyList<LabelingCompany>>, ProblemHttpResult>> ListCompaniesAsync(
        string projectId, [AsParameters] ProjectOrganizationServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return NotFound(projectId);
        }

        var orgs = await Task.WhenAll((project.Project.LabelingCompanies ?? []).Select(id => services.Identity.GetOrganizationAsync(id, ct)));
        IReadOnlyList<LabelingCompany> companies = [.. orgs.Where(o => o is not null).Select(o => new LabelingCompany(o!.Id, o.Name))];
        return TypedResults.Ok(companies);
    }

    internal static async Task<Results<Created<LabelingCompany>, Ok<LabelingCompany>, ProblemHttpResult>> AddCompanyAsync(
        string projectId, string companyId, [AsParameters] ProjectOrganizationServices services, CancellationToken ct)
    {
        var org = Ids.IsWellFormed(companyId) ? await services.Identity.GetOrganizationAsync(companyId, ct) : null;
        if (org is null)
        {
            return Problems.NotFound($"Organization '{companyId}' does not exist.");
        }

        string? refused = null;
        var added = false;
        var updated = await services.Projects.UpdateAsync(projectId, null, p =>
        {
            var companies = p.LabelingCompanies ?? [];
            (refused, added) = (null, false);
            if (string.Equals(p.OrgId, companyId, StringComparison.Ordinal))
            {
                refused = $"Organization '{companyId}' owns the project; a labeling company is another organization.";
                return p;
            }

            if (companies.Contains(companyId, StringComparer.Ordinal))
            {
                return p;
            }

            if (companies.Count >= Project.MaxLabelingCompanies)
            {
                refused = $"A project can have at most {Project.MaxLabelingCompanies} labeling companies.";
                return p;
            }

            added = true;
            return p with { LabelingCompanies = [.. companies, companyId] };
        }, ct);
        if (updated is null)
        {
            return NotFound(projectId);
        }

        if (refused is not null)
        {
            return Problems.Conflict(refused);
        }

        var company = new LabelingCompany(org.Id, org.Name);
        return added ? TypedResults.Created($"/api/projects/{projectId}/labeling-companies/{companyId}", company) : TypedResults.Ok(company);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RemoveCompanyAsync(
        string projectId, string companyId, [AsParameters] ProjectOrganizationServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null || !(project.Project.LabelingCompanies ?? []).Contains(companyId, StringComparer.Ordinal))
        {
            return Problems.NotFound($"Organization '{companyId}' is not a labeling company of project '{projectId}'.");
        }

        // Refused rather than cascading: removing people from a project should be a visible, deliberate act.
        var remaining = await services.Projects.CountFromOrganizationAsync(projectId, companyId, ct);
        if (remaining > 0)
        {
            return Problems.Conflict($"{remaining} members or groups of project '{projectId}' come from organization '{companyId}'; remove them first.");
        }

        await services.Projects.UpdateAsync(projectId, null, p => p with { LabelingCompanies = [.. (p.LabelingCompanies ?? []).Where(c => c != companyId)] }, ct);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<Project>, ValidationProblem, ProblemHttpResult>> MoveAsync(
        string projectId, MoveProjectRequest request, ClaimsPrincipal principal, [AsParameters] ProjectOrganizationServices services, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.OrgId))
        {
            return Problems.Validation("orgId", "'orgId' is required: the organization to move the project to (your own).");
        }

        var caller = Caller.From(principal);
        var target = Ids.IsWellFormed(request.OrgId) ? await services.Identity.GetOrganizationAsync(request.OrgId, ct) : null;
        if (target is null)
        {
            return Problems.NotFound($"Organization '{request.OrgId}' does not exist.");
        }

        if (!string.Equals(target.Id, caller.OrgId, StringComparison.Ordinal) || caller.OrgRole != OrgRole.Admin)
        {
            return Problems.Forbidden($"A project can be moved only to an organization you administer; you are {caller.OrgRole} of '{caller.OrgId}'.");
        }

        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null)
        {
            return NotFound(projectId);
        }

        if (string.Equals(project.Project.OrgId, target.Id, StringComparison.Ordinal))
        {
            return Problems.Conflict($"Project '{projectId}' is already in organization '{target.Id}'.");
        }

        var moved = await services.Projects.MoveAsync(projectId, target.Id, ct);
        return moved is null ? NotFound(projectId) : TypedResults.Ok(moved.Project);
    }

    /// <summary>
    /// <c>POST .../copy</c>: <c>201</c> with the new project; with <c>includeDatasets</c>, <c>202</c> with the project and the
    /// orchestration that copies the datasets into it (each dataset a <see cref="Datasets.CloneDataset"/> run, resumable).
    /// </summary>
    internal static async Task<Results<Created<Project>, Accepted<ProjectCopyAccepted>, ValidationProblem, ProblemHttpResult>> CopyAsync(
        string projectId, CopyProjectRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] ProjectOrganizationServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, required: false);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var source = await services.Projects.GetAsync(projectId, ct);
        if (source is null)
        {
            return NotFound(projectId);
        }

        var caller = Caller.From(principal);
        if (!string.Equals(caller.OrgId, source.Project.OrgId, StringComparison.Ordinal))
        {
            return Problems.Forbidden($"The copy is created in the project's organization '{source.Project.OrgId}', which you do not belong to.");
        }

        var copyName = name ?? source.Project.Name + " (copy)";
        if (copyName.Length > 200)
        {
            copyName = copyName[..200];
        }

        var copy = await services.Copies.CopyAsync(source.Project, copyName, caller, ct);
        if (request.IncludeDatasets != true)
        {
            return TypedResults.Created($"/api/projects/{copy.Project.Id}", copy.Project);
        }

        // Started after the in-request part, under the new project, so its Owner (the caller) follows it with the
        // project's orchestration routes; the key is the source, so the copy has one such orchestration.
        var instanceId = await services.Orchestrations.StartAsync(copy.Project.Id, "copy", nameof(CopyProjectDatasets),
            new ProjectDatasetsCopyInput(projectId, copy.Project.Id, caller.UserId), projectId, ct);
        var accepted = OrchestrationAccepted.For(http, copy.Project.Id, instanceId);
        return TypedResults.Accepted(accepted.StatusQueryGetUri, new ProjectCopyAccepted(copy.Project, accepted));
    }

    private static ProblemHttpResult NotFound(string projectId) => Problems.NotFound($"Project '{projectId}' does not exist.");
}
