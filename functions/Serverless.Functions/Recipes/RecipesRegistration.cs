using Serverless.Functions.Http;

namespace Serverless.Functions.Recipes;

/// <summary>Registers the recipes feature.</summary>
public static class RecipesRegistration
{
    public static IHostApplicationBuilder AddRecipes(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<RecipeOptions>()
            .BindConfiguration(RecipeOptions.Section)
            .Validate(o => o.MaxInstructionsPdfBytes > 0, "Recipes:MaxInstructionsPdfBytes must be positive.")
            .Validate(o => o.DownloadLinkLifetime > TimeSpan.Zero && o.DownloadLinkLifetime <= TimeSpan.FromDays(7), "Recipes:DownloadLinkLifetime must be between 0 and 7 days.")
            .ValidateOnStart();
        builder.Services.AddDocumentContainers([.. RecipeContainers.All]);
        builder.Services.AddSingleton<RecipeStore>();
        builder.Services.AddSingleton<RecipeBlobs>();
        return builder;
    }
}
