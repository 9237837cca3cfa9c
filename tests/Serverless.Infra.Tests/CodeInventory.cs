using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Functions;
using Serverless.Functions.Hosting;
using Serverless.Functions.Local;
using Serverless.Testing;

namespace Serverless.Infra.Tests;

/// <summary>
/// What the code says it needs, derived from the code itself so the infra tests follow it as
/// features are added: configuration keys (options records with a <c>Section</c> constant),
/// Cosmos containers (every <see cref="ContainerSpec"/> registered in the app's DI container),
/// queues (<see cref="FunctionCatalog"/>, poison queues, <c>*Queue</c> constants) and blob
/// containers (<c>*Container</c> constants and literal container names in the sources).
/// </summary>
internal static partial class CodeInventory
{
    private static readonly string[] SourceFolders = ["core", "functions", "orchestrations", "storage"];

    private static readonly Lazy<ContainerSpec[]> Specs = new(ResolveContainerSpecs);

    /// <summary>The Serverless.* assemblies the app is made of.</summary>
    public static IReadOnlyList<Assembly> AppAssemblies { get; } = LoadAppAssemblies();

    /// <summary>Every options record bound from configuration: a type with a <c>public const string Section</c>.</summary>
    public static IReadOnlyList<(string Section, Type Type)> OptionsTypes { get; } = AppAssemblies
        .SelectMany(a => a.GetTypes())
        .Select(t => (Type: t, Field: t.GetField("Section", BindingFlags.Public | BindingFlags.Static)))
        .Where(x => x.Field is { IsLiteral: true } && x.Field.FieldType == typeof(string))
        .Select(x => ((string)x.Field!.GetRawConstantValue()!, x.Type))
        .OrderBy(x => x.Item1, StringComparer.Ordinal)
        .ToArray();

    /// <summary>Every configuration key the options records read, as environment-variable names (<c>Section__Property</c>).</summary>
    public static IReadOnlyList<SettingKey> SettingKeys { get; } = OptionsTypes
        .SelectMany(o => o.Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.SetMethod!.IsPublic)
            .Select(p => new SettingKey(o.Section, p.Name, IsList(p.PropertyType))))
        .ToArray();

    /// <summary>
    /// Cosmos containers the app uses: every spec registered in its DI container (start-up creates
    /// those) plus every static <see cref="ContainerSpec"/> or list of them in the app's assemblies
    /// (for containers a component ensures itself).
    /// </summary>
    public static IReadOnlyList<ContainerSpec> ContainerSpecs => Specs.Value;

    /// <summary>Container names written as literals in <c>new ContainerSpec("...")</c> anywhere in the app's sources.</summary>
    public static IReadOnlySet<string> LiteralContainerSpecNames =>
        new SortedSet<string>(
            SourceFiles().SelectMany(f => LiteralContainerSpec().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value)),
            StringComparer.Ordinal);

    /// <summary>The partition key path the Cosmos adapter gives every container, read from its source.</summary>
    public static string CosmosPartitionKeyPath
    {
        get
        {
            var source = File.ReadAllText(Path.Combine(RepoPaths.Root, "storage", "Serverless.Storage.Cosmos", "CosmosDocumentStore.cs"));
            var match = PartitionKeyInAdapter().Match(source);
            return match.Success
                ? match.Groups["pk"].Value
                : throw new InvalidOperationException("CosmosDocumentStore.cs no longer creates containers with 'new ContainerProperties(spec.Name, \"/...\")'; update this test's reading of it.");
        }
    }

    /// <summary>Queues the code reads or writes: trigger queues, their poison queues, and <c>*Queue</c> string constants.</summary>
    public static IReadOnlySet<string> QueueNames
    {
        get
        {
            var names = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var function in FunctionCatalog.All.Values)
            {
                if (function.QueueName is { } queue)
                {
                    names.Add(queue);
                    names.Add(QueueMessagePump.PoisonQueueName(queue));
                }

                foreach (var binding in function.Bindings.Where(b => b.QueueName is not null))
                {
                    names.Add(binding.QueueName!);
                }
            }

            foreach (var value in StringConstantsEndingWith("Queue"))
            {
                names.Add(value);
            }

            return names;
        }
    }

    /// <summary>Blob containers the code uses: <c>*Container</c> string constants and literal names passed to <c>CreateContainerIfNotExistsAsync</c>.</summary>
    public static IReadOnlySet<string> BlobContainerNames
    {
        get
        {
            var names = new SortedSet<string>(StringConstantsEndingWith("Container").Where(IsBlobContainerName), StringComparer.Ordinal);
            foreach (var file in SourceFiles())
            {
                foreach (Match m in LiteralContainerCreation().Matches(File.ReadAllText(file)))
                {
                    names.Add(m.Groups["name"].Value);
                }
            }

            return names;
        }
    }

    /// <summary>The <c>function.json</c> files the package ships, by function folder.</summary>
    public static IReadOnlyDictionary<string, JsonElement> FunctionJsons()
    {
        var root = Path.Combine(RepoPaths.Root, "functions", "Serverless.Functions", "Functions");
        return Directory.GetDirectories(root)
            .Where(d => File.Exists(Path.Combine(d, "function.json")))
            .ToDictionary(
                d => Path.GetFileName(d),
                d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "function.json"))).RootElement.Clone(),
                StringComparer.Ordinal);
    }

    /// <summary>The app's C# sources (not tests, benchmarks or build output).</summary>
    public static IEnumerable<string> SourceFiles() =>
        SourceFolders
            .Select(d => Path.Combine(RepoPaths.Root, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static bool IsList(Type type) => type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type);

    private static bool IsBlobContainerName(string value) => BlobContainerName().IsMatch(value) && !value.Contains("--", StringComparison.Ordinal);

    private static IEnumerable<string> StringConstantsEndingWith(string suffix) => AppAssemblies
        .SelectMany(a => a.GetTypes())
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
        .Where(f => f.IsLiteral && f.FieldType == typeof(string) && f.Name.EndsWith(suffix, StringComparison.Ordinal))
        .Select(f => (string)f.GetRawConstantValue()!);

    private static List<Assembly> LoadAppAssemblies()
    {
        var functions = typeof(FunctionCatalog).Assembly;
        var assemblies = new List<Assembly> { functions };
        foreach (var name in functions.GetReferencedAssemblies().Where(n => n.Name!.StartsWith("Serverless.", StringComparison.Ordinal)))
        {
            assemblies.Add(Assembly.Load(name));
        }

        return assemblies;
    }

    private static ContainerSpec[] ResolveContainerSpecs()
    {
        var database = Path.Combine(Path.GetTempPath(), $"infra-tests-{Guid.NewGuid():N}.db");
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("DocumentStore:Provider", "Sqlite");
            builder.UseSetting("DocumentStore:SqlitePath", database);
            builder.UseSetting("Storage:ConnectionString", "UseDevelopmentStorage=true");
            builder.UseSetting(FunctionsHostingMode.PortVariable, "7199");

            // Only the registrations are wanted: no start-up work (container creation, bootstrap).
            builder.ConfigureTestServices(services => services.RemoveAll<IHostedService>());
        });
        return factory.Services.GetServices<ContainerSpec>()
            .Concat(StaticContainerSpecs())
            .DistinctBy(s => s.Name, StringComparer.Ordinal)
            .ToArray();
    }

    private static IEnumerable<ContainerSpec> StaticContainerSpecs()
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in AppAssemblies.SelectMany(a => a.GetTypes()).Where(t => !t.ContainsGenericParameters))
        {
            var values = type.GetFields(flags).Where(f => IsSpecType(f.FieldType)).Select(f => f.GetValue(null))
                .Concat(type.GetProperties(flags)
                    .Where(p => p.GetMethod is not null && p.GetIndexParameters().Length == 0 && IsSpecType(p.PropertyType))
                    .Select(p => p.GetValue(null)));
            foreach (var value in values)
            {
                switch (value)
                {
                    case ContainerSpec spec:
                        yield return spec;
                        break;
                    case IEnumerable<ContainerSpec> specs:
                        foreach (var item in specs)
                        {
                            yield return item;
                        }

                        break;
                }
            }
        }
    }

    private static bool IsSpecType(Type type) => type == typeof(ContainerSpec) || typeof(IEnumerable<ContainerSpec>).IsAssignableFrom(type);

    [GeneratedRegex(@"new ContainerProperties\(spec\.Name, ""(?<pk>[^""]+)""\)")]
    private static partial Regex PartitionKeyInAdapter();

    [GeneratedRegex(@"new ContainerSpec\(\s*""(?<name>[^""]+)""")]
    private static partial Regex LiteralContainerSpec();

    [GeneratedRegex(@"CreateContainerIfNotExistsAsync\(\s*""(?<name>[a-z0-9-]{3,63})""")]
    private static partial Regex LiteralContainerCreation();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex BlobContainerName();
}

/// <summary>A configuration key an options record reads.</summary>
/// <param name="Section">The options record's <c>Section</c>.</param>
/// <param name="Property">The property bound under it.</param>
/// <param name="IsList">A list: set as <c>Section__Property__0</c>, <c>__1</c>, ...</param>
internal sealed record SettingKey(string Section, string Property, bool IsList)
{
    /// <summary>The app-setting / environment-variable name (<c>Section__Property</c>).</summary>
    public string EnvironmentName => $"{Section}__{Property}";

    /// <summary>The key as local.settings.sample.json lists it (the first element for lists).</summary>
    public string SampleName => IsList ? $"{EnvironmentName}__0" : EnvironmentName;
}
