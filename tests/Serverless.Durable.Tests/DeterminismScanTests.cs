using Serverless.Testing;

namespace Serverless.Durable.Tests;

/// <summary>Enforces the determinism rules of TaskOrchestrator over every orchestrator in the repository.</summary>
public sealed class DeterminismScanTests
{
    private static readonly string PlantedFile = Path.Combine(RepoPaths.Root, "tests", "Serverless.Durable.Tests", "TestData", "PlantedNonDeterministicOrchestrator.cs.txt");

    [Fact]
    public void Scan_AllOrchestratorsInRepository_UseNoForbiddenApis()
    {
        var orchestrators = new List<string>();
        var violations = new List<DeterminismViolation>();
        foreach (var file in DeterminismScanner.SourceFiles(RepoPaths.Root))
        {
            var source = File.ReadAllText(file);
            orchestrators.AddRange(DeterminismScanner.FindOrchestrators(source));
            violations.AddRange(DeterminismScanner.Scan(source, Path.GetRelativePath(RepoPaths.Root, file)));
        }

        // The scan must actually see orchestrators, or an empty pass would prove nothing.
        Assert.Contains(nameof(SequenceOrchestrator), orchestrators);
        Assert.Contains(nameof(FanOutOrchestrator), orchestrators);
        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations.Select(v => $"{v.File}:{v.Line} {v.Orchestrator} uses {v.Api}")));
    }

    [Fact]
    public void Scan_PlantedBadOrchestrator_ReportsEveryForbiddenApiOnItsLine()
    {
        var source = File.ReadAllText(PlantedFile);

        var violations = DeterminismScanner.Scan(source, "planted");

        Assert.All(violations, v => Assert.Equal("PlantedOrchestrator", v.Orchestrator));
        Assert.Equal(
            [
                (11, "DateTime.UtcNow/Now/Today"),
                (12, "Guid.NewGuid"),
                (13, "Task.Delay"),
                (14, "Task.Run"),
                (15, "Thread.Sleep"),
                (16, "File/Directory I/O"),
                (17, "DateTimeOffset.UtcNow/Now"),
            ],
            violations.Select(v => (v.Line, v.Api)).OrderBy(x => x.Line));
    }

    [Fact]
    public void Blank_CommentsAndStrings_KeepsLineStructureAndInterpolatedCode()
    {
        var blanked = DeterminismScanner.Blank("a // DateTime.Now\nb \"Guid.NewGuid()\" $\"x{Task.Delay(1)}y\" /* Thread.Sleep */ c");

        Assert.DoesNotContain("DateTime", blanked, StringComparison.Ordinal);
        Assert.DoesNotContain("Guid", blanked, StringComparison.Ordinal);
        Assert.DoesNotContain("Thread", blanked, StringComparison.Ordinal);
        Assert.Contains("Task.Delay(1)", blanked, StringComparison.Ordinal);
        Assert.Equal(2, blanked.Split('\n').Length);
    }
}
