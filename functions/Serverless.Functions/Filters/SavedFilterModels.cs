using System.Text.Json;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Filters;

/// <summary>
/// A named item query of a project: <see cref="Query"/> is a filter request of the filter language
/// (<c>filter</c>, <c>sort</c>, <c>pageSize</c>; no <c>continuation</c>), validated exactly as the
/// items query endpoint validates it, so a saved filter always runs.
/// </summary>
public sealed record SavedFilter(string Id, string ProjectId, string Name, JsonElement Query, string CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>Most saved filters one project may hold.</summary>
    public const int MaxPerProject = 100;
}

/// <summary>
/// Container <c>savedfilters</c>, partition <c>project:{id}</c>: the filters, one name-key document per
/// name (case-insensitive uniqueness, enforced by the store's create-if-absent) and a counter document
/// that caps the count; all three change in one atomic batch.
/// </summary>
public static class SavedFilterContainers
{
    public const string SavedFilters = "savedfilters";
    public const string FilterType = "savedFilter";
    public const string NameType = "savedFilterName";
    public const string CounterType = "savedFilterCounter";
    public const string CounterId = "counter";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(SavedFilters, ["type", "createdAt"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>Another saved filter of the project has the name.</summary>
public sealed class SavedFilterNameTakenException(string name)
    : Exception($"The project already has a saved filter named '{name}' (names are unique per project, ignoring case).");

/// <summary>The project holds <see cref="SavedFilter.MaxPerProject"/> saved filters.</summary>
public sealed class SavedFilterLimitException()
    : Exception($"A project holds at most {SavedFilter.MaxPerProject} saved filters; delete one first.");
