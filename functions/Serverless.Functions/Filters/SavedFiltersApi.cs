using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Filters;

/// <summary>Body of creating (both required) or changing (either) a saved filter.</summary>
/// <param name="Name">Unique in the project, ignoring case; 1..100 characters.</param>
/// <param name="Query">A filter request over items: <c>{"filter": ..., "sort": [...], "pageSize": n}</c>, as sent to the items query.</param>
public sealed record SavedFilterRequest(string? Name, JsonElement? Query);

/// <summary>What the saved filter endpoints need from DI.</summary>
public sealed record SavedFilterServices(SavedFilterStore Filters);

/// <summary>
/// Saved item filters of a project (<c>api/projects/{projectId}/filters</c>): every member reads them,
/// managers change them. The query is validated by the filter language's compiler against the item
/// fields, exactly as <c>POST .../items/query</c> does; errors name the offending JSON pointer under
/// <c>/query</c>.
/// </summary>
public static class SavedFiltersApi
{
    public const int MaxNameLength = 100;

    public static IEndpointRouteBuilder MapSavedFiltersApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var filters = app.MapGroup("api/projects/{projectId}/filters").WithTags("Saved filters");
        filters.MapGet("/", ListAsync).WithName("ListSavedFilters").RequirePermission(Permission.SavedFiltersRead);
        filters.MapPost("/", CreateAsync).WithName("CreateSavedFilter").RequirePermission(Permission.SavedFiltersManage);
        filters.MapGet("/{filterId}", GetAsync).WithName("GetSavedFilter").RequirePermission(Permission.SavedFiltersRead);
        filters.MapPatch("/{filterId}", UpdateAsync).WithName("UpdateSavedFilter").RequirePermission(Permission.SavedFiltersManage);
        filters.MapDelete("/{filterId}", DeleteAsync).WithName("DeleteSavedFilter").RequirePermission(Permission.SavedFiltersManage);
        return app;
    }

    internal static async Task<Ok<IReadOnlyList<SavedFilter>>> ListAsync(string projectId, [AsParameters] SavedFilterServices services, CancellationToken ct) =>
        TypedResults.Ok(await services.Filters.ListAsync(projectId, ct));

    internal static async Task<Results<Ok<SavedFilter>, ProblemHttpResult>> GetAsync(string projectId, string filterId, [AsParameters] SavedFilterServices services, CancellationToken ct)
    {
        var filter = await services.Filters.GetAsync(projectId, filterId, ct);
        return filter is null ? NotFound(projectId, filterId) : TypedResults.Ok(filter);
    }

    internal static async Task<Results<Created<SavedFilter>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        string projectId, SavedFilterRequest request, ClaimsPrincipal principal, [AsParameters] SavedFilterServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, MaxNameLength);
        if (request.Query is null)
        {
            errors.Add("query", "'query' is required: a filter request such as {\"filter\": {\"dir\": \"/cats\"}}.");
        }
        else
        {
            ValidateQuery(request.Query.Value, errors);
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        try
        {
            var filter = await services.Filters.CreateAsync(projectId, name!, request.Query!.Value, Caller.From(principal).UserId, ct);
            return TypedResults.Created($"/api/projects/{projectId}/filters/{filter.Id}", filter);
        }
        catch (Exception ex) when (ex is SavedFilterNameTakenException or SavedFilterLimitException)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<Ok<SavedFilter>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        string projectId, string filterId, SavedFilterRequest request, [AsParameters] SavedFilterServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, MaxNameLength, required: false);
        if (request.Name is null && request.Query is null)
        {
            errors.Add("body", "Send 'name', 'query' or both.");
        }

        if (request.Query is { } query)
        {
            ValidateQuery(query, errors);
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        try
        {
            var updated = await services.Filters.UpdateAsync(projectId, filterId, name, request.Query, ct);
            return updated is null ? NotFound(projectId, filterId) : TypedResults.Ok(updated);
        }
        catch (SavedFilterNameTakenException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string projectId, string filterId, [AsParameters] SavedFilterServices services, CancellationToken ct) =>
        await services.Filters.DeleteAsync(projectId, filterId, ct) ? TypedResults.NoContent() : NotFound(projectId, filterId);

    /// <summary>The items query's own compiler and catalog; a stored continuation token would go stale, so it is refused.</summary>
    private static void ValidateQuery(JsonElement query, FieldErrors errors)
    {
        if (query.ValueKind == JsonValueKind.Object && query.TryGetProperty("continuation", out _))
        {
            errors.Add("/query/continuation", "A saved filter holds no continuation token: paging belongs to each run of the query.");
            return;
        }

        if (query.GetRawText().Length > FilterLimits.MaxRequestBytes)
        {
            errors.Add("query", $"'query' is larger than {FilterLimits.MaxRequestBytes} bytes.");
            return;
        }

        try
        {
            _ = FilterCompiler.Compile(query, FieldCatalogs.Items);
        }
        catch (FilterException ex)
        {
            errors.Add("/query" + ex.Path, ex.Message);
        }
    }

    private static ProblemHttpResult NotFound(string projectId, string filterId) =>
        Problems.NotFound($"Project '{projectId}' has no saved filter '{filterId}'.");
}

/// <summary>Registers saved filters.</summary>
public static class SavedFiltersRegistration
{
    public static IHostApplicationBuilder AddSavedFilters(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. SavedFilterContainers.All]);
        builder.Services.AddSingleton<SavedFilterStore>();
        return builder;
    }
}
