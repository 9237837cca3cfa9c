using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Recipes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Recipes;

/// <summary>
/// Recipes in the document store, one document each in the project's partition. Every write is
/// guarded by the document's ETag: with the client's If-Match a mismatch throws
/// <see cref="RecipeChangedException"/>; without it, a concurrent write is re-applied on fresh data,
/// so <see cref="Recipe.UsedBy"/> and the PDF reference are never lost to a racing update.
/// </summary>
public sealed class RecipeStore(IDocumentStore store, TimeProvider time)
{
    private const int MaxAttempts = 30;

    private IDocumentContainer Container => store.Container(RecipeContainers.Recipes);

    public async Task<VersionedRecipe> CreateAsync(string projectId, Ontology ontology, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ontology);
        var now = time.GetUtcNow();
        var recipe = new Recipe(Ids.New("r"), projectId, ontology.Name, ontology.Classes, ontology.Instructions, null, [], userId, now, now);
        var doc = await Container.CreateAsync(RecipeContainers.Partition(projectId), recipe.Id, Body(recipe), ct);
        return new VersionedRecipe(recipe, doc.ETag);
    }

    /// <summary>The recipe, or null when the project has no such recipe.</summary>
    public async Task<VersionedRecipe?> GetAsync(string projectId, string recipeId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(recipeId))
        {
            return null;
        }

        var doc = await Container.ReadAsync(RecipeContainers.Partition(projectId), recipeId, ct);
        return doc is null ? null : new VersionedRecipe(doc.Body.Deserialize<Recipe>(DocumentJson.Options)!, doc.ETag);
    }

    public async Task<Page<RecipeSummary>> ListAsync(string projectId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Container.QueryAsync(
            new DocumentQuery(RecipeContainers.Partition(projectId), Filter.Eq("type", RecipeContainers.RecipeType), [new SortField("createdAt")], pageSize, continuationToken),
            ct);
        var items = page.Items
            .Select(d => d.Body.Deserialize<Recipe>(DocumentJson.Options)!)
            .Select(r => new RecipeSummary(r.Id, r.Name, r.Classes.Count, r.InstructionsPdf is not null, r.UsedBy, r.UpdatedAt))
            .ToList();
        return new Page<RecipeSummary>(items, page.ContinuationToken);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the current recipe and writes it. Returns null when the
    /// recipe does not exist. <paramref name="change"/> may run more than once (on fresh data each time).
    /// </summary>
    /// <exception cref="RecipeChangedException">The recipe's ETag is not <paramref name="ifMatch"/>.</exception>
    public async Task<VersionedRecipe?> UpdateAsync(string projectId, string recipeId, string? ifMatch, Func<Recipe, Recipe> change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            var current = await GetAsync(projectId, recipeId, ct);
            if (current is null)
            {
                return null;
            }

            if (ifMatch is not null && !ETags.Same(ifMatch, current.ETag))
            {
                throw new RecipeChangedException(recipeId);
            }

            var updated = change(current.Recipe) with { Id = recipeId, ProjectId = projectId, UpdatedAt = time.GetUtcNow() };
            try
            {
                var doc = await Container.ReplaceAsync(RecipeContainers.Partition(projectId), recipeId, Body(updated), current.ETag, ct);
                return new VersionedRecipe(updated, doc.ETag);
            }
            catch (DocumentNotFoundException)
            {
                return null;
            }
            catch (DocumentPreconditionFailedException) when (ifMatch is null && attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
            catch (DocumentPreconditionFailedException)
            {
                throw new RecipeChangedException(recipeId);
            }
        }
    }

    /// <summary>
    /// Deletes the recipe unless a dataset uses it. The delete is guarded by the ETag of the version
    /// that was checked, so a dataset attaching itself concurrently makes the delete re-check, not succeed.
    /// Returns the outcome and, when deleted, the recipe as it was (its PDF blob is the caller's to remove).
    /// </summary>
    public async Task<(RecipeDeleteOutcome Outcome, Recipe? Recipe)> DeleteAsync(string projectId, string recipeId, string? ifMatch, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var current = await GetAsync(projectId, recipeId, ct);
            if (current is null)
            {
                return (RecipeDeleteOutcome.NotFound, null);
            }

            if (ifMatch is not null && !ETags.Same(ifMatch, current.ETag))
            {
                throw new RecipeChangedException(recipeId);
            }

            if (current.Recipe.UsedBy.Count > 0)
            {
                return (RecipeDeleteOutcome.InUse, current.Recipe);
            }

            try
            {
                await Container.DeleteAsync(RecipeContainers.Partition(projectId), recipeId, current.ETag, ct);
                return (RecipeDeleteOutcome.Deleted, current.Recipe);
            }
            catch (DocumentNotFoundException)
            {
                return (RecipeDeleteOutcome.NotFound, null);
            }
            catch (DocumentPreconditionFailedException) when (ifMatch is null && attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
            catch (DocumentPreconditionFailedException)
            {
                throw new RecipeChangedException(recipeId);
            }
        }
    }

    /// <summary>Records that dataset <paramref name="datasetId"/> uses the recipe (idempotent). False when the recipe does not exist.</summary>
    public async Task<bool> AddUserAsync(string projectId, string recipeId, string datasetId, CancellationToken ct) =>
        await UpdateAsync(projectId, recipeId, null, r => r.UsedBy.Contains(datasetId, StringComparer.Ordinal) ? r : r with { UsedBy = [.. r.UsedBy, datasetId] }, ct) is not null;

    /// <summary>Records that dataset <paramref name="datasetId"/> no longer uses the recipe (idempotent). False when the recipe does not exist.</summary>
    public async Task<bool> RemoveUserAsync(string projectId, string recipeId, string datasetId, CancellationToken ct) =>
        await UpdateAsync(projectId, recipeId, null, r => r with { UsedBy = [.. r.UsedBy.Where(id => !string.Equals(id, datasetId, StringComparison.Ordinal))] }, ct) is not null;


    private static JsonObject Body(Recipe recipe)
    {
        var body = JsonSerializer.SerializeToNode(recipe, DocumentJson.Options)!.AsObject();
        body["type"] = RecipeContainers.RecipeType;
        return body;
    }
}
