using Serverless.Functions.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Identity;

/// <summary>The README's permission table is rendered from <see cref="Permissions.Rules"/> and must match it.</summary>
public sealed class PermissionsReadmeTests
{
    private const string Begin = "<!-- permissions:begin (generated from Identity/Permissions.cs by PermissionsReadmeTests; set UPDATE_README=1 to rewrite) -->";
    private const string End = "<!-- permissions:end -->";

    [Fact]
    public void Readme_PermissionTable_MatchesTheMatrix()
    {
        // Arrange
        var path = Path.Combine(RepoPaths.Root, "functions", "README.md");
        var readme = File.ReadAllText(path).ReplaceLineEndings("\n");
        var expected = Begin + "\n" + Permissions.RenderMarkdown().ReplaceLineEndings("\n") + End;
        var start = readme.IndexOf(Begin, StringComparison.Ordinal);
        var end = readme.IndexOf(End, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"functions/README.md needs the markers {Begin} … {End}.");

        // Act
        var actual = readme[start..(end + End.Length)];
        if (actual != expected && Environment.GetEnvironmentVariable("UPDATE_README") == "1")
        {
            File.WriteAllText(path, readme[..start] + expected + readme[(end + End.Length)..]);
            actual = expected;
        }

        // Assert
        Assert.True(expected == actual, "functions/README.md's permission table is out of date with Identity/Permissions.cs; run the tests with UPDATE_README=1 to rewrite it.");
    }

    [Fact]
    public void Rules_EveryPermissionHasExactlyOneRule_WithRolesForItsScope()
    {
        // Arrange
        var permissions = Enum.GetValues<Permission>();

        // Act
        var rules = permissions.Select(Permissions.For).ToList();

        // Assert
        Assert.Equal(permissions.Length, Permissions.Rules.Count);
        Assert.All(rules, r => Assert.True(r.Scope switch
        {
            PermissionScope.Project => r.ProjectRoles.Count > 0 && r.OrgRoles.Count == 0,
            PermissionScope.Organization => r.OrgRoles.Count > 0 && r.ProjectRoles.Count == 0,
            _ => r.ProjectRoles.Count == 0 && r.OrgRoles.Count == 0,
        }, $"{r.Permission} lists roles that do not fit its scope {r.Scope}"));
        Assert.All(rules.Where(r => r.Scope == PermissionScope.Project), r => Assert.Contains(ProjectRole.Owner, r.ProjectRoles));
    }
}
