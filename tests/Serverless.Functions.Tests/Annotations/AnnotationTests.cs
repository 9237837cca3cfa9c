using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Annotations;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Functions.Tests.Items;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Annotations;

/// <summary>Annotations through HTTP on SQLite and Azurite: validation against recipe and image, counters, concurrency, the status rule, the activity log.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class AnnotationTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private static readonly int[][] Triangle = [[0, 0], [100, 0], [50, 50]];

    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    private static object Box(double x, double y, double w, double h, bool occluded = false) =>
        new { label = "car", geometry = new { x, y, width = w, height = h }, attributes = new { occluded } };

    [Fact]
    public async Task Create_ThreeShapesOnA100x50Image_201ItemAnnotatedCountedAndLogged()
    {
        // Arrange
        var s = await SetUpAsync("create");
        using var client = _app.Client(s.Scene.Owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync(s.Annotations, new
        {
            annotations = new object[]
            {
                Box(0, 0, 100, 50),
                new { label = "Road", geometry = new { points = Triangle } },
                new { label = "daytime" },
            },
        }, IdentityApp.Json);
        var created = (await response.Content.ReadFromJsonAsync<CreatedAnnotations>(IdentityApp.Json))!;
        var listed = (await client.GetFromJsonAsync<Page<Annotation>>(s.Annotations, IdentityApp.Json))!;
        var item = (await client.GetFromJsonAsync<Item>(s.Item, IdentityApp.Json))!;
        var log = (await client.GetFromJsonAsync<Page<ActivityEvent>>($"/api/projects/{s.Scene.ProjectId}/activity?kind=annotation.", IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(["car", "road", "daytime"], created.Annotations.Select(a => a.Label.ToLowerInvariant()));
        Assert.Equal(["box", "polygon", "classification"], created.Annotations.Select(a => a.Shape));
        Assert.Equal(created.Annotations.Select(a => a.Id).Order(), listed.Items.Select(a => a.Id).Order());
        Assert.All(listed.Items, a => Assert.Equal(s.Scene.Owner.Id, a.CreatedBy));
        Assert.True(item.Annotated);
        Assert.Equal(3, await Store.CountAsync(s.Scene.DatasetId, CancellationToken.None));
        Assert.Equal(3, log.Items.Count(e => e.Kind == ActivityKinds.AnnotationCreated && e.ItemId == s.ItemId && e.Actor == s.Scene.Owner.Id));
        Assert.All(log.Items, e => Assert.StartsWith("key:", e.Source, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Create_OneBadEntryAmongGood_400NamingEachFieldAndNothingWritten()
    {
        // Arrange
        var s = await SetUpAsync("bad");
        using var client = _app.Client(s.Scene.Owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync(s.Annotations, new
        {
            annotations = new object[]
            {
                Box(0, 0, 10, 10),
                Box(90, 0, 20, 10),
                new { label = "plane", geometry = new { x = 1, y = 1, width = 1, height = 1 } },
                new { label = "car", geometry = new { x = 1, y = 1, width = 1, height = 1 } },
            },
        }, IdentityApp.Json);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var listed = (await client.GetFromJsonAsync<Page<Annotation>>(s.Annotations, IdentityApp.Json))!;
        var item = (await client.GetFromJsonAsync<Item>(s.Item, IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var keys = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["/annotations/1/geometry/width", "/annotations/2/label", "/annotations/3/attributes/occluded"], keys.Order(StringComparer.Ordinal));
        Assert.Empty(listed.Items);
        Assert.False(item.Annotated);
    }

    [Fact]
    public async Task Create_DatasetWithoutRecipe_409SayingHowToChooseOne()
    {
        // Arrange
        var s = await SetUpAsync("norecipe", attachRecipe: false);
        using var client = _app.Client(s.Scene.Owner.Key);

        // Act
        using var response = await client.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(0, 0, 1, 1) } }, IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("/recipe", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replace_WithStaleETag412_WithCurrentETag200AndNewVersion()
    {
        // Arrange
        var s = await SetUpAsync("replace");
        using var owner = _app.Client(s.Scene.Owner.Key);
        var id = await CreateOneAsync(owner, s);
        using var first = await owner.GetAsync($"{s.Annotations}/{id}");
        var etag = first.Headers.ETag!.Tag;

        // Act
        using var ok = await PutAsync(owner, $"{s.Annotations}/{id}", Box(5, 5, 10, 10, occluded: true), etag);
        using var stale = await PutAsync(owner, $"{s.Annotations}/{id}", Box(6, 6, 10, 10), etag);
        var current = (await owner.GetFromJsonAsync<Annotation>($"{s.Annotations}/{id}", IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.NotEqual(etag, ok.Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        Assert.Equal(5, current.Geometry!["x"]!.GetValue<double>());
        Assert.True(current.Attributes["occluded"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Delete_LastAnnotation_ItemNoLongerAnnotatedAndCounterBackToZero()
    {
        // Arrange
        var s = await SetUpAsync("delete");
        using var owner = _app.Client(s.Scene.Owner.Key);
        var id = await CreateOneAsync(owner, s);

        // Act
        using var deleted = await owner.DeleteAsync($"{s.Annotations}/{id}");
        using var again = await owner.DeleteAsync($"{s.Annotations}/{id}");
        var item = (await owner.GetFromJsonAsync<Item>(s.Item, IdentityApp.Json))!;
        var log = (await owner.GetFromJsonAsync<Page<ActivityEvent>>($"/api/projects/{s.Scene.ProjectId}/activity?kind=annotation.deleted", IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.False(item.Annotated);
        Assert.Equal(0, await Store.CountAsync(s.Scene.DatasetId, CancellationToken.None));
        Assert.Equal(id, Assert.Single(log.Items).AnnotationId);
    }

    [Fact]
    public async Task DeleteItem_WithAnnotations_AnnotationsAndTheirCountGoToo()
    {
        // Arrange
        var s = await SetUpAsync("itemgone");
        using var owner = _app.Client(s.Scene.Owner.Key);
        for (var i = 0; i < 3; i++)
        {
            await CreateOneAsync(owner, s);
        }

        // Act
        using var deleted = await owner.DeleteAsync(s.Item);
        using var list = await owner.GetAsync(s.Annotations);
        var left = await _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(DatasetContainers.Items)
            .CountAsync(DatasetContainers.ItemPartition(s.Scene.DatasetId), Filter.And(Filter.Eq("kind", "annotation"), Filter.Eq("itemId", s.ItemId)));

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, list.StatusCode);
        Assert.Equal(0, left);
        Assert.Equal(0, await Store.CountAsync(s.Scene.DatasetId, CancellationToken.None));
    }

    [Fact]
    public async Task Create_TwentyConcurrentOnOneItem_AllKeptAndCountedOnce()
    {
        // Arrange
        var s = await SetUpAsync("race");
        using var owner = _app.Client(s.Scene.Owner.Key);

        // Act
        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => owner.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(i, 0, 1, 1) } }, IdentityApp.Json)));
        var listed = (await owner.GetFromJsonAsync<Page<Annotation>>($"{s.Annotations}?pageSize=100", IdentityApp.Json))!;
        var itemDoc = await Store.ReadItemAsync(s.Scene.DatasetId, s.ItemId, CancellationToken.None);

        // Assert
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Equal(20, listed.Items.Count);
        Assert.Equal(20, itemDoc!.Body["annotationCount"]!.GetValue<long>());
        Assert.Equal(20, await Store.CountAsync(s.Scene.DatasetId, CancellationToken.None));
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task Write_ItemHoldsStatusAndProjectRequiresClearing_409UntilCleared()
    {
        // Arrange
        var s = await SetUpAsync("locked");
        using var owner = _app.Client(s.Scene.Owner.Key);
        var id = await CreateOneAsync(owner, s);
        using (var settings = await owner.PatchAsJsonAsync($"/api/projects/{s.Scene.ProjectId}/settings", new { requireStatusClearBeforeEdit = true }, IdentityApp.Json))
        {
            Assert.Equal(HttpStatusCode.OK, settings.StatusCode);
        }

        await SetItemStatusAsync(s, new JsonObject { ["t_1"] = "COMPLETED" });

        // Act
        using var create = await owner.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(0, 0, 1, 1) } }, IdentityApp.Json);
        using var replace = await PutAsync(owner, $"{s.Annotations}/{id}", Box(1, 1, 1, 1), null);
        using var delete = await owner.DeleteAsync($"{s.Annotations}/{id}");
        await SetItemStatusAsync(s, new JsonObject { ["t_1"] = null });
        using var afterClear = await owner.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(0, 0, 1, 1) } }, IdentityApp.Json);

        // Assert
        Assert.Equal(HttpStatusCode.Conflict, create.StatusCode);
        Assert.Contains("COMPLETED", await create.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, replace.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode);
        Assert.Equal(HttpStatusCode.Created, afterClear.StatusCode);
    }

    [Fact]
    public async Task Activity_AnnotatorSeesOnlyOwnActions_AskingForAnother403()
    {
        // Arrange
        var s = await SetUpAsync("activity");
        var annotator = await _app.CreateUserAsync("act-annotator");
        await _app.AddMemberAsync(s.Scene, annotator, ProjectRole.Annotator);
        using var owner = _app.Client(s.Scene.Owner.Key);
        using var worker = _app.Client(annotator.Key);
        await AssignAsync(owner, s, annotator);
        await CreateOneAsync(owner, s);
        await CreateOneAsync(worker, s);

        // Act
        var own = (await worker.GetFromJsonAsync<Page<ActivityEvent>>($"/api/projects/{s.Scene.ProjectId}/activity?kind=annotation.", IdentityApp.Json))!;
        using var others = await worker.GetAsync($"/api/projects/{s.Scene.ProjectId}/activity?actor={s.Scene.Owner.Id}");
        var all = (await owner.GetFromJsonAsync<Page<ActivityEvent>>($"/api/projects/{s.Scene.ProjectId}/activity?kind=annotation.", IdentityApp.Json))!;
        using var badTime = await owner.GetAsync($"/api/projects/{s.Scene.ProjectId}/activity?from=yesterday");

        // Assert
        Assert.Equal(annotator.Id, Assert.Single(own.Items).Actor);
        Assert.Equal(HttpStatusCode.Forbidden, others.StatusCode);
        Assert.Equal(2, all.Items.Count);
        Assert.Equal(HttpStatusCode.BadRequest, badTime.StatusCode);
    }

    [Fact]
    public async Task Write_AnnotatorOnlyOnAssignedItem_Unassigned403ManagerAnywhere()
    {
        // Arrange
        var s = await SetUpAsync("assigned-only");
        var annotator = await _app.CreateUserAsync("assigned-annotator");
        await _app.AddMemberAsync(s.Scene, annotator, ProjectRole.Annotator);
        using var owner = _app.Client(s.Scene.Owner.Key);
        using var worker = _app.Client(annotator.Key);
        var ownersAnnotation = await CreateOneAsync(owner, s);

        // Act
        using var before = await worker.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(1, 1, 2, 2) } }, IdentityApp.Json);
        using var editBefore = await PutAsync(worker, $"{s.Annotations}/{ownersAnnotation}", Box(2, 2, 3, 3), null);
        using var deleteBefore = await worker.DeleteAsync($"{s.Annotations}/{ownersAnnotation}");
        await AssignAsync(owner, s, annotator);
        using var after = await worker.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(1, 1, 2, 2) } }, IdentityApp.Json);
        using var editAfter = await PutAsync(worker, $"{s.Annotations}/{ownersAnnotation}", Box(2, 2, 3, 3), null);
        var problem = await before.Content.ReadFromJsonAsync<JsonElement>();

        // Assert
        Assert.Equal((HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden), (before.StatusCode, editBefore.StatusCode, deleteBefore.StatusCode));
        Assert.Contains("not assigned to you", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.OK), (after.StatusCode, editAfter.StatusCode));
    }

    [Fact]
    public async Task SetRecipe_SwitchAndUnknown_UsedByFollowsAndUnknownIs400()
    {
        // Arrange
        var s = await SetUpAsync("switch");
        using var owner = _app.Client(s.Scene.Owner.Key);
        var second = await CreateRecipeAsync(owner, s.Scene.ProjectId);

        // Act
        using var switched = await owner.PutAsJsonAsync($"{s.Scene.Dataset}/recipe", new { recipeId = second }, IdentityApp.Json);
        using var deleteOld = await owner.DeleteAsync($"/api/projects/{s.Scene.ProjectId}/recipes/{s.RecipeId}");
        using var deleteCurrent = await owner.DeleteAsync($"/api/projects/{s.Scene.ProjectId}/recipes/{second}");
        using var unknown = await owner.PutAsJsonAsync($"{s.Scene.Dataset}/recipe", new { recipeId = "r_0000000000" }, IdentityApp.Json);
        var dataset = (await owner.GetFromJsonAsync<Dataset>(s.Scene.Dataset, IdentityApp.Json))!;

        // Assert
        Assert.Equal(HttpStatusCode.OK, switched.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deleteOld.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, deleteCurrent.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(second, dataset.RecipeId);
    }

    private AnnotationStore Store => _app.Factory.Services.GetRequiredService<AnnotationStore>();

    private async Task<Setup> SetUpAsync(string name, bool attachRecipe = true)
    {
        var scene = await _app.SceneAsync(name);
        using var client = _app.Client(scene.Owner.Key);
        using var upload = await ItemTests.PutAsync(client, scene, $"/{name}.png", TestImages.Png(100, 50), null);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var item = (await upload.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;
        var recipeId = await CreateRecipeAsync(client, scene.ProjectId);
        if (attachRecipe)
        {
            using var attached = await client.PutAsJsonAsync($"{scene.Dataset}/recipe", new { recipeId }, IdentityApp.Json);
            Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        }

        return new Setup(scene, item.Id, recipeId);
    }

    private static async Task<string> CreateRecipeAsync(HttpClient client, string projectId)
    {
        using var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/recipes", new
        {
            name = "traffic",
            classes = new object[]
            {
                new { name = "Car", color = "#ff0000", shape = "box", attributes = new[] { new { key = "occluded", kind = "boolean", required = true } } },
                new { name = "Road", color = "#00ff00", shape = "polygon" },
                new { name = "Daytime", color = "#0000ff", shape = "classification" },
            },
        }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>A task over the setup's item, assigned to <paramref name="user"/>; returns once it is open.</summary>
    private static async Task AssignAsync(HttpClient owner, Setup s, TestUser user)
    {
        using var created = await owner.PostAsJsonAsync($"/api/projects/{s.Scene.ProjectId}/tasks", new { name = "assign", datasetId = s.Scene.DatasetId, itemIds = new[] { s.ItemId }, assignees = new[] { new { userId = user.Id } } }, IdentityApp.Json);
        var task = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("task").GetProperty("id").GetString();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await owner.GetFromJsonAsync<JsonElement>($"/api/projects/{s.Scene.ProjectId}/tasks/{task}")).GetProperty("task").GetProperty("state").GetString() == "creating")
        {
            Assert.True(DateTime.UtcNow < deadline, "the task was not split within 60 s");
            await Task.Delay(50);
        }
    }

    private static async Task<string> CreateOneAsync(HttpClient client, Setup s)
    {
        using var response = await client.PostAsJsonAsync(s.Annotations, new { annotations = new[] { Box(1, 1, 2, 2) } }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<CreatedAnnotations>(IdentityApp.Json))!.Annotations[0].Id;
    }

    private static Task<HttpResponseMessage> PutAsync(HttpClient client, string url, object body, string? etag)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = JsonContent.Create(body, options: IdentityApp.Json) };
        if (etag is not null)
        {
            request.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        }

        return client.SendAsync(request);
    }

    /// <summary>Stands in for the tasks feature, which records an item's status per task on the item.</summary>
    private async Task SetItemStatusAsync(Setup s, JsonObject statuses)
    {
        var items = _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(DatasetContainers.Items);
        await items.PatchAsync(DatasetContainers.ItemPartition(s.Scene.DatasetId), s.ItemId, [PatchOperation.Set("status", statuses)]);
    }

    private sealed record Setup(Scene Scene, string ItemId, string RecipeId)
    {
        public string Item => $"{Scene.Items}/{ItemId}";

        public string Annotations => $"{Item}/annotations";
    }
}
