using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Durable.Storage;
using Serverless.Functions.Functions;
using Serverless.Testing;

namespace Serverless.Functions.Tests;

/// <summary>The function.json files and <see cref="FunctionCatalog"/> declare the same functions, both ways.</summary>
public sealed class FunctionJsonCatalogTests
{
    private static readonly string FunctionsFolder = Path.Combine(RepoPaths.Root, "functions", "Serverless.Functions", "Functions");

    private static Dictionary<string, JsonElement> ReadFunctionJsonFiles() =>
        Directory.GetDirectories(FunctionsFolder)
            .Where(d => File.Exists(Path.Combine(d, "function.json")))
            .ToDictionary(
                d => Path.GetFileName(d),
                d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "function.json"))).RootElement.Clone(),
                StringComparer.Ordinal);

    private static string? Optional(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.GetString() : null;

    [Fact]
    public void FunctionJsonFiles_SameNamesAsCatalog_BothWays()
    {
        // Arrange / Act
        var files = ReadFunctionJsonFiles();

        // Assert
        Assert.Equal(FunctionCatalog.All.Keys.Order(StringComparer.Ordinal), files.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FunctionJsonFiles_BindingsMatchCatalog_NameTypeDirectionQueue()
    {
        // Arrange
        var files = ReadFunctionJsonFiles();

        foreach (var (name, json) in files)
        {
            // Act
            var bindings = json.GetProperty("bindings").EnumerateArray()
                .Select(b => new FunctionBinding(b.GetProperty("name").GetString()!, b.GetProperty("type").GetString()!, b.GetProperty("direction").GetString()!, Optional(b, "queueName")))
                .ToList();

            // Assert
            Assert.True(FunctionCatalog.All.TryGetValue(name, out var declared), $"{name}/function.json has no FunctionCatalog entry.");
            Assert.Equal(declared.Bindings, bindings);
            Assert.Equal(FunctionCatalog.TriggerBindingType(declared.Trigger), bindings[0].Type);
            Assert.Equal("in", bindings[0].Direction);
        }
    }

    [Fact]
    public void CatalogFunctions_HaveOneTriggerEach_AndQueueFunctionsAQueue()
    {
        foreach (var function in FunctionCatalog.All.Values)
        {
            // Act
            var triggers = function.Bindings.Count(b => b.Type.EndsWith("Trigger", StringComparison.Ordinal));

            // Assert
            Assert.Equal(1, triggers);
            Assert.Equal(function.Trigger == TriggerKind.Queue, !string.IsNullOrEmpty(function.QueueName));
        }
    }

    [Fact]
    public void ApiFunction_CatchAllAnonymousAllMethods()
    {
        // Arrange
        var trigger = ReadFunctionJsonFiles()[FunctionCatalog.Api].GetProperty("bindings")[0];

        // Act
        var methods = trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()).ToHashSet();

        // Assert
        Assert.Equal("{*path}", trigger.GetProperty("route").GetString());
        Assert.Equal("anonymous", trigger.GetProperty("authLevel").GetString());
        Assert.Superset(new HashSet<string?> { "get", "post", "put", "patch", "delete", "head", "options" }, methods);
    }

    [Fact]
    public void QueueFunctions_UseTheFunctionsStorageConnection()
    {
        // Arrange
        var files = ReadFunctionJsonFiles();

        foreach (var function in FunctionCatalog.All.Values.Where(f => f.Trigger == TriggerKind.Queue))
        {
            // Act
            var trigger = files[function.Name].GetProperty("bindings")[0];

            // Assert
            Assert.Equal("AzureWebJobsStorage", trigger.GetProperty("connection").GetString());
        }
    }

    [Fact]
    public async Task DurableControlPartitions_OneFunctionPerRuntimeQueue_EachWithAHandlerInCustomHandlerMode()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.CustomHandler();
        var runtime = factory.Services.GetRequiredService<StorageBackendOptions>();
        var handlers = factory.Services.GetRequiredService<QueueHandlerCatalog>();

        // Act
        var controlFunctions = FunctionCatalog.All.Values.Where(f => f.QueueName?.StartsWith("durable-control", StringComparison.Ordinal) == true).ToList();

        // Assert
        Assert.Equal(4, runtime.ControlPartitions);
        Assert.Equal(runtime.ControlPartitions, controlFunctions.Count);
        for (var p = 0; p < runtime.ControlPartitions; p++)
        {
            var function = FunctionCatalog.All[FunctionCatalog.DurableControlFunction(p)];
            Assert.Equal(runtime.ControlQueue(p), function.QueueName);
            var handler = handlers.Find(function.Name);
            Assert.NotNull(handler);
            Assert.Equal(runtime.ControlQueue(p), handler.QueueName);
        }

        Assert.Equal(runtime.WorkQueue, handlers.Find(FunctionCatalog.DurableWork)?.QueueName);
    }
}
