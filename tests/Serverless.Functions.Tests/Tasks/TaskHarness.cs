using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tasks;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>A project with a dataset of JSON items and two annotators (A, B).</summary>
public sealed record World(Scene Scene, TestUser A, TestUser B);

/// <summary>Task scenarios through HTTP, shared by the task test classes.</summary>
public sealed class TaskHarness(ItemsApp app)
{
    public static string Tasks(World w) => $"/api/projects/{w.Scene.ProjectId}/tasks";

    public async Task<World> WorldAsync(string name, int items)
    {
        var scene = await app.SceneAsync(name);
        var a = await app.CreateUserAsync($"{name}-a");
        var b = await app.CreateUserAsync($"{name}-b");
        await app.AddMemberAsync(scene, a, ProjectRole.Annotator);
        await app.AddMemberAsync(scene, b, ProjectRole.Annotator);
        using var owner = app.Client(scene.Owner.Key);
        var entries = Enumerable.Range(0, items).Select(i => new { path = $"/{(i % 2 == 0 ? "even" : "odd")}/{i:D4}.json", content = new { i } }).ToList();
        using var bulk = await owner.PostAsJsonAsync($"{scene.Items}/bulk", new { items = entries }, IdentityApp.Json);
        Assert.Equal(HttpStatusCode.OK, bulk.StatusCode);
        return new World(scene, a, b);
    }

    public async Task<(string TaskId, HttpStatusCode Status)> CreateTaskAsync(World w, object body)
    {
        using var owner = app.Client(w.Scene.Owner.Key);
        using var response = await owner.PostAsJsonAsync(Tasks(w), body, IdentityApp.Json);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, json.GetRawText());
        return (json.GetProperty("task").GetProperty("id").GetString()!, response.StatusCode);
    }

    public async Task<TaskWithProgress> WaitOpenAsync(World w, string taskId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var task = await GetTaskAsync(w, taskId);
            if (task.Task.State != "creating")
            {
                return task;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Task {taskId} is still being split after 60 s: {task.Progress.Total} items so far.");
            await Task.Delay(100);
        }
    }

    public async Task<TaskWithProgress> GetTaskAsync(World w, string taskId)
    {
        using var owner = app.Client(w.Scene.Owner.Key);
        return (await owner.GetFromJsonAsync<TaskWithProgress>($"{Tasks(w)}/{taskId}", IdentityApp.Json))!;
    }

    public async Task<List<string>> QueryItemsAsync(World w, object query)
    {
        using var owner = app.Client(w.Scene.Owner.Key);
        using var response = await owner.PostAsJsonAsync($"{w.Scene.Items}/query", query, IdentityApp.Json);
        var page = (await response.Content.ReadFromJsonAsync<Page<Item>>(IdentityApp.Json))!;
        return [.. page.Items.Select(i => i.Id)];
    }

    public static Task<HttpResponseMessage> SetAsync(HttpClient client, World w, string task, string item, string? status) =>
        client.PutAsJsonAsync($"{Tasks(w)}/{task}/items/{item}/status", new { status }, IdentityApp.Json);

}
