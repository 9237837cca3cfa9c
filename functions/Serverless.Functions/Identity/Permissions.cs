using System.Globalization;
using System.Text;

namespace Serverless.Functions.Identity;

/// <summary>A member's role in one project.</summary>
public enum ProjectRole
{
    Owner,
    Developer,
    AnnotationManager,
    Annotator,
    Reviewer,
}

/// <summary>A user's role in their organization.</summary>
public enum OrgRole
{
    Member,
    Admin,
}

/// <summary>Everything an endpoint may require. Each value has exactly one rule in <see cref="Permissions.Rules"/>.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "'Permission' is the domain's word here; the rule targets System.Security permission classes.")]
public enum Permission
{
    // Any authenticated user, acting on themselves.
    AccountRead,
    OwnApiKeysManage,
    ProjectsCreate,
    ProjectsListMine,

    // Platform administrators.
    OrganizationsCreate,

    // Organization roles.
    OrganizationRead,
    OrganizationUsersManage,
    OrganizationProjectsList,
    OrganizationProjectsJoin,
    OrganizationGroupsRead,
    OrganizationGroupsManage,

    // Project roles.
    ProjectRead,
    ProjectRename,
    ProjectSettingsUpdate,
    ProjectStatusChange,
    ProjectDelete,
    MembersRead,
    MembersManage,
    MemberApiKeysManage,
    ProjectGroupsManage,
    LabelingCompaniesManage,
    ProjectMove,
    ProjectCopy,
    DatasetsRead,
    DatasetsManage,
    DatasetsDelete,
    ItemsRead,
    ItemsWrite,
    ItemsDelete,
    RecipesRead,
    RecipesManage,
    SavedFiltersRead,
    SavedFiltersManage,
    AnnotationsRead,
    AnnotationsWrite,
    ActivityRead,
    TasksRead,
    TasksManage,
    TasksWork,
    OrchestrationsRead,
    OrchestrationsManage,
    DatasetsCopy,
    DashboardRead,
    RawZipsBuild,
    VideosConvert,
    ExportsRead,
    ExportsManage,
    AnalyticsRead,
    AnalyticsManage,
    ImportsManage,
}

/// <summary>Whom a permission is checked against.</summary>
public enum PermissionScope
{
    /// <summary>Any caller with a valid API key (acts on their own account only).</summary>
    Authenticated,

    /// <summary>Platform administrators (the bootstrap admin).</summary>
    Platform,

    /// <summary>The caller's role in the organization named by the route's <c>{orgId}</c>.</summary>
    Organization,

    /// <summary>The caller's role in the project named by the route's <c>{projectId}</c>.</summary>
    Project,
}

/// <summary>One row of the permission matrix.</summary>
public sealed record PermissionRule(
    Permission Permission,
    PermissionScope Scope,
    IReadOnlyList<ProjectRole> ProjectRoles,
    IReadOnlyList<OrgRole> OrgRoles,
    string Description);

/// <summary>
/// The permission matrix: the one place that says who may do what. Endpoints declare the permission
/// they need (<see cref="PermissionEndpointExtensions.RequirePermission{TBuilder}"/>); the access
/// middleware checks it; the README table is rendered from here by a test. Deny by default: an
/// endpoint that declares nothing is refused, and a role not listed is refused.
/// </summary>
public static class Permissions
{
    private static readonly ProjectRole[] AllRoles = Enum.GetValues<ProjectRole>();
    private static readonly ProjectRole[] Managers = [ProjectRole.Owner, ProjectRole.Developer, ProjectRole.AnnotationManager];

    public static IReadOnlyList<PermissionRule> Rules { get; } =
    [
        Self(Permission.AccountRead, "Read one's own user and organization role (`GET /api/me`)."),
        Self(Permission.OwnApiKeysManage, "Create (at most 10), list and revoke one's own API keys."),
        Self(Permission.ProjectsCreate, "Create a project in one's organization; the creator becomes its Owner."),
        Self(Permission.ProjectsListMine, "List the projects one is a member of."),
        new(Permission.OrganizationsCreate, PermissionScope.Platform, [], [], "Create an organization with its first admin user."),
        Org(Permission.OrganizationRead, [OrgRole.Admin, OrgRole.Member], "Read one's organization."),
        Org(Permission.OrganizationUsersManage, [OrgRole.Admin], "Create and list the organization's users."),
        Org(Permission.OrganizationProjectsList, [OrgRole.Admin], "List every project of the organization."),
        Org(Permission.OrganizationProjectsJoin, [OrgRole.Admin], "Join any project of the organization with a chosen role."),
        Org(Permission.OrganizationGroupsRead, [OrgRole.Admin, OrgRole.Member], "List the organization's groups of users and their members (project Owners pick groups from here)."),
        Org(Permission.OrganizationGroupsManage, [OrgRole.Admin], "Create, rename and delete groups; add and remove the organization's users in them."),
        Project(Permission.ProjectRead, AllRoles, "Read the project, its status and settings."),
        Project(Permission.ProjectRename, [ProjectRole.Owner, ProjectRole.Developer], "Rename the project."),
        Project(Permission.ProjectSettingsUpdate, [ProjectRole.Owner, ProjectRole.Developer], "Change the project's settings."),
        Project(Permission.ProjectStatusChange, Managers, "Move the project between statuses."),
        Project(Permission.ProjectDelete, [ProjectRole.Owner], "Delete the project."),
        Project(Permission.MembersRead, Managers, "List the project's members and their roles."),
        Project(Permission.MembersManage, [ProjectRole.Owner], "Add and remove members, change roles."),
        Project(Permission.MemberApiKeysManage, [ProjectRole.Owner], "List and revoke the API keys of the project's members."),
        Project(Permission.ProjectGroupsManage, [ProjectRole.Owner], "Add a group of users with a role (each member gets it), change its role, remove it. Listing uses `MembersRead`."),
        Project(Permission.LabelingCompaniesManage, [ProjectRole.Owner], "Add and remove labeling companies (other organizations whose users may then be made members). Listing uses `MembersRead`."),
        Project(Permission.ProjectMove, [ProjectRole.Owner], "Move the project to one's own organization; the caller must also be an admin of it."),
        Project(Permission.ProjectCopy, [ProjectRole.Owner, ProjectRole.Developer], "Copy the project (settings, recipes, members, groups, labeling companies) into a new project of the same organization, the caller its Owner."),
        Project(Permission.DatasetsRead, AllRoles, "List the project's datasets with their item counts; read one."),
        Project(Permission.DatasetsManage, Managers, "Create and rename datasets; choose a dataset's recipe."),
        Project(Permission.DatasetsDelete, [ProjectRole.Owner, ProjectRole.Developer], "Delete a dataset (one with items only with `force`)."),
        Project(Permission.ItemsRead, AllRoles, "Read and filter items; get a time-limited download link."),
        Project(Permission.ItemsWrite, Managers, "Upload items and bulk-create JSON text items."),
        Project(Permission.ItemsDelete, [ProjectRole.Owner, ProjectRole.Developer], "Delete items and their files."),
        Project(Permission.RecipesRead, AllRoles, "Read the project's recipes (label classes, attributes, instructions and a link to the PDF)."),
        Project(Permission.RecipesManage, Managers, "Create, change and delete recipes; attach or remove the instructions PDF."),
        Project(Permission.SavedFiltersRead, AllRoles, "List and read the project's saved item filters."),
        Project(Permission.SavedFiltersManage, Managers, "Create, change and delete saved item filters."),
        Project(Permission.AnnotationsRead, AllRoles, "Read an item's annotations."),
        Project(Permission.AnnotationsWrite, AllRoles, "Create, change and delete annotations (validated against the dataset's recipe)."),
        Project(Permission.ActivityRead, AllRoles, "Read the activity log; annotators and reviewers see only their own actions."),
        Project(Permission.TasksRead, AllRoles, "List and read tasks with their progress; annotators and reviewers list only their own items."),
        Project(Permission.TasksManage, Managers, "Create tasks and split them among assignees."),
        Project(Permission.TasksWork, AllRoles, "Set and clear item statuses, take the next item, skip; annotators and reviewers only on items assigned to them."),
        Project(Permission.OrchestrationsRead, Managers, "List the project's orchestration instances and read their status, progress and history."),
        Project(Permission.OrchestrationsManage, [ProjectRole.Owner, ProjectRole.Developer], "Raise events to, terminate, suspend, resume and purge the project's orchestration instances."),
        Project(Permission.DatasetsCopy, Managers, "Clone a dataset (optionally filtered) or merge datasets into a new one, as an orchestration."),
        Project(Permission.DashboardRead, Managers, "Read the project dashboard's counters (datasets, items by type, members by role)."),
        Project(Permission.RawZipsBuild, Managers, "Build (or rebuild) a dataset's raw-data zip, optionally filtered, as an orchestration. Reading its state and signed link uses `DatasetsRead`."),
        Project(Permission.VideosConvert, Managers, "Convert (again) a video item to WEBM, e.g. after a failure; conversion starts by itself when a video lands."),
        Project(Permission.ExportsRead, Managers, "List and read the project's label exports and label versions; get a time-limited download link."),
        Project(Permission.ExportsManage, Managers, "Export labels (JSON or COCO, optionally as a named immutable label version); rename and delete exports that are not versions."),
        Project(Permission.AnalyticsRead, AllRoles, "Read analytics (tasks, labels, collaborators, issues, time; JSON or CSV); annotators and reviewers get only their own figures."),
        Project(Permission.AnalyticsManage, [ProjectRole.Owner, ProjectRole.Developer], "Rebuild the project's analytics from its activity log (an orchestration)."),
        Project(Permission.ImportsManage, Managers, "Import labels (our JSON export or COCO) into a dataset as pre-labels, validated against its recipe; read an import's counts and per-entry errors."),
    ];

    private static readonly Dictionary<Permission, PermissionRule> ByPermission = Rules.ToDictionary(r => r.Permission);

    public static PermissionRule For(Permission permission) =>
        ByPermission.TryGetValue(permission, out var rule)
            ? rule
            : throw new InvalidOperationException($"Permission {permission} has no rule in Permissions.Rules.");

    /// <summary>Whether a project role holds a project-scoped permission.</summary>
    public static bool Allows(ProjectRole role, Permission permission) => For(permission).ProjectRoles.Contains(role);

    /// <summary>The README section: one table for project roles, one for the other scopes.</summary>
    public static string RenderMarkdown()
    {
        var text = new StringBuilder();
        var roles = Enum.GetValues<ProjectRole>();
        text.Append("| permission | ").AppendJoin(" | ", roles).AppendLine(" | what it allows |");
        text.Append("| --- |").Append(string.Concat(Enumerable.Repeat(" :---: |", roles.Length))).AppendLine(" --- |");
        foreach (var rule in Rules.Where(r => r.Scope == PermissionScope.Project))
        {
            text.Append(CultureInfo.InvariantCulture, $"| `{rule.Permission}` | ")
                .AppendJoin(" | ", roles.Select(r => rule.ProjectRoles.Contains(r) ? "✓" : "—"))
                .AppendLine(CultureInfo.InvariantCulture, $" | {rule.Description} |");
        }

        text.AppendLine().AppendLine("| permission | who | what it allows |").AppendLine("| --- | --- | --- |");
        foreach (var rule in Rules.Where(r => r.Scope != PermissionScope.Project))
        {
            var who = rule.Scope switch
            {
                PermissionScope.Authenticated => "any user with a valid API key",
                PermissionScope.Platform => "platform admin",
                _ => "organization " + string.Join(" or ", rule.OrgRoles),
            };
            text.AppendLine(CultureInfo.InvariantCulture, $"| `{rule.Permission}` | {who} | {rule.Description} |");
        }

        return text.ToString();
    }

    private static PermissionRule Self(Permission permission, string description) =>
        new(permission, PermissionScope.Authenticated, [], [], description);

    private static PermissionRule Org(Permission permission, OrgRole[] roles, string description) =>
        new(permission, PermissionScope.Organization, [], roles, description);

    private static PermissionRule Project(Permission permission, ProjectRole[] roles, string description) =>
        new(permission, PermissionScope.Project, roles, [], description);
}

/// <summary>Endpoint metadata: the permission an endpoint needs.</summary>
public sealed record PermissionRequirement(Permission Permission)
{
    public PermissionRule Rule => Permissions.For(Permission);
}

/// <summary>Endpoint metadata for the endpoints that take no API key, each with the reason.</summary>
public sealed record AnonymousByDesign(string Reason);

/// <summary>Declaring permissions on endpoints.</summary>
public static class PermissionEndpointExtensions
{
    public static TBuilder RequirePermission<TBuilder>(this TBuilder builder, Permission permission)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        _ = Permissions.For(permission);
        builder.WithMetadata(new PermissionRequirement(permission));
        builder.ProducesProblem(StatusCodes.Status401Unauthorized);
        if (Permissions.For(permission).Scope is not PermissionScope.Authenticated)
        {
            builder.ProducesProblem(StatusCodes.Status403Forbidden);
        }

        return builder;
    }

    /// <summary>No API key: only for endpoints with a stated reason (health, the OpenAPI document, host-only invocations).</summary>
    public static TBuilder AllowAnonymousByDesign<TBuilder>(this TBuilder builder, string reason)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.WithMetadata(new AnonymousByDesign(reason));
        return builder.AllowAnonymous();
    }
}
