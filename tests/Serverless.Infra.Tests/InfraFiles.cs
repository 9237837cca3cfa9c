using Serverless.Testing;

namespace Serverless.Infra.Tests;

/// <summary>The deployment files under test.</summary>
internal static class InfraFiles
{
    public static string InfraDirectory => Path.Combine(RepoPaths.Root, "infra");

    public static string MainBicep => Read("main.bicep");

    public static string FunctionBicep => Read("app", "function.bicep");

    public static string StorageBicep => Read("app", "storage.bicep");

    public static string CosmosBicep => Read("app", "cosmos.bicep");

    public static string EventGridBicep => Read("app", "eventgrid.bicep");

    public static string RbacBicep => Read("app", "rbac.bicep");

    public static string Readme => Read("README.md");

    public static string AzureYaml => File.ReadAllText(Path.Combine(RepoPaths.Root, "azure.yaml"));

    public static IEnumerable<string> BicepFiles => Directory.EnumerateFiles(InfraDirectory, "*.bicep", SearchOption.AllDirectories);

    public static string Read(params string[] parts) => File.ReadAllText(Path.Combine([InfraDirectory, .. parts]));
}
