using System.Text.RegularExpressions;
using Serverless.Functions.Functions;
using Serverless.Functions.Local;

namespace Serverless.Infra.Tests;

/// <summary>Every container and queue the code uses is declared in Bicep, as the code expects it.</summary>
public sealed class StorageAndCosmosTests
{
    [Fact]
    public void CosmosContainers_EveryContainerSpec_DeclaredWithAdapterPartitionKey()
    {
        // Arrange
        var declared = BicepText.CosmosContainers(InfraFiles.MainBicep).ToDictionary(c => c.Name, StringComparer.Ordinal);
        var partitionKey = CodeInventory.CosmosPartitionKeyPath;

        // Act
        var problems = new List<string>();
        foreach (var spec in CodeInventory.ContainerSpecs)
        {
            if (!declared.TryGetValue(spec.Name, out var container))
            {
                var paths = string.Join(", ", spec.IndexedPaths.Where(p => p != "id").Select(p => $"'{p}'"));
                problems.Add($"missing: add to cosmosContainers in infra/main.bicep: {{ name: '{spec.Name}', partitionKeyPath: '{partitionKey}', indexedPaths: [ {paths} ] }}");
                continue;
            }

            if (container.PartitionKeyPath != partitionKey)
            {
                problems.Add($"{spec.Name}: partition key '{container.PartitionKeyPath}', the adapter uses '{partitionKey}'");
            }

            // The adapter adds composite indexes for IndexedPaths except id; Cosmos rejects an
            // ORDER BY path, id without them, and the app's identity cannot change the policy.
            var expected = spec.IndexedPaths.Where(p => p != "id").ToArray();
            if (!expected.SequenceEqual(container.IndexedPaths.Where(p => p != "id")))
            {
                problems.Add($"{spec.Name}: indexedPaths [{string.Join(", ", container.IndexedPaths)}], the code declares [{string.Join(", ", expected)}]");
            }
        }

        // Assert
        Assert.NotEmpty(CodeInventory.ContainerSpecs);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void CosmosContainers_LiteralSpecNamesInSources_Declared()
    {
        // Arrange
        var declared = BicepText.CosmosContainers(InfraFiles.MainBicep).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);

        // Act
        var missing = CodeInventory.LiteralContainerSpecNames.Where(n => !declared.Contains(n)).ToArray();

        // Assert
        Assert.True(missing.Length == 0, $"Add to cosmosContainers in infra/main.bicep: {string.Join(", ", missing)}");
    }

    [Fact]
    public void CosmosContainers_Bicep_NoContainerTheCodeDoesNotDeclare()
    {
        // Arrange
        var specs = CodeInventory.ContainerSpecs.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

        // Act
        var extra = BicepText.CosmosContainers(InfraFiles.MainBicep).Select(c => c.Name).Where(n => !specs.Contains(n)).ToArray();

        // Assert
        Assert.Empty(extra);
    }

    [Fact]
    public void CosmosAccount_Defaults_ServerlessWithoutKeys()
    {
        // Act
        var cosmos = InfraFiles.CosmosBicep;
        var main = InfraFiles.MainBicep;

        // Assert
        Assert.Contains("disableLocalAuth: true", cosmos, StringComparison.Ordinal);
        Assert.Contains("EnableServerless", cosmos, StringComparison.Ordinal);
        Assert.Contains("param cosmosCapacityMode string = 'Serverless'", main, StringComparison.Ordinal);
        Assert.Contains("paths: [ container.partitionKeyPath ]", cosmos, StringComparison.Ordinal);
        Assert.Contains("/\"_etag\"/?", cosmos, StringComparison.Ordinal);
    }

    [Fact]
    public void Queues_EveryQueueTheCodeUses_Declared()
    {
        // Arrange
        var declared = BicepText.StringArrayVar(InfraFiles.MainBicep, "queueNames").ToHashSet(StringComparer.Ordinal);

        // Act
        var missing = CodeInventory.QueueNames.Where(q => !declared.Contains(q)).ToArray();

        // Assert
        Assert.Contains(FunctionCatalog.DurableControlQueue, CodeInventory.QueueNames);
        Assert.Contains(QueueMessagePump.PoisonQueueName(FunctionCatalog.DurableWorkQueue), CodeInventory.QueueNames);
        Assert.True(missing.Length == 0, $"Add to queueNames in infra/main.bicep: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Queues_EveryFunctionJsonQueueName_Declared()
    {
        // Arrange
        var declared = BicepText.StringArrayVar(InfraFiles.MainBicep, "queueNames").ToHashSet(StringComparer.Ordinal);

        // Act
        var queues = CodeInventory.FunctionJsons().Values
            .SelectMany(f => f.GetProperty("bindings").EnumerateArray())
            .Where(b => b.TryGetProperty("queueName", out _))
            .Select(b => b.GetProperty("queueName").GetString()!)
            .ToArray();

        // Assert
        Assert.NotEmpty(queues);
        Assert.All(queues, q => Assert.Contains(q, declared));
    }

    [Fact]
    public void BlobContainers_EveryContainerTheCodeUses_Declared()
    {
        // Arrange
        var declared = BicepText.StringArrayVar(InfraFiles.MainBicep, "blobContainerNames").ToHashSet(StringComparer.Ordinal);

        // Act
        var missing = CodeInventory.BlobContainerNames.Where(c => !declared.Contains(c)).ToArray();

        // Assert
        Assert.Contains(LocalHostOptions.DefaultUploadContainer, CodeInventory.BlobContainerNames);
        Assert.True(missing.Length == 0, $"Add to blobContainerNames in infra/main.bicep: {string.Join(", ", missing)}");
    }

    [Fact]
    public void StorageAccount_SharedKey_Disabled()
    {
        // Act
        var storage = InfraFiles.StorageBicep;

        // Assert
        Assert.Contains("allowSharedKeyAccess: false", storage, StringComparison.Ordinal);
        Assert.Contains("allowBlobPublicAccess: false", storage, StringComparison.Ordinal);
        Assert.DoesNotContain("allowSharedKeyAccess: true", string.Concat(InfraFiles.BicepFiles.Select(File.ReadAllText)), StringComparison.Ordinal);
    }

    [Fact]
    public void EventGrid_BlobCreatedSubscription_TargetsTheEventGridFunctionAndUploadContainer()
    {
        // Arrange
        var eventGridFunction = Assert.Single(FunctionCatalog.All.Values, f => f.Trigger == TriggerKind.EventGrid);
        var eventGrid = InfraFiles.EventGridBicep;

        // Act
        var functionName = Regex.Match(eventGrid, @"param functionName string = '(?<name>[^']+)'").Groups["name"].Value;
        var uploadContainer = BicepText.StringVar(InfraFiles.MainBicep, "uploadContainerName");

        // Assert
        Assert.Equal(eventGridFunction.Name, functionName);
        Assert.Equal(LocalHostOptions.DefaultUploadContainer, uploadContainer);
        Assert.Contains("'Microsoft.Storage.BlobCreated'", eventGrid, StringComparison.Ordinal);
        Assert.Contains("subjectBeginsWith: '/blobServices/default/containers/${uploadContainerName}/'", eventGrid, StringComparison.Ordinal);
        Assert.Contains("uploadContainerName: uploadContainerName", InfraFiles.MainBicep, StringComparison.Ordinal);
    }
}
