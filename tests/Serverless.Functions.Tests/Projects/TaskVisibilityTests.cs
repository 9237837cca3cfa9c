using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Functions.Tests.Tasks;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Projects;

/// <summary>The project setting <c>showTasksByOrganization</c> applied to task listings, through HTTP on SQLite and Azurite.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class TaskVisibilityTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);
    private readonly TaskHarness _h = new(shared);

    [Fact]
    public async Task ListTasks_SettingOnCompanyManager_SeesOnlyTasksAndItemsOfOwnCompany()
    {
        // Arrange: a home annotator (A) and a vendor annotator, each with a task, plus a task shared by both.
        var (w, vendor, vendorWorker, vendorManager, homeTask, vendorTask, sharedTask) = await ThreeTasksAsync("vis");

        using var owner = _app.Client(w.Scene.Owner.Key);
        using var manager = _app.Client(vendorManager.Key);
        var tasks = TaskHarness.Tasks(w);
        var before = await ListTaskIdsAsync(manager, tasks);

        // Act
        using var setOn = await owner.PatchAsJsonAsync($"/api/projects/{w.Scene.ProjectId}/settings", new { showTasksByOrganization = true });
        var managerSees = await ListTaskIdsAsync(manager, tasks);
        var ownerSees = await ListTaskIdsAsync(owner, tasks);
        using var homeTaskRead = await manager.GetAsync(new Uri($"{tasks}/{homeTask}", UriKind.Relative));
        using var homeItems = await manager.GetAsync(new Uri($"{tasks}/{homeTask}/items", UriKind.Relative));
        var sharedItems = await manager.GetFromJsonAsync<JsonElement>($"{tasks}/{sharedTask}/items?pageSize=100");
        using var othersItems = await manager.GetAsync(new Uri($"{tasks}/{sharedTask}/items?assignee={w.A.Id}", UriKind.Relative));
        var ownerSharedItems = await owner.GetFromJsonAsync<JsonElement>($"{tasks}/{sharedTask}/items?pageSize=100");
        var sharedRead = await manager.GetFromJsonAsync<JsonElement>($"{tasks}/{sharedTask}");
        var ownerSharedRead = await owner.GetFromJsonAsync<JsonElement>($"{tasks}/{sharedTask}");

        // Assert
        Assert.Equal(HttpStatusCode.OK, setOn.StatusCode);
        Assert.Equal(new[] { homeTask, vendorTask, sharedTask }.Order(), before.Order());
        Assert.Equal(new[] { vendorTask, sharedTask }.Order(), managerSees.Order());
        Assert.Equal(new[] { homeTask, vendorTask, sharedTask }.Order(), ownerSees.Order());
        await IdentityApp.AssertProblemAsync(homeTaskRead, HttpStatusCode.NotFound);
        await IdentityApp.AssertProblemAsync(homeItems, HttpStatusCode.NotFound);
        var visibleAssignees = sharedItems.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("assignee").GetString()).Distinct().ToList();
        Assert.Equal([vendorWorker.Id], visibleAssignees);
        Assert.Equal(5, sharedItems.GetProperty("items").GetArrayLength());
        await IdentityApp.AssertProblemAsync(othersItems, HttpStatusCode.Forbidden);
        Assert.Equal(10, ownerSharedItems.GetProperty("items").GetArrayLength());
        Assert.Equal([vendorWorker.Id], sharedRead.GetProperty("progress").GetProperty("byAssignee").EnumerateObject().Select(p => p.Name));
        Assert.Equal(10, sharedRead.GetProperty("progress").GetProperty("total").GetInt64());
        Assert.Equal(new[] { w.A.Id, vendorWorker.Id }.Order(), ownerSharedRead.GetProperty("progress").GetProperty("byAssignee").EnumerateObject().Select(p => p.Name).Order());
        Assert.NotEqual(vendor, w.Scene.Owner.OrgId);
    }

    [Fact]
    public async Task ListTasksAndItems_SettingOnSmallPages_PagesFullOfVisibleWorkUntilTheEnd()
    {
        // Arrange: the first task (by creation) is the home company's; of the shared task's 10 items, 5 are the vendor's.
        var (w, _, vendorWorker, vendorManager, _, vendorTask, sharedTask) = await ThreeTasksAsync("vispage");

        using var owner = _app.Client(w.Scene.Owner.Key);
        using var manager = _app.Client(vendorManager.Key);
        var tasks = TaskHarness.Tasks(w);
        using (var setOn = await owner.PatchAsJsonAsync($"/api/projects/{w.Scene.ProjectId}/settings", new { showTasksByOrganization = true }))
        {
            Assert.Equal(HttpStatusCode.OK, setOn.StatusCode);
        }

        // Act
        var taskPages = await AllPagesAsync(manager, $"{tasks}?pageSize=1");
        var itemPages = await AllPagesAsync(manager, $"{tasks}/{sharedTask}/items?pageSize=2");

        // Assert: no empty or short page before the last; nothing of the home company; nothing missed.
        // (Keyset pages cannot know a full page was the last one: an empty page may close the list, never come before.)
        Assert.All(taskPages.SkipLast(1), p => Assert.Single(p));
        Assert.Equal([vendorTask, sharedTask], taskPages.SelectMany(p => p).Select(t => t.GetProperty("id").GetString()!));
        Assert.Equal([2, 2, 1], itemPages.Select(p => p.Count));
        Assert.All(itemPages.SelectMany(p => p), i => Assert.Equal(vendorWorker.Id, i.GetProperty("assignee").GetString()));
        Assert.Equal(5, itemPages.SelectMany(p => p).Select(i => i.GetProperty("itemId").GetString()).Distinct().Count());
    }

    /// <summary>
    /// A world of 10 items, a labeling company, and three open tasks created in this order: the home annotator A's,
    /// the vendor annotator's, and one shared by both (items dealt alternately).
    /// </summary>
    private async Task<(World W, string Vendor, TestUser VendorWorker, TestUser VendorManager, string HomeTask, string VendorTask, string SharedTask)> ThreeTasksAsync(string name)
    {
        var w = await _h.WorldAsync(name, 10);
        var (vendor, vendorWorker, vendorManager) = await VendorAsync(w, name);
        var (homeTask, _) = await _h.CreateTaskAsync(w, new { name = "home", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id } } });
        var (vendorTask, _) = await _h.CreateTaskAsync(w, new { name = "vendor", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = vendorWorker.Id } } });
        var (sharedTask, _) = await _h.CreateTaskAsync(w, new { name = "shared", datasetId = w.Scene.DatasetId, assignees = new[] { new { userId = w.A.Id }, new { userId = vendorWorker.Id } } });
        foreach (var t in new[] { homeTask, vendorTask, sharedTask })
        {
            await _h.WaitOpenAsync(w, t);
        }

        return (w, vendor, vendorWorker, vendorManager, homeTask, vendorTask, sharedTask);
    }

    /// <summary>A labeling company with an annotator and an annotation manager, both members of the project.</summary>
    private async Task<(string OrgId, TestUser Worker, TestUser Manager)> VendorAsync(World w, string name)
    {
        using var admin = _app.Client(IdentityApp.AdminKey);
        using var org = await admin.PostAsJsonAsync("/api/orgs", new { name = name + " vendor", admin = new { name = name + " vendor admin" } }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, org.StatusCode);
        var created = (await org.Content.ReadFromJsonAsync<CreatedOrganization>(IdentityApp.Json))!;
        var orgId = created.Organization.Id;
        using var owner = _app.Client(w.Scene.Owner.Key);
        using var company = await owner.PutAsync(new Uri($"/api/projects/{w.Scene.ProjectId}/labeling-companies/{orgId}", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.Created, company.StatusCode);
        var worker = await CompanyUserAsync(orgId, created.AdminApiKey.Key, name + "-vendor-a");
        var manager = await CompanyUserAsync(orgId, created.AdminApiKey.Key, name + "-vendor-m");
        foreach (var (user, role) in new[] { (worker, "Annotator"), (manager, "AnnotationManager") })
        {
            using var member = await owner.PutAsJsonAsync($"/api/projects/{w.Scene.ProjectId}/members/{user.Id}", new { role }, IdentityApp.Json);
            Assert.Equal(HttpStatusCode.Created, member.StatusCode);
        }

        return (orgId, worker, manager);
    }

    private async Task<TestUser> CompanyUserAsync(string orgId, string adminKey, string name)
    {
        using var client = _app.Client(adminKey);
        using var response = await client.PostAsJsonAsync($"/api/orgs/{orgId}/users", new { name, email = $"{name}@example.com", orgRole = "Member" }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = (await response.Content.ReadFromJsonAsync<CreatedUser>(IdentityApp.Json))!;
        return new TestUser(created.User.Id, created.ApiKey.Key, orgId);
    }

    /// <summary>Every page of a list, following the continuation token (at most 20 pages).</summary>
    private static async Task<List<List<JsonElement>>> AllPagesAsync(HttpClient client, string url)
    {
        var pages = new List<List<JsonElement>>();
        string? token = null;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>(token is null ? url : $"{url}&continuationToken={Uri.EscapeDataString(token)}");
            pages.Add([.. page.GetProperty("items").EnumerateArray()]);
            token = page.TryGetProperty("continuationToken", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (token is not null && pages.Count < 20);
        return pages;
    }

    private static async Task<List<string>> ListTaskIdsAsync(HttpClient client, string url)
    {
        var page = await client.GetFromJsonAsync<JsonElement>($"{url}?pageSize=100");
        return [.. page.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetString()!)];
    }
}
