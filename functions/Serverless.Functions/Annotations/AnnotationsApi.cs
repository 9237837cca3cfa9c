using System.Globalization;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Serverless.Core.Annotations;
using Serverless.Core.Recipes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Recipes;

namespace Serverless.Functions.Annotations;

/// <summary>What the annotation endpoints need from DI.</summary>
public sealed record AnnotationServices(DatasetStore Datasets, RecipeStore Recipes, ProjectStore Projects, AnnotationStore Annotations, Tasks.TaskStore Tasks, ActivityLog Activity, TimeProvider Time);

/// <summary>
/// An item's annotations (<c>api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/annotations</c>).
/// Every write is validated against the dataset's recipe (class, shape, attributes) and the item (geometry
/// inside the image, frames inside the video), is recorded in the activity log, and — when the project
/// requires it — is refused while the item holds a status in a task. Annotators and reviewers write only on
/// items assigned to them in some task (their assignments); managers and above on any item.
/// </summary>
public static class AnnotationsApi
{
    public static IEndpointRouteBuilder MapAnnotationsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var annotations = app.MapGroup("api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/annotations").WithTags("Annotations");
        annotations.MapPost("/", CreateAsync).WithName("CreateAnnotations").RequirePermission(Permission.AnnotationsWrite)
            .ProducesProblem(StatusCodes.Status409Conflict);
        annotations.MapGet("/", ListAsync).WithName("ListAnnotations").RequirePermission(Permission.AnnotationsRead);
        annotations.MapGet("/{annotationId}", GetAsync).WithName("GetAnnotation").RequirePermission(Permission.AnnotationsRead);
        annotations.MapPut("/{annotationId}", ReplaceAsync).WithName("ReplaceAnnotation").RequirePermission(Permission.AnnotationsWrite)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status412PreconditionFailed);
        annotations.MapDelete("/{annotationId}", DeleteAsync).WithName("DeleteAnnotation").RequirePermission(Permission.AnnotationsWrite)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status412PreconditionFailed);
        return app;
    }

    /// <summary><c>POST</c>: 1 to 50 annotations, created together or not at all; every invalid field of every entry is reported.</summary>
    internal static async Task<Results<Created<CreatedAnnotations>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        string projectId, string datasetId, string itemId, CreateAnnotationsRequest request, HttpContext http, ClaimsPrincipal principal, [AsParameters] AnnotationServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (await NotAssignedAsync(http, principal, datasetId, itemId, services, ct) is { } notYours)
        {
            return notYours;
        }

        if (request.Annotations is not { Count: > 0 and <= AnnotationStore.MaxPerRequest })
        {
            return Problems.Validation("annotations", $"'annotations' is a list of 1 to {AnnotationStore.MaxPerRequest} annotations.");
        }

        var context = await LoadAsync(projectId, datasetId, itemId, services, ct);
        if (context.Problem is { } problem)
        {
            return problem;
        }

        var errors = new FieldErrors();
        var valid = new List<ValidAnnotation>();
        for (var i = 0; i < request.Annotations.Count; i++)
        {
            if (Validate(context.Recipe!, request.Annotations[i], context.Bounds, $"/annotations/{i}", errors) is { } annotation)
            {
                valid.Add(annotation);
            }
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var caller = Caller.From(principal);
        try
        {
            var created = await services.Annotations.CreateAsync(projectId, datasetId, itemId, valid, new AnnotationActor(caller.UserId, caller.KeyId), context.RequireStatusClear, ct);
            if (created is null)
            {
                return ItemNotFound(projectId, datasetId, itemId);
            }

            await services.Activity.RecordAsync([.. created.Select(a => Event(a.Annotation, ActivityKinds.AnnotationCreated, caller, $"{a.Annotation.Id}.created"))], CancellationToken.None);
            return TypedResults.Created($"/api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/annotations", new CreatedAnnotations([.. created.Select(a => a.Annotation)]));
        }
        catch (ItemStatusLockedException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<Ok<Page<Annotation>>, ValidationProblem, ProblemHttpResult>> ListAsync(
        string projectId, string datasetId, string itemId, int? pageSize, string? continuationToken, [AsParameters] AnnotationServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct) || await services.Annotations.ReadItemAsync(datasetId, itemId, ct) is null)
        {
            return ItemNotFound(projectId, datasetId, itemId);
        }

        return TypedResults.Ok(await services.Annotations.ListAsync(datasetId, itemId, size, continuationToken, ct));
    }

    internal static async Task<Results<Ok<Annotation>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, string itemId, string annotationId, HttpResponse response, [AsParameters] AnnotationServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        var found = await services.Datasets.ExistsAsync(projectId, datasetId, ct) ? await services.Annotations.GetAsync(datasetId, itemId, annotationId, ct) : null;
        if (found is null)
        {
            return AnnotationNotFound(itemId, annotationId);
        }

        ETags.Set(response, found.ETag);
        return TypedResults.Ok(found.Annotation);
    }

    /// <summary><c>PUT</c>: replaces the annotation; with <c>If-Match</c> only the version the client read (412 otherwise).</summary>
    internal static async Task<Results<Ok<Annotation>, ValidationProblem, ProblemHttpResult>> ReplaceAsync(
        string projectId, string datasetId, string itemId, string annotationId, AnnotationDraft request, [FromHeader(Name = "If-Match")] string? ifMatch,
        HttpContext http, ClaimsPrincipal principal, HttpResponse response, [AsParameters] AnnotationServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (await NotAssignedAsync(http, principal, datasetId, itemId, services, ct) is { } notYours)
        {
            return notYours;
        }

        var context = await LoadAsync(projectId, datasetId, itemId, services, ct);
        if (context.Problem is { } problem)
        {
            return problem;
        }

        var errors = new FieldErrors();
        if (Validate(context.Recipe!, request, context.Bounds, string.Empty, errors) is not { } change)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var caller = Caller.From(principal);
        try
        {
            var updated = await services.Annotations.ReplaceAsync(datasetId, itemId, annotationId, change, ETags.Unquote(ifMatch), new AnnotationActor(caller.UserId, caller.KeyId), context.RequireStatusClear, ct);
            if (updated is null)
            {
                return AnnotationNotFound(itemId, annotationId);
            }

            await services.Activity.RecordAsync([Event(updated.Annotation, ActivityKinds.AnnotationEdited, caller, $"{annotationId}.edited.{updated.Annotation.UpdatedAt}")], CancellationToken.None);
            ETags.Set(response, updated.ETag);
            return TypedResults.Ok(updated.Annotation);
        }
        catch (AnnotationChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }
        catch (ItemStatusLockedException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string projectId, string datasetId, string itemId, string annotationId, [FromHeader(Name = "If-Match")] string? ifMatch,
        HttpContext http, ClaimsPrincipal principal, [AsParameters] AnnotationServices services, CancellationToken ct)
    {
        if (await NotAssignedAsync(http, principal, datasetId, itemId, services, ct) is { } notYours)
        {
            return notYours;
        }

        var project = await services.Projects.GetAsync(projectId, ct);
        if (project is null || !await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return AnnotationNotFound(itemId, annotationId);
        }

        var caller = Caller.From(principal);
        try
        {
            var deleted = await services.Annotations.DeleteAsync(datasetId, itemId, annotationId, ETags.Unquote(ifMatch), project.Project.Settings.RequireStatusClearBeforeEdit, ct);
            if (deleted is null)
            {
                return AnnotationNotFound(itemId, annotationId);
            }

            await services.Activity.RecordAsync([Event(deleted, ActivityKinds.AnnotationDeleted, caller, $"{annotationId}.deleted")], CancellationToken.None);
            return TypedResults.NoContent();
        }
        catch (AnnotationChangedException ex)
        {
            return Problems.PreconditionFailed(ex.Message);
        }
        catch (ItemStatusLockedException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    /// <summary>Checks one draft against the recipe and the item; adds every error under <paramref name="prefix"/>.</summary>
    internal static ValidAnnotation? Validate(Ontology recipe, AnnotationDraft? draft, MediaBounds bounds, string prefix, FieldErrors errors)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(errors);
        if (draft is null)
        {
            errors.Add(prefix.Length == 0 ? "body" : prefix, "An annotation object is required.");
            return null;
        }

        var attributes = draft.Attributes ?? [];
        var found = AnnotationValidator.Validate(recipe, draft.Label, recipe.FindClass(draft.Label)?.Shape ?? ShapeKind.Classification, attributes.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal)).ToList();
        var labelClass = recipe.FindClass(draft.Label);
        if (labelClass is not null)
        {
            found.AddRange(GeometryValidator.Validate(labelClass.Shape, draft.Geometry, draft.Frame, draft.Frames, bounds));
        }

        foreach (var error in found)
        {
            errors.Add(prefix + error.Path, error.Message);
        }

        if (found.Count > 0 || labelClass is null)
        {
            return null;
        }

        long? frame = draft.Frame is null ? null : (long)draft.Frame.GetValue<double>();
        var frames = draft.Frames is JsonObject range ? new FrameRange((long)range["start"]!.GetValue<double>(), (long)range["end"]!.GetValue<double>()) : null;
        return new ValidAnnotation(labelClass.Name, labelClass.Shape.ToString().ToLowerInvariant(), draft.Geometry?.DeepClone(), (JsonObject)attributes.DeepClone(), frame, frames);
    }

    /// <summary>The item's size and frames as the validator needs them (from the item's system metadata).</summary>
    internal static MediaBounds BoundsOf(StoredDocument item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var system = item.Body["metadata"]?["system"];
        return new MediaBounds(Number(system?["width"]), Number(system?["height"]), (long?)Number(system?["frames"]), item.Body["type"]?.GetValue<string>() == "video");
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == System.Text.Json.JsonValueKind.Number ? value.GetValue<double>() : null;

    /// <summary>403 when an annotator or reviewer writes on an item that no task assigns to them; null otherwise.</summary>
    private static async Task<ProblemHttpResult?> NotAssignedAsync(HttpContext http, ClaimsPrincipal principal, string datasetId, string itemId, AnnotationServices services, CancellationToken ct) =>
        AccessMiddleware.SeesOnlyOwnWork(http) && !await services.Tasks.IsAssignedAsync(datasetId, itemId, Caller.From(principal).UserId, ct)
            ? Problems.Forbidden($"Item '{itemId}' is not assigned to you in any task: annotators and reviewers change annotations only on their assignments.")
            : null;

    private static async Task<WriteContext> LoadAsync(string projectId, string datasetId, string itemId, AnnotationServices services, CancellationToken ct)
    {
        var project = await services.Projects.GetAsync(projectId, ct);
        var dataset = project is null ? default : await services.Datasets.GetRecipeIdAsync(projectId, datasetId, ct);
        var item = dataset.Exists ? await services.Annotations.ReadItemAsync(datasetId, itemId, ct) : null;
        if (item is null)
        {
            return new WriteContext(null, MediaBounds.Unknown, false, ItemNotFound(projectId, datasetId, itemId));
        }

        var recipe = dataset.RecipeId is { } recipeId ? await services.Recipes.GetAsync(projectId, recipeId, ct) : null;
        if (recipe is null)
        {
            return new WriteContext(null, MediaBounds.Unknown, false, Problems.Conflict(
                $"Dataset '{datasetId}' has no recipe, so annotations cannot be checked: choose one with PUT /api/projects/{projectId}/datasets/{datasetId}/recipe."));
        }

        return new WriteContext(recipe.Recipe.ToOntology(), BoundsOf(item), project!.Project.Settings.RequireStatusClearBeforeEdit, null);
    }

    private static ActivityEvent Event(Annotation annotation, string kind, Caller caller, string id) => new(
        id,
        annotation.ProjectId,
        kind,
        caller.UserId,
        "key:" + caller.KeyId,
        annotation.UpdatedAt,
        DatasetId: annotation.DatasetId,
        ItemId: annotation.ItemId,
        AnnotationId: annotation.Id,
        Label: annotation.Label);

    private static ProblemHttpResult ItemNotFound(string projectId, string datasetId, string itemId) =>
        Problems.NotFound($"Dataset '{datasetId}' of project '{projectId}' has no item '{itemId}'.");

    private static ProblemHttpResult AnnotationNotFound(string itemId, string annotationId) =>
        Problems.NotFound($"Item '{itemId}' has no annotation '{annotationId}'.");

    private sealed record WriteContext(Ontology? Recipe, MediaBounds Bounds, bool RequireStatusClear, ProblemHttpResult? Problem);
}

/// <summary>Registers annotations and the activity log.</summary>
public static class AnnotationsRegistration
{
    public static IHostApplicationBuilder AddAnnotations(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. ActivityContainers.All]);
        builder.Services.AddSingleton<AnnotationStore>();
        builder.Services.AddSingleton<ActivityLog>();

        // Annotations live in the dataset partitions the cascade empties; the log has its own project partition.
        builder.Services.AddSingleton(new Projects.ProjectCascadeTarget(ActivityContainers.Activity, ActivityContainers.Partition));
        return builder;
    }
}
