using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Serverless.Core.Items;
using Serverless.Core.Recipes;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Recipes;

/// <summary>What the recipe endpoints need from DI.</summary>
public sealed record RecipeServices(RecipeStore Recipes, RecipeBlobs Blobs, IOptions<RecipeOptions> Options, TimeProvider Time);

/// <summary>
/// Recipes (ontologies) of a project: <c>api/projects/{projectId}/recipes</c>. A recipe's body is
/// validated as a whole (<see cref="RecipeValidator"/>) and every error is returned at once, keyed
/// by a JSON pointer such as <c>/classes/1/name</c>.
/// </summary>
/// <remarks>
/// Writes accept <c>If-Match</c> with the <c>ETag</c> that <c>GET</c> returned (412 on mismatch).
/// Delete answers 409 while a dataset uses the recipe (<see cref="Recipe.UsedBy"/>). The instructions
/// PDF is streamed to blob storage, recognized by its <c>%PDF-</c> header (415 otherwise) and capped
/// by <see cref="RecipeOptions.MaxInstructionsPdfBytes"/> (413); it is read through a signed link.
/// </remarks>
public static class RecipesApi
{
    public static IEndpointRouteBuilder MapRecipesApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var recipes = app.MapGroup("api/projects/{projectId}/recipes").WithTags("Recipes");
        recipes.MapPost("/", CreateAsync).WithName("CreateRecipe").RequirePermission(Permission.RecipesManage);
        recipes.MapGet("/", ListAsync).WithName("ListRecipes").RequirePermission(Permission.RecipesRead);
        recipes.MapGet("/{recipeId}", GetAsync).WithName("GetRecipe").RequirePermission(Permission.RecipesRead);
        recipes.MapPut("/{recipeId}", UpdateAsync).WithName("UpdateRecipe").RequirePermission(Permission.RecipesManage);
        recipes.MapDelete("/{recipeId}", DeleteAsync).WithName("DeleteRecipe").RequirePermission(Permission.RecipesManage);
        recipes.MapGet("/{recipeId}/instructions", GetInstructionsAsync).WithName("GetRecipeInstructions").RequirePermission(Permission.RecipesRead);
        recipes.MapPut("/{recipeId}/instructions/pdf", UploadPdfAsync).WithName("UploadRecipeInstructionsPdf")
            .WithDescription("The body is the raw PDF file (any Content-Type: the content is sniffed for '%PDF-'). Streamed to blob storage; 413 over the size cap.")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .RequirePermission(Permission.RecipesManage);
        recipes.MapDelete("/{recipeId}/instructions/pdf", DeletePdfAsync).WithName("DeleteRecipeInstructionsPdf").RequirePermission(Permission.RecipesManage);
        return app;
    }

    internal static async Task<Results<Created<Recipe>, ValidationProblem>> CreateAsync(
        string projectId, RecipeDraft request, ClaimsPrincipal principal, HttpResponse response, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var validation = RecipeValidator.Validate(request);
        if (!validation.IsValid)
        {
            return Invalid(validation.Errors);
        }

        var created = await services.Recipes.CreateAsync(projectId, validation.Recipe!, Caller.From(principal).UserId, ct);
        ETags.Set(response, created.ETag);
        return TypedResults.Created($"/api/projects/{projectId}/recipes/{created.Recipe.Id}", created.Recipe);
    }

    internal static async Task<Results<Ok<Page<RecipeSummary>>, ValidationProblem>> ListAsync(
        string projectId, int? pageSize, string? continuationToken, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Recipes.ListAsync(projectId, size, continuationToken, ct));
    }

    internal static async Task<Results<Ok<Recipe>, ProblemHttpResult>> GetAsync(
        string projectId, string recipeId, HttpResponse response, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var recipe = await services.Recipes.GetAsync(projectId, recipeId, ct);
        if (recipe is null)
        {
            return NotFound(recipeId);
        }

        ETags.Set(response, recipe.ETag);
        return TypedResults.Ok(recipe.Recipe);
    }

    /// <summary>Replaces the recipe's name, classes and instructions text; its PDF and dataset list stay.</summary>
    internal static async Task<Results<Ok<Recipe>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        string projectId, string recipeId, RecipeDraft request, [FromHeader(Name = "If-Match")] string? ifMatch, HttpResponse response, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var validation = RecipeValidator.Validate(request);
        if (!validation.IsValid)
        {
            return Invalid(validation.Errors);
        }

        var ontology = validation.Recipe!;
        try
        {
            var updated = await services.Recipes.UpdateAsync(projectId, recipeId, ETags.Unquote(ifMatch),
                r => r with { Name = ontology.Name, Classes = ontology.Classes, Instructions = ontology.Instructions }, ct);
            if (updated is null)
            {
                return NotFound(recipeId);
            }

            ETags.Set(response, updated.ETag);
            return TypedResults.Ok(updated.Recipe);
        }
        catch (RecipeChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string projectId, string recipeId, [FromHeader(Name = "If-Match")] string? ifMatch, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        try
        {
            var (outcome, recipe) = await services.Recipes.DeleteAsync(projectId, recipeId, ETags.Unquote(ifMatch), ct);
            switch (outcome)
            {
                case RecipeDeleteOutcome.NotFound:
                    return NotFound(recipeId);
                case RecipeDeleteOutcome.InUse:
                    return Problems.Conflict($"Recipe '{recipeId}' is the recipe of dataset(s) {string.Join(", ", recipe!.UsedBy)}; switch them to another recipe first.");
                default:
                    if (recipe?.InstructionsPdf is { } pdf)
                    {
                        await services.Blobs.DeleteQuietlyAsync(pdf.BlobName, ct);
                    }

                    return TypedResults.NoContent();
            }
        }
        catch (RecipeChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }
    }

    internal static async Task<Results<Ok<RecipeInstructions>, ProblemHttpResult>> GetInstructionsAsync(
        string projectId, string recipeId, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var recipe = await services.Recipes.GetAsync(projectId, recipeId, ct);
        if (recipe is null)
        {
            return NotFound(recipeId);
        }

        InstructionsPdfLink? link = null;
        if (recipe.Recipe.InstructionsPdf is { } pdf)
        {
            var expires = services.Time.GetUtcNow() + services.Options.Value.DownloadLinkLifetime;
            var url = await services.Blobs.Store.CreateSasUriAsync(services.Blobs.Container, pdf.BlobName, BlobSasPermissions.Read, expires, ct);
            link = new InstructionsPdfLink(pdf.Size, pdf.UploadedAt, url, expires);
        }

        return TypedResults.Ok(new RecipeInstructions(recipe.Recipe.Instructions, link));
    }

    /// <summary>
    /// Streams the request body to a new blob, then points the recipe at it and deletes the previous
    /// PDF. The recipe is only changed after the blob is committed, so a failed or refused upload
    /// leaves the recipe as it was.
    /// </summary>
    internal static async Task<Results<Ok<Recipe>, ProblemHttpResult>> UploadPdfAsync(
        string projectId, string recipeId, [FromHeader(Name = "If-Match")] string? ifMatch, HttpRequest request, ClaimsPrincipal principal, HttpResponse response, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var limit = services.Options.Value.MaxInstructionsPdfBytes;
        var current = await services.Recipes.GetAsync(projectId, recipeId, ct);
        if (current is null)
        {
            return NotFound(recipeId);
        }

        if (ETags.Unquote(ifMatch) is { } tag && !ETags.Same(tag, current.ETag))
        {
            return Problems.PreconditionFailed(new RecipeChangedException(recipeId).Message);
        }

        if (request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            // The server's default cap (30 MB on Kestrel) is below ours; ours is enforced while streaming.
            bodySize.MaxRequestBodySize = limit + 1;
        }

        var blobName = $"{projectId}/{recipeId}/{Ids.New("pdf")}.pdf";
        BlobProperties stored;
        try
        {
            // The cap counts every byte, the sniffed header included; the sniffer hands back a stream that
            // replays the header and then the rest, so nothing is buffered beyond it.
            await using var limited = new LimitedReadStream(request.Body, limit);
            var (sniffed, content) = await ContentSniffer.SniffAsync(limited, ct);
            await using var _ = content;
            if (sniffed.MimeType != "application/pdf")
            {
                return TypedResults.Problem(
                    statusCode: StatusCodes.Status415UnsupportedMediaType,
                    title: "Unsupported media type",
                    detail: "The instructions file must be a PDF (its content must start with '%PDF-'); the Content-Type and file name are not trusted.");
            }

            await services.Blobs.EnsureContainerAsync(ct);
            stored = await services.Blobs.Store.UploadAsync(services.Blobs.Container, blobName, content, new BlobUploadOptions("application/pdf", IfNoneMatchAny: true), ct);
        }
        catch (UploadTooLargeException)
        {
            // Blocks staged so far were never committed; the service discards them.
            return TooLarge(limit);
        }

        var pdf = new InstructionsPdf(blobName, stored.Length, services.Time.GetUtcNow(), Caller.From(principal).UserId);
        string? previous = null;
        try
        {
            var updated = await services.Recipes.UpdateAsync(projectId, recipeId, ETags.Unquote(ifMatch), r =>
            {
                previous = r.InstructionsPdf?.BlobName;
                return r with { InstructionsPdf = pdf };
            }, ct);
            if (updated is null)
            {
                await services.Blobs.DeleteQuietlyAsync(blobName, ct);
                return NotFound(recipeId);
            }

            if (previous is not null && !string.Equals(previous, blobName, StringComparison.Ordinal))
            {
                await services.Blobs.DeleteQuietlyAsync(previous, ct);
            }

            ETags.Set(response, updated.ETag);
            return TypedResults.Ok(updated.Recipe);
        }
        catch (RecipeChangedException ex)
        {
            await services.Blobs.DeleteQuietlyAsync(blobName, ct);
            return Problems.PreconditionFailed(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeletePdfAsync(
        string projectId, string recipeId, [FromHeader(Name = "If-Match")] string? ifMatch, [AsParameters] RecipeServices services, CancellationToken ct)
    {
        var current = await services.Recipes.GetAsync(projectId, recipeId, ct);
        if (current is null)
        {
            return NotFound(recipeId);
        }

        if (current.Recipe.InstructionsPdf is null)
        {
            return Problems.NotFound($"Recipe '{recipeId}' has no instructions PDF.");
        }

        string? removed = null;
        try
        {
            var updated = await services.Recipes.UpdateAsync(projectId, recipeId, ETags.Unquote(ifMatch), r =>
            {
                removed = r.InstructionsPdf?.BlobName;
                return r with { InstructionsPdf = null };
            }, ct);
            if (updated is null)
            {
                return NotFound(recipeId);
            }
        }
        catch (RecipeChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }

        if (removed is null)
        {
            return Problems.NotFound($"Recipe '{recipeId}' has no instructions PDF.");
        }

        await services.Blobs.DeleteQuietlyAsync(removed, ct);
        return TypedResults.NoContent();
    }

    private static ValidationProblem Invalid(IReadOnlyList<RecipeError> errors) =>
        Problems.Validation(errors.GroupBy(e => e.Path, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray(), StringComparer.Ordinal));

    private static ProblemHttpResult TooLarge(long limit) => TypedResults.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Payload too large",
        detail: $"The instructions PDF may be at most {limit} bytes.");

    private static ProblemHttpResult NotFound(string recipeId) => Problems.NotFound($"Recipe '{recipeId}' does not exist in this project.");
}
