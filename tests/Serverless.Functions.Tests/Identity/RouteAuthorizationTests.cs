using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Durable;
using Serverless.Durable.Storage;
using Serverless.Functions.Durable;
using Serverless.Functions.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Identity;

/// <summary>
/// Enumerates every route the app serves (EndpointDataSource) and proves the access rules on each:
/// an API key is required except on an explicit allow-list; a member of project A can neither read
/// nor change project B; every role is refused what the permission matrix denies it. New endpoints
/// are covered automatically, and one that declares no permission fails the first test.
/// </summary>
public sealed partial class RouteAuthorizationTests(RouteAuthorizationTests.World world) : IClassFixture<RouteAuthorizationTests.World>
{
    /// <summary>The only endpoints that take no API key (route pattern → why).</summary>
    private static readonly Dictionary<string, string> AnonymousAllowList = new(StringComparer.Ordinal)
    {
        ["api/health/"] = "health probe",
        ["openapi/{documentName}.json"] = "OpenAPI document",
    };

    /// <summary>Only in custom handler mode: the Functions host's trigger invocations over loopback.</summary>
    private const string InvocationRoute = "/{functionName}";

    [Fact]
    public void EveryEndpoint_DeclaresAPermissionOrIsAllowListed()
    {
        // Arrange
        var endpoints = Endpoints(world.App.Factory.Services);
        var failures = new List<string>();

        // Act
        foreach (var e in endpoints)
        {
            var requirement = e.Metadata.GetMetadata<PermissionRequirement>();
            var anonymous = e.Metadata.GetMetadata<AnonymousByDesign>();
            var route = e.RoutePattern.RawText!.TrimStart('/');
            if (requirement is null && anonymous is null)
            {
                failures.Add($"{Describe(e)} declares no permission (use RequirePermission)");
            }
            else if (anonymous is not null && !AnonymousAllowList.ContainsKey(route))
            {
                failures.Add($"{Describe(e)} allows anonymous access but is not on the allow-list");
            }
            else if (requirement?.Rule.Scope == PermissionScope.Project && !route.Contains("{projectId}", StringComparison.Ordinal))
            {
                failures.Add($"{Describe(e)} needs a project permission but has no {{projectId}}");
            }
            else if (requirement?.Rule.Scope == PermissionScope.Organization && !route.Contains("{orgId}", StringComparison.Ordinal))
            {
                failures.Add($"{Describe(e)} needs an organization permission but has no {{orgId}}");
            }
        }

        // Assert
        Assert.True(endpoints.Count >= 25, $"only {endpoints.Count} endpoints found");
        Assert.Empty(failures);
        Assert.Equal(AnonymousAllowList.Keys.Order(), endpoints.Where(e => e.Metadata.GetMetadata<AnonymousByDesign>() is not null).Select(e => e.RoutePattern.RawText!.TrimStart('/')).Order());
    }

    [Theory]
    [InlineData("CloneDataset", "POST", "api/projects/{projectId}/datasets/{datasetId}/clone", Permission.DatasetsCopy)]
    [InlineData("MergeDatasets", "POST", "api/projects/{projectId}/datasets/merge", Permission.DatasetsCopy)]
    [InlineData("GetProjectDashboard", "GET", "api/projects/{projectId}/dashboard/", Permission.DashboardRead)]
    [InlineData("DeleteProject", "DELETE", "api/projects/{projectId}", Permission.ProjectDelete)]
    [InlineData("BuildRawZip", "POST", "api/projects/{projectId}/datasets/{datasetId}/raw-zip/", Permission.RawZipsBuild)]
    [InlineData("GetRawZip", "GET", "api/projects/{projectId}/datasets/{datasetId}/raw-zip/", Permission.DatasetsRead)]
    [InlineData("GetItemVideo", "GET", "api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/", Permission.ItemsRead)]
    [InlineData("ConvertItemVideo", "POST", "api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/convert", Permission.VideosConvert)]
    [InlineData("CreateExport", "POST", "api/projects/{projectId}/exports/", Permission.ExportsManage)]
    [InlineData("DownloadLabelVersion", "GET", "api/projects/{projectId}/label-versions/{name}/download", Permission.ExportsRead)]
    [InlineData("GetAnalyticsCollaborators", "GET", "api/projects/{projectId}/analytics/collaborators", Permission.AnalyticsRead)]
    [InlineData("RebuildAnalytics", "POST", "api/projects/{projectId}/analytics/rebuild", Permission.AnalyticsManage)]
    [InlineData("ReportTime", "POST", "api/projects/{projectId}/time/", Permission.TasksWork)]
    [InlineData("CreateImport", "POST", "api/projects/{projectId}/datasets/{datasetId}/imports/", Permission.ImportsManage)]
    public void OrchestrationAndDashboardRoutes_AreEnumeratedWithTheirPermission(string name, string method, string route, Permission permission)
    {
        // Arrange
        var endpoints = Endpoints(world.App.Factory.Services);

        // Act
        var endpoint = endpoints.SingleOrDefault(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == name);

        // Assert: present, so every test above covers it, and guarded by the matrix's rule.
        Assert.NotNull(endpoint);
        Assert.Equal(route, endpoint.RoutePattern.RawText!.TrimStart('/'));
        Assert.Contains(method, endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods);
        Assert.Equal(permission, endpoint.Metadata.GetMetadata<PermissionRequirement>()!.Permission);
    }

    [Fact]
    public async Task EveryEndpoint_NoKey_401WithChallenge()
    {
        // Arrange
        using var client = world.App.Client();
        var failures = new List<string>();

        // Act
        foreach (var (e, method) in Protected())
        {
            using var response = await SendAsync(client, method, e, world.ValuesFor(world.ProjectA));
            if (response.StatusCode != HttpStatusCode.Unauthorized || !response.Headers.WwwAuthenticate.Any(h => h.Scheme == "Bearer")
                || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                failures.Add($"{method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
            }
        }

        // Assert
        Assert.Empty(failures);
    }

    [Fact]
    public async Task EveryEndpoint_UnknownKeyOrOtherScheme_401()
    {
        // Arrange
        using var unknown = world.App.Client("ak_not-a-key-that-exists-anywhere-000000000000000");
        using var basic = world.App.Client();
        basic.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("a:b")));
        var failures = new List<string>();

        // Act
        foreach (var (e, method) in Protected())
        {
            foreach (var client in new[] { unknown, basic })
            {
                using var response = await SendAsync(client, method, e, world.ValuesFor(world.ProjectA));
                if (response.StatusCode != HttpStatusCode.Unauthorized)
                {
                    failures.Add($"{method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
                }
            }
        }

        // Assert
        Assert.Empty(failures);
    }

    [Fact]
    public async Task EveryProjectEndpoint_OwnerOfAnotherProject_404AndNothingChanges()
    {
        // Arrange: the Owner of A aims at B, with B's owner and key ids in the route.
        using var client = world.App.Client(world.Members[ProjectRole.Owner].Key);
        using var ownerB = world.App.Client(world.OwnerB.Key);
        var before = await SnapshotAsync(ownerB, world.ProjectB);
        var failures = new List<string>();

        // Act
        foreach (var (e, method) in Protected().Where(p => Scope(p.Endpoint) == PermissionScope.Project))
        {
            using var response = await SendAsync(client, method, e, world.ValuesFor(world.ProjectB, world.OwnerB));
            if (response.StatusCode != HttpStatusCode.NotFound)
            {
                failures.Add($"{method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
            }
        }

        // Assert
        Assert.Empty(failures);
        Assert.Equal(before, await SnapshotAsync(ownerB, world.ProjectB));
    }

    [Fact]
    public async Task EveryProjectEndpoint_RoleWithoutPermission_403_RoleWithPermissionCanRead()
    {
        // Arrange
        var failures = new List<string>();
        var checkedCount = 0;

        // Act
        foreach (var (e, method) in Protected().Where(p => Scope(p.Endpoint) == PermissionScope.Project))
        {
            var rule = e.Metadata.GetMetadata<PermissionRequirement>()!.Rule;
            foreach (var (role, user) in world.Members)
            {
                var allowed = rule.ProjectRoles.Contains(role);
                if (allowed && method != HttpMethods.Get)
                {
                    continue; // allowed writes are exercised by the functional tests, not replayed here
                }

                using var client = world.App.Client(user.Key);
                using var response = await SendAsync(client, method, e, world.ValuesFor(world.ProjectA, world.Members[ProjectRole.Owner]));
                checkedCount++;
                var ok = allowed ? response.IsSuccessStatusCode : response.StatusCode == HttpStatusCode.Forbidden;
                if (!ok)
                {
                    failures.Add($"{role} {method} {e.RoutePattern.RawText}: {(int)response.StatusCode}, expected {(allowed ? "2xx" : "403")}");
                }
            }
        }

        // Assert
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(checkedCount > 20);
    }

    [Fact]
    public async Task EveryOrganizationEndpoint_OtherOrganization404_MemberRoleRefused403()
    {
        // Arrange
        using var outsider = world.App.Client(world.OtherOrgAdmin.Key);
        using var member = world.App.Client(world.Members[ProjectRole.Owner].Key); // an org Member of the default org
        var failures = new List<string>();

        // Act
        foreach (var (e, method) in Protected().Where(p => Scope(p.Endpoint) == PermissionScope.Organization))
        {
            var rule = e.Metadata.GetMetadata<PermissionRequirement>()!.Rule;
            using (var response = await SendAsync(outsider, method, e, world.ValuesFor(world.ProjectA)))
            {
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    failures.Add($"other org admin {method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
                }
            }

            if (!rule.OrgRoles.Contains(OrgRole.Member))
            {
                using var response = await SendAsync(member, method, e, world.ValuesFor(world.ProjectA));
                if (response.StatusCode != HttpStatusCode.Forbidden)
                {
                    failures.Add($"org member {method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
                }
            }
        }

        // Assert
        Assert.Empty(failures);
    }

    [Fact]
    public async Task EveryPlatformEndpoint_OrganizationAdmin_403()
    {
        // Arrange
        using var client = world.App.Client(world.OtherOrgAdmin.Key);
        var endpoints = Protected().Where(p => Scope(p.Endpoint) == PermissionScope.Platform).ToList();
        var failures = new List<string>();

        // Act
        foreach (var (e, method) in endpoints)
        {
            using var response = await SendAsync(client, method, e, world.ValuesFor(world.ProjectA));
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                failures.Add($"{method} {e.RoutePattern.RawText}: {(int)response.StatusCode}");
            }
        }

        // Assert
        Assert.NotEmpty(endpoints);
        Assert.Empty(failures);
    }

    [Fact]
    public async Task OpenApi_Anonymous_DocumentsEveryProtectedEndpointWithTheApiKeySchemes()
    {
        // Arrange
        using var client = world.App.Client();

        // Act
        using var response = await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = document.GetProperty("paths");
        var missing = Protected()
            .Select(p => (Path: "/" + p.Endpoint.RoutePattern.RawText!.Trim('/'), p.Method))
            .Where(p => !paths.TryGetProperty(p.Path, out var item) || !item.TryGetProperty(p.Method.ToLowerInvariant(), out _))
            .Select(p => $"{p.Method} {p.Path}")
            .ToList();
        Assert.Empty(missing);
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal("bearer", schemes.GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.Equal("X-Api-Key", schemes.GetProperty("apiKeyHeader").GetProperty("name").GetString());
    }

    [Fact]
    public async Task CustomHandlerMode_InvocationEndpointIsTheOnlyAddition_AndIsHostOnlyAnonymous()
    {
        // Arrange
        var dir = Path.Combine(Path.GetTempPath(), $"identity-ch-{Guid.NewGuid():N}");
        await using var factory = new FunctionsAppFactory(FunctionsAppFactory.BaseSettings(new()
        {
            [Hosting.FunctionsHostingMode.PortVariable] = "7199",
            ["DocumentStore:SqlitePath"] = Path.Combine(dir, "platform.db"),
            ["Bootstrap:AdminApiKey"] = IdentityApp.AdminKey,
        }));

        try
        {
            // Act
            var standalone = Endpoints(world.App.Factory.Services).Select(Describe).ToHashSet(StringComparer.Ordinal);
            var extra = Endpoints(factory.Services).Where(e => !standalone.Contains(Describe(e))).ToList();

            // Assert
            var invocation = Assert.Single(extra);
            Assert.Equal(InvocationRoute, invocation.RoutePattern.RawText);
            Assert.NotNull(invocation.Metadata.GetMetadata<AnonymousByDesign>());
            Assert.Null(invocation.Metadata.GetMetadata<PermissionRequirement>());
        }
        finally
        {
            await factory.DisposeAsync();
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private IEnumerable<(RouteEndpoint Endpoint, string Method)> Protected() =>
        Endpoints(world.App.Factory.Services)
            .Where(e => e.Metadata.GetMetadata<AnonymousByDesign>() is null)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (e, m)));

    private static List<RouteEndpoint> Endpoints(IServiceProvider services) =>
        [.. services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()];

    private static PermissionScope? Scope(RouteEndpoint e) => e.Metadata.GetMetadata<PermissionRequirement>()?.Rule.Scope;

    private static string Describe(RouteEndpoint e) =>
        $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])} {e.RoutePattern.RawText}";

    /// <summary>
    /// Routes that read an item's bytes: this world runs no blob service, so they get the item whose
    /// bytes are held inline (route pattern → the value key used for {itemId}).
    /// </summary>
    private static readonly Dictionary<string, string> ItemBytesRoutes = new(StringComparer.Ordinal)
    {
        ["api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/content"] = "inlineItemId",
        ["api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/"] = "videoItemId",
        ["api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video/convert"] = "videoItemId",
    };

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string method, RouteEndpoint endpoint, IReadOnlyDictionary<string, string> values)
    {
        if (ItemBytesRoutes.TryGetValue(endpoint.RoutePattern.RawText!.TrimStart('/'), out var key) && values.TryGetValue(key, out var inlineItem))
        {
            values = new Dictionary<string, string>(values, StringComparer.Ordinal) { ["itemId"] = inlineItem };
        }

        var path = RouteParameter().Replace(endpoint.RoutePattern.RawText!, m =>
            values.TryGetValue(m.Groups[1].Value, out var v) ? v : throw new InvalidOperationException($"The test has no value for route parameter '{m.Groups[1].Value}' in {endpoint.RoutePattern.RawText}; add one to World.ValuesFor."));
        using var request = new HttpRequestMessage(new HttpMethod(method), "/" + path.TrimStart('/'));
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = JsonContent.Create(new { });
        }

        return await client.SendAsync(request);
    }

    private static async Task<string> SnapshotAsync(HttpClient ownerClient, string projectId)
    {
        var project = await ownerClient.GetStringAsync(new Uri($"/api/projects/{projectId}", UriKind.Relative));
        var members = await ownerClient.GetStringAsync(new Uri($"/api/projects/{projectId}/members", UriKind.Relative));
        var keys = await ownerClient.GetStringAsync(new Uri("/api/me/api-keys", UriKind.Relative));
        return project + members + keys;
    }

    [GeneratedRegex(@"\{(\w+)[^}]*\}")]
    private static partial Regex RouteParameter();

    /// <summary>
    /// Project A with one member per role; project B owned by someone else; a second organization
    /// with its own admin. Built once for the class, through the API.
    /// </summary>
    public sealed class World : IAsyncLifetime
    {
        public IdentityApp App { get; } = new();

        public Dictionary<ProjectRole, TestUser> Members { get; } = [];

        public TestUser OwnerB { get; private set; } = null!;

        public TestUser OtherOrgAdmin { get; private set; } = null!;

        public string ProjectA { get; private set; } = "";

        public string ProjectB { get; private set; } = "";

        public string OwnerKeyId { get; private set; } = "";

        /// <summary>A dataset of project A holding <see cref="ItemA"/>, so that allowed reads answer 2xx.</summary>
        public string DatasetA { get; private set; } = "";

        public string ItemA { get; private set; } = "";

        /// <summary>An item of <see cref="DatasetA"/> with inline bytes (see <c>ItemBytesRoutes</c>).</summary>
        public string InlineItemA { get; private set; } = "";
        /// <summary>A video item of <see cref="DatasetA"/> whose conversion is pending (the video routes answer without blobs).</summary>
        public string VideoItemA { get; private set; } = "";

        /// <summary>A recipe of project A, so that reads of <c>{recipeId}</c> routes by allowed roles succeed.</summary>
        public string RecipeA { get; private set; } = "";

        /// <summary>A group of the default organization, added to project A, so group routes have a real id.</summary>
        public string GroupA { get; private set; } = "";

        /// <summary>A saved filter of project A, so that reads of <c>{filterId}</c> routes by allowed roles succeed.</summary>
        public string FilterA { get; private set; } = "";
        /// <summary>An annotation on <see cref="ItemA"/>.</summary>
        public string AnnotationA { get; private set; } = "";

        /// <summary>A task of project A over <see cref="ItemA"/>.</summary>
        public string TaskA { get; private set; } = "";

        /// <summary>An issue in <see cref="TaskA"/>'s partition.</summary>
        public string IssueA { get; private set; } = "";

        /// <summary>A finished export of project A, saved as label version <see cref="ExportVersionA"/>.</summary>
        public string ExportA { get; private set; } = "";

        /// <summary>A finished import into <see cref="DatasetA"/>.</summary>
        public string ImportA { get; private set; } = "";

        /// <summary>The label version <see cref="ExportA"/> is saved as.</summary>
        public const string ExportVersionA = "vA";

        /// <summary>An orchestration instance of project A (Pending: no worker of this app reaches its queue).</summary>
        public string InstanceA { get; private set; } = "";

        /// <summary>
        /// This app runs without Azurite; the instance is started by a client-only durable backend on a private
        /// Azurite and the app's own document store, the way another process of the deployment would start it.
        /// The app's status reads need only the document store.
        /// </summary>
        private readonly AzuriteFixture _azurite = new();

        public async Task InitializeAsync()
        {
            await App.InitializeAsync();
            foreach (var role in Enum.GetValues<ProjectRole>())
            {
                Members[role] = await App.CreateUserAsync(role.ToString().ToUpperInvariant());
            }

            OwnerB = await App.CreateUserAsync("ownerB");
            ProjectA = await App.CreateProjectAsync(Members[ProjectRole.Owner].Key, "A");
            ProjectB = await App.CreateProjectAsync(OwnerB.Key, "B");
            foreach (var (role, user) in Members.Where(m => m.Key != ProjectRole.Owner))
            {
                await App.AddMemberAsync(Members[ProjectRole.Owner].Key, ProjectA, user.Id, role);
            }

            using var admin = App.Client(IdentityApp.AdminKey);
            using var response = await admin.PostAsJsonAsync("/api/orgs", new { name = "Other org", admin = new { name = "other admin" } });
            var created = (await response.Content.ReadFromJsonAsync<CreatedOrganization>(IdentityApp.Json))!;
            OtherOrgAdmin = new TestUser(created.Admin.Id, created.AdminApiKey.Key, created.Organization.Id);

            using var ownerB = App.Client(OwnerB.Key);
            var keys = await ownerB.GetFromJsonAsync<JsonElement>("/api/me/api-keys");
            OwnerKeyId = keys[0].GetProperty("id").GetString()!;

            (DatasetA, ItemA) = await Datasets.DatasetSeed.CreateWithItemAsync(App, Members[ProjectRole.Owner].Key, ProjectA);
            InlineItemA = await Datasets.DatasetSeed.CreateInlineItemAsync(App, ProjectA, DatasetA);
            using var ownerA = App.Client(Members[ProjectRole.Owner].Key);
            using var recipe = await ownerA.PostAsJsonAsync($"/api/projects/{ProjectA}/recipes", new { name = "recipe A", classes = new[] { new { name = "scene", color = "#123456", shape = "classification" } } });
            RecipeA = (await recipe.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

            using var filter = await ownerA.PostAsJsonAsync($"/api/projects/{ProjectA}/filters", new { name = "filter A", query = new { filter = new { dir = "/a" } } });
            FilterA = (await filter.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            using var group = await admin.PostAsJsonAsync($"/api/orgs/{IdentityBootstrap.DefaultOrganizationId}/groups", new { name = "group A" });
            GroupA = (await group.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            using var linked = await ownerA.PutAsJsonAsync($"/api/projects/{ProjectA}/groups/{GroupA}", new { role = "Annotator" });
            linked.EnsureSuccessStatusCode();
            using var attached = await ownerA.PutAsJsonAsync($"/api/projects/{ProjectA}/datasets/{DatasetA}/recipe", new { recipeId = RecipeA });
            attached.EnsureSuccessStatusCode();
            using var annotation = await ownerA.PostAsJsonAsync($"/api/projects/{ProjectA}/datasets/{DatasetA}/items/{ItemA}/annotations", new { annotations = new[] { new { label = "scene" } } });
            AnnotationA = (await annotation.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("annotations")[0].GetProperty("id").GetString()!;

            // Written through the store: this app runs without Azurite, so the split orchestration cannot run here.
            TaskA = Ids.New("t");
            var now = Serverless.Core.Filters.StoredTimestamp.Format(DateTimeOffset.UtcNow);
            await App.Factory.Services.GetRequiredService<Serverless.Functions.Tasks.TaskStore>().CreateAsync(
                new Serverless.Functions.Tasks.LabelingTask(TaskA, ProjectA, DatasetA, "task A", "annotation", "medium", null, Serverless.Functions.Tasks.TasksApi.DefaultActions,
                    [new Serverless.Functions.Tasks.TaskAssignee(Members[ProjectRole.Annotator].Id, 0)], [], "open", null, Members[ProjectRole.Owner].Id, now, now),
                CancellationToken.None);

            // Annotators and reviewers write annotations only on their assignments: both hold item A in task A.
            var tasks = App.Factory.Services.GetRequiredService<Serverless.Functions.Tasks.TaskStore>();
            var reviewTask = Ids.New("t");
            await tasks.CreateAsync(
                new Serverless.Functions.Tasks.LabelingTask(reviewTask, ProjectA, DatasetA, "review A", "qa", "medium", null, Serverless.Functions.Tasks.QaApi.QaActions,
                    [new Serverless.Functions.Tasks.TaskAssignee(Members[ProjectRole.Reviewer].Id, 0)], [], "open", null, Members[ProjectRole.Owner].Id, now, now, SourceTaskId: TaskA),
                CancellationToken.None);
            foreach (var (task, role) in new[] { (TaskA, ProjectRole.Annotator), (reviewTask, ProjectRole.Reviewer) })
            {
                await tasks.AddItemsAsync(task, [new Serverless.Functions.Tasks.TaskItem(ItemA, DatasetA, "item", Members[role].Id, null, null, null, 0, false)], CancellationToken.None);
            }

            IssueA = (await App.Factory.Services.GetRequiredService<Serverless.Functions.Tasks.IssueStore>().OpenAsync(
                TaskA, TaskA, ItemA, AnnotationA, "seeded", null, Members[ProjectRole.Reviewer].Id, Members[ProjectRole.Annotator].Id, CancellationToken.None)).Id;
            ExportA = Ids.New("e");
            await App.Factory.Services.GetRequiredService<Serverless.Functions.Exports.ExportStore>().CreateAsync(
                new Serverless.Functions.Exports.Export(ExportA, ProjectA, "export A", "json", new Serverless.Functions.Exports.ExportScope(DatasetA, null, null, null), null, null, false, ExportVersionA,
                    "done", new Serverless.Functions.Exports.ExportProgress(1, 1), 10, null, now, Members[ProjectRole.Owner].Id, now, ProjectOrchestrations.InstanceId(ProjectA, "ExportLabels", ExportA), null),
                CancellationToken.None);
            ImportA = Ids.New("im");
            await App.Factory.Services.GetRequiredService<Serverless.Functions.Imports.ImportStore>().CreateAsync(
                new Serverless.Functions.Imports.Import(ImportA, ProjectA, DatasetA, "json", "done", "none.json", 2, new Serverless.Functions.Imports.ImportCounts(0, 0, 0, 0, 0), [], 0, null, now,
                    Members[ProjectRole.Owner].Id, now, ProjectOrchestrations.InstanceId(ProjectA, "ImportLabels", ImportA)),
                CancellationToken.None);
            await _azurite.InitializeAsync();
            await using var starter = new StorageOrchestrationBackend(
                App.Factory.Services.GetRequiredService<IDocumentStore>(), _azurite.QueueStore, _azurite.BlobStore,
                App.Factory.Services.GetRequiredService<StorageBackendOptions>() with { InProcessDispatch = false, PollQueues = false });
            InstanceA = await new DurableClient(starter).ScheduleNewOrchestrationInstanceAsync(
                "RouteSeed", new { seeded = true }, new StartOrchestrationOptions(ProjectOrchestrations.InstanceId(ProjectA, "route", "seed")));

            // A raw-zip build of dataset A that stays pending, so GET raw-zip answers from the instance (no blob service here).
            await new DurableClient(starter).ScheduleNewOrchestrationInstanceAsync(
                nameof(Serverless.Functions.RawZips.BuildRawZip), new Serverless.Functions.RawZips.RawZipInput(ProjectA, DatasetA, null, Members[ProjectRole.Owner].Id),
                new StartOrchestrationOptions(ProjectOrchestrations.InstanceId(ProjectA, Serverless.Functions.RawZips.RawZipsApi.Kind, DatasetA)));
            VideoItemA = await Media.MediaSeed.CreateVideoItemAsync(App, ProjectA, DatasetA);
        }

        /// <summary>Route values aimed at <paramref name="projectId"/>; users and keys are those of <paramref name="target"/>.</summary>
        public IReadOnlyDictionary<string, string> ValuesFor(string projectId, TestUser? target = null) => new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["projectId"] = projectId,
            ["orgId"] = IdentityBootstrap.DefaultOrganizationId,
            ["userId"] = (target ?? OwnerB).Id,
            ["keyId"] = OwnerKeyId,
            ["datasetId"] = DatasetA,
            ["itemId"] = ItemA,
            ["inlineItemId"] = InlineItemA,
            ["videoItemId"] = VideoItemA,
            ["recipeId"] = RecipeA,
            ["groupId"] = GroupA,
            ["filterId"] = FilterA,
            ["companyId"] = OtherOrgAdmin.OrgId,
            ["annotationId"] = AnnotationA,
            ["taskId"] = TaskA,
            ["issueId"] = IssueA,
            ["instanceId"] = InstanceA,
            ["eventName"] = "Approval",
            ["exportId"] = ExportA,
            ["importId"] = ImportA,
            ["name"] = ExportVersionA,
        };

        public async Task DisposeAsync()
        {
            await App.DisposeAsync();
            await _azurite.DisposeAsync();
        }
    }
}
