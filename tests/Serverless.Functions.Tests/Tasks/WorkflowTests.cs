using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable;
using Serverless.Functions.Tests.Datasets;
using Serverless.Testing;
using Xunit.Abstractions;

namespace Serverless.Functions.Tests.Tasks;

/// <summary>The whole labeling loop (<see cref="WorkflowScenario"/>) through HTTP on SQLite and Azurite.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class WorkflowTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public async Task AnnotateQaIssueCorrectApprove_EveryCountAndStatusRightAtEachStep()
    {
        var outcome = await WorkflowScenario.RunAsync(
            new ScenarioHost(_app.Client, _app.CreateUserAsync, () => _app.Factory.Services.GetRequiredService<DurableClient>(), _ => Task.CompletedTask), "flow");

        Assert.Equal(("completed", 4L, "COMPLETED=4"), (outcome.TaskState, outcome.TaskDone, outcome.TaskByStatus));
        Assert.Equal(("completed", "APPROVED=4"), (outcome.QaState, outcome.QaByStatus));
        Assert.Equal("A=2/2,B=2/2", outcome.Assignees);
    }
}

/// <summary>
/// The same loop with the host killed and restarted after every step that starts or signals an orchestration,
/// each time after a random delay (so the kill lands at a random point of the work under way): it ends exactly
/// as a run without restarts on the same kind of host.
/// </summary>
[Collection(AzuriteFixture.Collection)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the app through IAsyncLifetime.DisposeAsync.")]
public sealed class WorkflowRestartTests(AzuriteFixture azurite, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly DurableApp _app = new();

    public Task InitializeAsync()
    {
        _app.Start(azurite.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Workflow_HostKilledAtRandomPoints_SameOutcomeAsCleanRun()
    {
        // Arrange: the seed is printed so that a failing run can be replayed.
        var seed = Environment.GetEnvironmentVariable("WORKFLOW_RESTART_SEED") is { } fixedSeed ? int.Parse(fixedSeed, System.Globalization.CultureInfo.InvariantCulture) : Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var restarts = new List<string>();
        var clean = await WorkflowScenario.RunAsync(Host(_ => Task.CompletedTask), "clean");

        // Act
        var crashed = await WorkflowScenario.RunAsync(Host(async step =>
        {
            await Task.Delay(random.Next(0, 300));
            await _app.RestartAsync();
            restarts.Add(step);
        }), "crashed");

        // Assert
        Assert.Equal(5, restarts.Count);
        Assert.Equal(clean, crashed);
    }

    private ScenarioHost Host(Func<string, Task> checkpoint) => new(_app.Client, name => _app.CreateUserAsync(name), () => _app.Durable, checkpoint);
}
