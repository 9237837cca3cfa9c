using System.Text.Json;
using System.Text.RegularExpressions;
using Serverless.Testing;

namespace Serverless.Infra.Tests;

/// <summary>azure.yaml, the local settings sample and the README agree with the code and the Bicep.</summary>
public sealed partial class AzdAndDocsTests
{
    [Fact]
    public void AzureYaml_Service_MatchesTheTaggedFunctionApp()
    {
        // Act
        var service = Regex.Match(InfraFiles.AzureYaml, @"^services:\s*\n\s+(?<name>[\w-]+):", RegexOptions.Multiline).Groups["name"].Value;
        var tagged = BicepText.StringVar(InfraFiles.FunctionBicep, "serviceName");

        // Assert
        Assert.Equal("functions", service);
        Assert.Equal(service, tagged);
        Assert.Matches(@"(?m)^\s+host: function\s*$", InfraFiles.AzureYaml);
    }

    [Fact]
    public void AzureYaml_PackageHook_RunsThePublishScriptIntoDist()
    {
        // Act
        var dist = Regex.Match(InfraFiles.AzureYaml, @"^\s+dist: (?<dist>\S+)", RegexOptions.Multiline).Groups["dist"].Value;
        var run = Regex.Match(InfraFiles.AzureYaml, @"prepackage:\s*\n(\s+\S.*\n)*?\s+run: (?<run>.+)", RegexOptions.Multiline).Groups["run"].Value.Trim();

        // Assert
        Assert.Equal("artifacts/functionapp", dist);
        Assert.Equal("./scripts/publish.sh ./artifacts/functionapp", run);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "scripts", "publish.sh")));
        Assert.Contains("artifacts/functionapp", File.ReadAllText(Path.Combine(RepoPaths.Root, "scripts", "publish.sh")), StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AzureYaml_EveryHookScript_ExistsAndIsExecutable()
    {
        // Act
        var scripts = Regex.Matches(InfraFiles.AzureYaml, @"run: (?<script>\./\S+\.sh)").Select(m => m.Groups["script"].Value).ToArray();

        // Assert
        Assert.NotEmpty(scripts);
        foreach (var script in scripts)
        {
            var path = Path.Combine(RepoPaths.Root, script);
            Assert.True(File.Exists(path), $"{script} does not exist.");
            Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute), $"{script} is not executable.");
        }
    }

    [Fact]
    public void BlobSubscriptionHook_Parameter_WiredThroughParametersFile()
    {
        // Arrange
        using var parameters = JsonDocument.Parse(InfraFiles.Read("main.parameters.json"));

        // Act
        var value = parameters.RootElement.GetProperty("parameters").GetProperty("createBlobSubscription").GetProperty("value").GetString();
        var hook = InfraFiles.Read("scripts", "enable-blob-subscription.sh");

        // Assert
        Assert.Equal("${CREATE_BLOB_SUBSCRIPTION=false}", value);
        Assert.Contains("azd env set CREATE_BLOB_SUBSCRIPTION true", hook, StringComparison.Ordinal);
    }

    [Fact]
    public void LocalSettingsSample_EveryKeyTheCodeReads_ListedWithPlainValue()
    {
        // Arrange
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");

        // Act
        var missing = CodeInventory.SettingKeys.Select(k => k.SampleName).Where(k => !values.TryGetProperty(k, out _)).ToArray();

        // Assert
        Assert.True(missing.Length == 0, $"Add to local.settings.sample.json: {string.Join(", ", missing)}");
        Assert.All(values.EnumerateObject(), v => Assert.Equal(JsonValueKind.String, v.Value.ValueKind));
    }

    [Fact]
    public void Readme_EverySetting_Documented()
    {
        // Arrange: the app's keys and the host-level ones Bicep sets.
        var readme = InfraFiles.Readme;
        var keys = CodeInventory.SettingKeys.Select(k => k.EnvironmentName)
            .Concat(BicepText.AppSettings(InfraFiles.FunctionBicep).Keys)
            .Distinct(StringComparer.Ordinal);

        // Act
        var undocumented = keys.Where(k => !readme.Contains($"`{k}`", StringComparison.Ordinal)).ToArray();

        // Assert
        Assert.True(undocumented.Length == 0, $"Document in infra/README.md: {string.Join(", ", undocumented)}");
    }

    [Fact]
    public void Readme_DeploySection_StatesWhatWasNotVerified()
    {
        // Act
        var readme = InfraFiles.Readme;

        // Assert
        Assert.Contains("## Deploy to Azure", readme, StringComparison.Ordinal);
        Assert.Contains("azd up", readme, StringComparison.Ordinal);
        Assert.Contains("azd down", readme, StringComparison.Ordinal);
        Assert.Contains("func start", readme, StringComparison.Ordinal);
        Assert.Contains("not compiled", readme, StringComparison.Ordinal);
    }
}
