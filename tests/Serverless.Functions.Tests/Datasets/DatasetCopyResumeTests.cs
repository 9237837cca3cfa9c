using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Serverless.Durable;
using Serverless.Functions.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Datasets;

/// <summary>
/// A clone survives its host: the host is stopped mid-copy and a new one on the same SQLite file and Azurite
/// finishes it, with every item exactly once.
/// </summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class DatasetCopyResumeTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const int Items = 1000;

    private readonly DurableApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Clone_HostStoppedMidCopy_NewHostFinishesWithNoDuplicates()
    {
        // Arrange
        var owner = await _app.CreateUserAsync("resumer");
        var projectId = await _app.CreateProjectAsync(owner);
        var sourceId = await _app.CreateDatasetAsync(owner, projectId, "source");
        await _app.BulkAsync(owner, projectId, sourceId, DatasetCopyTests.World.Entries(Items));
        string instanceId;
        using (var client = _app.Client(owner.Key))
        using (var response = await client.PostAsJsonAsync($"/api/projects/{projectId}/datasets/{sourceId}/clone", new { name = "survivor" }))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            instanceId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }

        // Wait until some pages are recorded, then stop the host while the copy is under way.
        var atStop = await WaitForProgressAsync(instanceId, minimum: 200);

        // Act
        await _app.RestartAsync();
        var state = await _app.WaitAsync(instanceId, seconds: 180);
        var result = state.ReadOutputAs<DatasetCopyProgress>()!;
        var copied = await _app.AllItemsAsync(owner, projectId, result.TargetDatasetId);
        using var after = _app.Client(owner.Key);
        var target = await after.GetFromJsonAsync<Dataset>($"/api/projects/{projectId}/datasets/{result.TargetDatasetId}", IdentityApp.Json);

        // Assert
        Assert.InRange(atStop.Copied, 200, Items - 1);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, state.Status);
        Assert.Equal(Items, result.Copied);
        Assert.Equal(Items, result.Total);
        Assert.Equal(Items, copied.Count);
        Assert.Equal(Items, copied.Select(i => i.GetProperty("path").GetString()).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Items, copied.Select(i => i.GetProperty("id").GetString()).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Items, target!.ItemCount);
        Assert.Equal(DatasetStates.Ready, target.State);
    }

    private async Task<DatasetCopyProgress> WaitForProgressAsync(string instanceId, int minimum)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (true)
        {
            var state = await _app.Durable.GetInstanceAsync(instanceId, cancellationToken: deadline.Token);
            var progress = state?.State.ReadCustomStatusAs<DatasetCopyProgress>();
            if (progress is { Copied: var copied } && copied >= minimum)
            {
                return progress;
            }

            Assert.False(state?.State.IsTerminal, "the clone ended before the host could be stopped");
            await Task.Delay(10, deadline.Token);
        }
    }
}
