using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serverless.Functions.Hosting;
using Serverless.Storage.Azure;

namespace Serverless.Infra.Tests;

/// <summary>The app, configured with exactly the settings Bicep gives it, selects identity-based access.</summary>
public sealed class AzureSettingsStartupTests
{
    private const string IdentityClientId = "6f1c2a3b-0000-4000-8000-000000000001";

    /// <summary>Stand-ins for the Bicep expressions (module outputs and params) the settings refer to.</summary>
    private static readonly Dictionary<string, string> ExpressionValues = new(StringComparer.Ordinal)
    {
        ["identityClientId"] = IdentityClientId,
        ["cosmosEndpoint"] = "https://cosmos-abc.documents.azure.com:443/",
        ["cosmosDatabaseName"] = "annotate",
        ["blobEndpoint"] = "https://stabc.blob.core.windows.net/",
        ["queueEndpoint"] = "https://stabc.queue.core.windows.net/",
        ["tableEndpoint"] = "https://stabc.table.core.windows.net/",
        ["storageAccountName"] = "stabc",
        ["applicationInsightsConnectionString"] = "InstrumentationKey=00000000-0000-0000-0000-000000000000",
        ["organizationName"] = "Default organization",
        ["adminName"] = "Administrator",
    };

    [Fact]
    public void App_StartedWithBicepSettings_StorageByIdentityAndValidCosmosSettings()
    {
        // Arrange
        var settings = BicepText.AppSettings(InfraFiles.FunctionBicep);
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            foreach (var (key, raw) in settings)
            {
                builder.UseSetting(key.Replace("__", ":", StringComparison.Ordinal), Evaluate(raw));
            }

            builder.UseSetting(FunctionsHostingMode.PortVariable, "7199");
            builder.ConfigureTestServices(services => services.RemoveAll<IHostedService>());
        });

        // Act
        var storage = factory.Services.GetRequiredService<AzureStorageOptions>();
        var documents = factory.Services.GetRequiredService<IOptions<DocumentStoreOptions>>().Value;

        // Assert
        Assert.False(storage.UsesSharedKey);
        Assert.Equal(IdentityClientId, storage.ManagedIdentityClientId);
        Assert.Equal("stabc.blob.core.windows.net", storage.BlobEndpoint.Host);
        Assert.True(documents.IsCosmos);
        Assert.Empty(documents.Validate());
        Assert.True(string.IsNullOrEmpty(documents.CosmosKey));
        Assert.Equal(IdentityClientId, documents.CosmosManagedIdentityClientId);
    }

    /// <summary>A quoted literal, an interpolated string of known names, or a known name.</summary>
    private static string Evaluate(string raw)
    {
        if (raw.StartsWith('\'') && raw.EndsWith('\''))
        {
            var text = raw[1..^1];
            foreach (var (name, value) in ExpressionValues)
            {
                text = text.Replace("${" + name + "}", value, StringComparison.Ordinal);
            }

            return text;
        }

        return ExpressionValues.TryGetValue(raw, out var known)
            ? known
            : throw new InvalidOperationException($"No stand-in value for the Bicep expression '{raw}'; add one to {nameof(ExpressionValues)}.");
    }
}
