using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Recipes;

namespace Serverless.Functions.Datasets;

/// <summary>What the dataset-recipe endpoint needs from DI.</summary>
public sealed record DatasetRecipeServices(DatasetStore Datasets, RecipeStore Recipes);

/// <summary>
/// <c>PUT api/projects/{projectId}/datasets/{datasetId}/recipe</c>: one recipe per dataset, switchable. The
/// dataset's annotations are validated against its current recipe; switching does not rewrite annotations.
/// </summary>
/// <remarks>
/// The new recipe records the dataset as a user before the dataset points at it, and the old one forgets it
/// after, so a crash in between leaves a recipe marked in use (it cannot be deleted by mistake), never a
/// dataset pointing at a deletable recipe. After the switch, every recipe touched that is not the dataset's
/// current one forgets the dataset, so two racing switches leave exactly one recipe marked.
/// </remarks>
public static class DatasetRecipeApi
{
    public static IEndpointRouteBuilder MapDatasetRecipeApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("api/projects/{projectId}/datasets").WithTags("Datasets")
            .MapPut("/{datasetId}/recipe", SetRecipeAsync).WithName("SetDatasetRecipe").RequirePermission(Permission.DatasetsManage);
        return app;
    }

    internal static async Task<Results<Ok<Dataset>, ValidationProblem, ProblemHttpResult>> SetRecipeAsync(
        string projectId, string datasetId, SetDatasetRecipeRequest request, [AsParameters] DatasetRecipeServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var recipeId = request.RecipeId;
        if (recipeId is not null && (!Ids.IsWellFormed(recipeId) || !await services.Recipes.AddUserAsync(projectId, recipeId, datasetId, ct)))
        {
            return Problems.Validation("recipeId", $"Project '{projectId}' has no recipe '{recipeId}'.");
        }

        if (await services.Datasets.SetRecipeAsync(projectId, datasetId, recipeId, ct) is not { } result)
        {
            if (recipeId is not null)
            {
                await services.Recipes.RemoveUserAsync(projectId, recipeId, datasetId, CancellationToken.None);
            }

            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var current = (await services.Datasets.GetAsync(projectId, datasetId, ct))?.RecipeId;
        foreach (var touched in new[] { result.Previous, recipeId }.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (!string.Equals(touched, current, StringComparison.Ordinal))
            {
                await services.Recipes.RemoveUserAsync(projectId, touched, datasetId, CancellationToken.None);
            }
        }

        return TypedResults.Ok(result.Dataset);
    }
}
