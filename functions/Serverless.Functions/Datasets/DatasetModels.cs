using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Datasets;

/// <summary>A dataset as returned: its item count comes from the dataset's counter document.</summary>
/// <remarks><list type="bullet">
/// <item><c>State</c>: <see cref="DatasetStates.Ready"/>, or <see cref="DatasetStates.Copying"/> while a clone or merge fills it.</item>
/// <item><c>RecipeId</c>: the recipe its annotations are validated against (null until one is chosen).</item>
/// </list></remarks>
public sealed record Dataset(
    string Id,
    string ProjectId,
    string Name,
    long ItemCount,
    string CreatedBy,
    string CreatedAt,
    string UpdatedAt,
    string State = DatasetStates.Ready,
    string? RecipeId = null);

/// <summary>Body of <c>PUT .../datasets/{id}/recipe</c>: the recipe to use, or null to use none.</summary>
public sealed record SetDatasetRecipeRequest(string? RecipeId);

/// <summary>The states a dataset shows.</summary>
public static class DatasetStates
{
    public const string Ready = "ready";

    /// <summary>A clone or merge orchestration is still copying items into it.</summary>
    public const string Copying = "copying";
}

/// <summary>
/// Containers and partitions. Datasets live in <c>project:{id}</c> (a project's datasets are listed with one
/// single-partition query). Items, their path claims and the dataset's item counter live in
/// <c>dataset:{id}</c> of the items container, so an item write and the counter change commit in one
/// atomic batch and no partition grows past one dataset.
/// </summary>
public static class DatasetContainers
{
    public const string Datasets = "datasets";
    public const string Items = "items";

    /// <summary>Id of the counter document in each dataset's item partition.</summary>
    public const string StatsId = "stats";

    public static IReadOnlyList<ContainerSpec> All { get; } =
    [
        new(Datasets, ["createdAt"]),
        // dir + type: "this folder's videos" reads only its matches; with two single-path indexes SQLite picks one and
        // scans every item of that folder (or every video) for the other (45 ms at 100k items, growing with the dataset).
        // dir + name: a folder listed by name (a file browser's order) is read in order, a page at a time, instead of
        // sorting the whole folder for every page (57 ms p50 for a folder of 10,000 items; see FilterCompiler.PinSortedTypes).
        new(Items, ["kind", "dir", "name", "type", "createdAt", "size", "itemId"], [["dir", "type"], ["dir", "name"]], ElementIndexedPaths: ["tags"]),
    ];

    public static string ProjectPartition(string projectId) => $"project:{projectId}";

    public static string ItemPartition(string datasetId) => $"dataset:{datasetId}";
}

/// <summary>The dataset still holds items and the caller did not ask for <c>force</c>.</summary>
public sealed class DatasetNotEmptyException(string datasetId, long count)
    : Exception($"Dataset '{datasetId}' holds {count} items: delete them first, or pass ?force=true to delete the dataset anyway.");
