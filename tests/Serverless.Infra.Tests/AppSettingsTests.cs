using System.Text.Json;
using Serverless.Testing;

namespace Serverless.Infra.Tests;

/// <summary>The function app's settings in Bicep cover every key the code reads, identity-only.</summary>
public sealed class AppSettingsTests
{
    /// <summary>
    /// Keys the code reads that Azure deliberately leaves unset, with the reason. A key missing from
    /// Bicep must be added there or here; an entry here that the code no longer reads fails too.
    /// </summary>
    private static readonly Dictionary<string, string> NotSetInAzure = new(StringComparer.Ordinal)
    {
        ["DocumentStore__SqlitePath"] = "Azure uses Cosmos DB (DocumentStore__Provider=Cosmos).",
        ["DocumentStore__CosmosKey"] = "Cosmos DB has local (key) auth disabled; the app uses its managed identity.",
        ["Storage__ConnectionString"] = "Shared Key is disabled on the storage account; endpoints + managed identity.",
        ["Bootstrap__AdminApiKey"] = "A secret: generated and logged once on first start, or set by the admin from Key Vault (infra/README.md).",
    };

    /// <summary>Whole sections used only when the executable runs standalone.</summary>
    private static readonly Dictionary<string, string> SectionsNotSetInAzure = new(StringComparer.Ordinal)
    {
        ["LocalHost"] = "Standalone mode only: in Azure the Functions host delivers queue and Event Grid triggers.",
    };

    [Fact]
    public void AppSettings_EveryKeyTheCodeReads_SetInBicepOrExcludedWithReason()
    {
        // Arrange
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);

        // Act
        var missing = CodeInventory.SettingKeys
            .Where(k => !SectionsNotSetInAzure.ContainsKey(k.Section) && !NotSetInAzure.ContainsKey(k.EnvironmentName))
            .Select(k => k.EnvironmentName)
            .Where(k => !settings.ContainsKey(k))
            .ToArray();

        // Assert
        Assert.True(CodeInventory.SettingKeys.Count >= 10, $"Only {CodeInventory.SettingKeys.Count} keys found by reflection: the options discovery is broken.");
        Assert.True(missing.Length == 0, $"Set these in infra/app/function.bicep appsettings (or add them to NotSetInAzure with a reason): {string.Join(", ", missing)}");
    }

    [Fact]
    public void Exclusions_EveryEntry_StillReadByTheCode()
    {
        // Arrange
        var keys = CodeInventory.SettingKeys.Select(k => k.EnvironmentName).ToHashSet(StringComparer.Ordinal);
        var sections = CodeInventory.OptionsTypes.Select(o => o.Section).ToHashSet(StringComparer.Ordinal);

        // Act
        var stale = NotSetInAzure.Keys.Where(k => !keys.Contains(k))
            .Concat(SectionsNotSetInAzure.Keys.Where(s => !sections.Contains(s)))
            .ToArray();

        // Assert
        Assert.Empty(stale);
    }

    /// <summary>Settings the .NET runtime reads from the environment (see RuntimeSettings.props), listed so a typo still fails.</summary>
    private static readonly string[] RuntimeKeys = ["DOTNET_GCgen0size"];

    [Fact]
    public void AppSettings_Bicep_NoKeyTheAppDoesNotKnow()
    {
        // Arrange: host-level settings the Functions host (not the app) reads.
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);
        var appKeys = CodeInventory.SettingKeys.Select(k => k.EnvironmentName).ToHashSet(StringComparer.Ordinal);
        var connections = FunctionJsonConnections().Append("AzureWebJobsStorage").ToArray();

        // Act
        var unknown = settings.Keys
            .Where(k => !appKeys.Contains(k)
                && !RuntimeKeys.Contains(k)
                && !k.StartsWith("APPLICATIONINSIGHTS_", StringComparison.Ordinal)
                && !connections.Any(c => k.StartsWith(c + "__", StringComparison.Ordinal)))
            .ToArray();

        // Assert: a typo ("DocumentStore__CosmosEndPoint") would be silently ignored by the app.
        Assert.Empty(unknown);
    }

    [Fact]
    public void AppSettings_DocumentStore_CosmosThroughIdentity()
    {
        // Act
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);

        // Assert
        Assert.Equal("'Cosmos'", settings["DocumentStore__Provider"]);
        Assert.Equal("cosmosEndpoint", settings["DocumentStore__CosmosEndpoint"]);
        Assert.Equal("identityClientId", settings["DocumentStore__CosmosManagedIdentityClientId"]);
        Assert.Equal("identityClientId", settings["Storage__ManagedIdentityClientId"]);
        Assert.DoesNotContain("listKeys", InfraFiles.FunctionBicep, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey=", InfraFiles.FunctionBicep, StringComparison.Ordinal);
    }

    [Fact]
    public void AppSettings_EveryTriggerConnection_IdentityBased()
    {
        // Arrange: every "connection" a function.json names, plus the host's own AzureWebJobsStorage.
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);
        var connections = FunctionJsonConnections().Append("AzureWebJobsStorage").Distinct(StringComparer.Ordinal);

        foreach (var connection in connections)
        {
            // Assert
            Assert.Equal("'managedidentity'", settings.GetValueOrDefault($"{connection}__credential"));
            Assert.Equal("identityClientId", settings.GetValueOrDefault($"{connection}__clientId"));
            Assert.True(settings.ContainsKey($"{connection}__blobServiceUri"), $"{connection}__blobServiceUri is not set.");
            Assert.True(settings.ContainsKey($"{connection}__queueServiceUri"), $"{connection}__queueServiceUri is not set.");
            Assert.False(settings.ContainsKey(connection), $"{connection} must not be a connection string.");
        }
    }

    [Fact]
    public void FunctionApp_Runtime_CustomHandlerLikeTheLocalSample()
    {
        // Arrange: Flex Consumption takes the worker runtime from functionAppConfig and rejects the
        // FUNCTIONS_WORKER_RUNTIME app setting; the local sample sets it for `func start`.
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "local.settings.sample.json")));
        var localRuntime = sample.RootElement.GetProperty("Values").GetProperty("FUNCTIONS_WORKER_RUNTIME").GetString();

        // Act
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);

        // Assert
        Assert.Equal("custom", localRuntime);
        Assert.Contains($"name: '{localRuntime}'", InfraFiles.FunctionBicep, StringComparison.Ordinal);
        Assert.Contains("tier: 'FlexConsumption'", InfraFiles.FunctionBicep, StringComparison.Ordinal);
        Assert.False(settings.ContainsKey("FUNCTIONS_WORKER_RUNTIME"));
        Assert.True(settings.ContainsKey("APPLICATIONINSIGHTS_CONNECTION_STRING"));
    }

    private static string[] FunctionJsonConnections() => CodeInventory.FunctionJsons().Values
        .SelectMany(f => f.GetProperty("bindings").EnumerateArray())
        .Where(b => b.TryGetProperty("connection", out _))
        .Select(b => b.GetProperty("connection").GetString()!)
        .Distinct(StringComparer.Ordinal)
        .ToArray();
}
