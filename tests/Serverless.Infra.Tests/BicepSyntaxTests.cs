using System.Text.Json;
using System.Text.RegularExpressions;

namespace Serverless.Infra.Tests;

/// <summary>Sanity checks a Bicep compiler would do (none is installed here), plus the azd template conventions.</summary>
public sealed partial class BicepSyntaxTests
{
    public static TheoryData<string> BicepFileNames()
    {
        var data = new TheoryData<string>();
        foreach (var file in InfraFiles.BicepFiles)
        {
            data.Add(Path.GetRelativePath(InfraFiles.InfraDirectory, file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BicepFileNames))]
    public void BicepFile_Brackets_Balanced(string file)
    {
        // Act
        var error = BicepText.FindBracketError(InfraFiles.Read(file));

        // Assert
        Assert.True(error is null, $"{file}: {error}");
    }

    [Fact]
    public void FindBracketError_Unbalanced_Reported()
    {
        // Act
        var error = BicepText.FindBracketError("var x = {\n  a: '${replace(p, '.', '/')}'\n  b: [ 1, 2 }\n");

        // Assert: the checker itself can fail, so the theory above means something.
        Assert.NotNull(error);
    }

    [Theory]
    [MemberData(nameof(BicepFileNames))]
    public void BicepFile_EveryModulePath_Exists(string file)
    {
        // Arrange
        var directory = Path.GetDirectoryName(Path.Combine(InfraFiles.InfraDirectory, file))!;

        // Act
        var missing = ModuleLine().Matches(InfraFiles.Read(file))
            .Select(m => m.Groups["path"].Value)
            .Where(p => !File.Exists(Path.Combine(directory, p)))
            .ToArray();

        // Assert
        Assert.Empty(missing);
    }

    [Fact]
    public void MainBicep_ModuleParams_MatchTheModulesDeclaredParams()
    {
        // Arrange
        var main = InfraFiles.MainBicep;
        var problems = new List<string>();

        foreach (Match module in ModuleBlock().Matches(main))
        {
            var path = module.Groups["path"].Value;
            var declared = ParamLine().Matches(InfraFiles.Read(path.Split('/')))
                .ToDictionary(m => m.Groups["name"].Value, m => m.Groups["default"].Success, StringComparer.Ordinal);

            // Act
            var passed = ModuleParamLine().Matches(module.Groups["params"].Value).Select(m => m.Groups["name"].Value).ToArray();
            problems.AddRange(passed.Where(p => !declared.ContainsKey(p)).Select(p => $"{path}: no param '{p}'"));
            problems.AddRange(declared.Where(d => !d.Value && !passed.Contains(d.Key)).Select(d => $"{path}: required param '{d.Key}' not passed"));
        }

        // Assert
        Assert.Equal(7, ModuleBlock().Count(main));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void MainBicep_Modules_OnePerConcern()
    {
        // Act
        var modules = ModuleLine().Matches(InfraFiles.MainBicep).Select(m => m.Groups["path"].Value).ToHashSet(StringComparer.Ordinal);

        // Assert
        Assert.Equal(
            ["app/cosmos.bicep", "app/eventgrid.bicep", "app/function.bicep", "app/identity.bicep", "app/monitoring.bicep", "app/rbac.bicep", "app/storage.bicep"],
            modules.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void MainParameters_EveryParameter_DeclaredInMainAndEveryRequiredParamSupplied()
    {
        // Arrange
        using var parameters = JsonDocument.Parse(InfraFiles.Read("main.parameters.json"));
        var supplied = parameters.RootElement.GetProperty("parameters").EnumerateObject().Select(p => p.Name).ToArray();
        var declared = ParamLine().Matches(InfraFiles.MainBicep).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["default"].Success, StringComparer.Ordinal);

        // Act
        var unknown = supplied.Where(p => !declared.ContainsKey(p)).ToArray();
        var unsupplied = declared.Where(d => !d.Value && !supplied.Contains(d.Key)).Select(d => d.Key).ToArray();

        // Assert
        Assert.Empty(unknown);
        Assert.Empty(unsupplied);
        Assert.Contains("environmentName", supplied);
        Assert.Contains("location", supplied);
        Assert.Contains("principalId", supplied);
    }

    [Fact]
    public void MainBicep_Scope_SubscriptionWithResourceTokenAndEnvTag()
    {
        // Act
        var main = InfraFiles.MainBicep;

        // Assert
        Assert.Contains("targetScope = 'subscription'", main, StringComparison.Ordinal);
        Assert.Contains("toLower(uniqueString(subscription().id, environmentName, location))", main, StringComparison.Ordinal);
        Assert.Contains("'azd-env-name': environmentName", main, StringComparison.Ordinal);
    }

    [Fact]
    public void MainBicep_Outputs_UpperSnakeCase()
    {
        // Act
        var outputs = OutputLine().Matches(InfraFiles.MainBicep).Select(m => m.Groups["name"].Value).ToArray();

        // Assert
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.Matches("^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$", o));
    }

    [Fact]
    public void Abbreviations_EveryUse_Defined()
    {
        // Arrange
        using var abbreviations = JsonDocument.Parse(InfraFiles.Read("abbreviations.json"));
        var defined = abbreviations.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        // Act
        var used = AbbreviationUse().Matches(InfraFiles.MainBicep).Select(m => m.Groups["key"].Value).Distinct().ToArray();

        // Assert
        Assert.NotEmpty(used);
        Assert.All(used, u => Assert.Contains(u, defined));
    }

    [Fact]
    public void RoleAssignments_Each_NamedByGuidOfScopePrincipalRoleWithRoleComment()
    {
        // Arrange
        var lines = InfraFiles.RbacBicep.Split('\n');

        // Act
        var assignments = lines
            .Select((line, index) => (line, index))
            .Where(x => RoleAssignmentResource().IsMatch(x.line))
            .ToArray();

        // Assert
        Assert.True(assignments.Length >= 5, "Expected the app's storage, queue, table, monitoring and Cosmos assignments.");
        foreach (var (line, index) in assignments)
        {
            Assert.StartsWith("//", lines[index - 1].TrimStart(), StringComparison.Ordinal);
            Assert.Matches(@"^\s*name: guid\([^,]+\.id, \w+PrincipalId, \w+\)\s*$", lines[index + (line.Contains("sqlRoleAssignments", StringComparison.Ordinal) ? 2 : 1)]);
        }

        // Every role id variable is named in a comment right above it.
        foreach (var (line, index) in lines.Select((l, i) => (l, i)).Where(x => RoleIdVar().IsMatch(x.l)))
        {
            Assert.StartsWith("//", lines[index - 1].TrimStart(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FunctionApp_Identity_UserAssignedOnly()
    {
        // Act
        var function = InfraFiles.FunctionBicep;

        // Assert
        Assert.Contains("type: 'UserAssigned'", function, StringComparison.Ordinal);
        Assert.Contains("type: 'UserAssignedIdentity'", function, StringComparison.Ordinal);
        Assert.Contains("'azd-service-name': serviceName", function, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^module\s+\w+\s+'(?<path>[^']+)'", RegexOptions.Multiline)]
    private static partial Regex ModuleLine();

    [GeneratedRegex(@"^module\s+\w+\s+'(?<path>[^']+)' = \{\s*\n(.*\n)*?  params: \{\s*\n(?<params>(.*\n)*?)  \}\s*\n\}", RegexOptions.Multiline)]
    private static partial Regex ModuleBlock();

    [GeneratedRegex(@"^    (?<name>\w+):", RegexOptions.Multiline)]
    private static partial Regex ModuleParamLine();

    [GeneratedRegex(@"^param\s+(?<name>\w+)\s+\w+(?<default>\s*=.*)?$", RegexOptions.Multiline)]
    private static partial Regex ParamLine();

    [GeneratedRegex(@"^output\s+(?<name>\w+)\s", RegexOptions.Multiline)]
    private static partial Regex OutputLine();

    [GeneratedRegex(@"abbrs\.(?<key>\w+)")]
    private static partial Regex AbbreviationUse();

    [GeneratedRegex(@"^resource \w+ '(Microsoft\.Authorization/roleAssignments|Microsoft\.DocumentDB/databaseAccounts/sqlRoleAssignments)@")]
    private static partial Regex RoleAssignmentResource();

    [GeneratedRegex(@"^var \w+ = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'")]
    private static partial Regex RoleIdVar();
}
