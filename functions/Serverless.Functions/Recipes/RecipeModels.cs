using Serverless.Core.Recipes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Recipes;

/// <summary>A recipe (ontology) of a project, as stored and returned.</summary>
/// <remarks>
/// <c>UsedBy</c> holds the ids of the datasets whose current recipe this is. The datasets feature maintains it through
/// <see cref="RecipeStore.AddUserAsync"/> and <see cref="RecipeStore.RemoveUserAsync"/> when a dataset
/// is created with, or switched to or away from, this recipe; deleting is refused while it is not empty.
/// </remarks>
public sealed record Recipe(
    string Id,
    string ProjectId,
    string Name,
    IReadOnlyList<LabelClass> Classes,
    string Instructions,
    InstructionsPdf? InstructionsPdf,
    IReadOnlyList<string> UsedBy,
    string CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>The pure model that annotations are validated against (<see cref="AnnotationValidator"/>).</summary>
    public Ontology ToOntology() => new(Name, Classes, Instructions);
}

/// <summary>The PDF guideline attached to a recipe; the file itself is a blob, fetched through a signed link.</summary>
public sealed record InstructionsPdf(string BlobName, long Size, DateTimeOffset UploadedAt, string UploadedBy);

/// <summary>A recipe with its version tag.</summary>
public sealed record VersionedRecipe(Recipe Recipe, string ETag);

/// <summary>A recipe in a list.</summary>
public sealed record RecipeSummary(string Id, string Name, int ClassCount, bool HasInstructionsPdf, IReadOnlyList<string> UsedBy, DateTimeOffset UpdatedAt);

/// <summary>The instructions of a recipe: the text, and the PDF with a time-limited download link when one is attached.</summary>
public sealed record RecipeInstructions(string Text, InstructionsPdfLink? Pdf);

/// <summary>An attached PDF and where to download it until <paramref name="ExpiresOn"/>.</summary>
public sealed record InstructionsPdfLink(long Size, DateTimeOffset UploadedAt, Uri DownloadUrl, DateTimeOffset ExpiresOn);

/// <summary>Settings of the recipes feature (section <c>Recipes</c>).</summary>
public sealed record RecipeOptions
{
    public const string Section = "Recipes";

    /// <summary>Largest instructions PDF accepted; larger uploads get 413.</summary>
    public long MaxInstructionsPdfBytes { get; init; } = 50L * 1024 * 1024;

    /// <summary>How long a PDF download link stays valid.</summary>
    public TimeSpan DownloadLinkLifetime { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Blob container holding the PDFs, named <c>{projectId}/{recipeId}/{uploadId}.pdf</c>.</summary>
    public string BlobContainer { get; init; } = "recipe-instructions";
}

/// <summary>The container: recipes live in their project's partition <c>project:{id}</c>, like the project itself.</summary>
public static class RecipeContainers
{
    public const string Recipes = "recipes";
    public const string RecipeType = "recipe";

    public static IReadOnlyList<ContainerSpec> All { get; } = [new(Recipes, ["type", "createdAt"])];

    public static string Partition(string projectId) => $"project:{projectId}";
}

/// <summary>Another writer changed the recipe first (HTTP If-Match mismatch).</summary>
public sealed class RecipeChangedException(string recipeId)
    : Exception($"Recipe '{recipeId}' was changed since you read it (ETag mismatch); read it again and retry.");

/// <summary>The outcome of a delete.</summary>
public enum RecipeDeleteOutcome
{
    Deleted,
    NotFound,
    InUse,
}
