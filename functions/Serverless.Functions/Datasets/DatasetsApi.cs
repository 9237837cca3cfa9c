using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Datasets;

/// <summary>Body of <c>POST /api/projects/{projectId}/datasets</c>.</summary>
public sealed record CreateDatasetRequest(string? Name);

/// <summary>Body of <c>PATCH /api/projects/{projectId}/datasets/{datasetId}</c>.</summary>
public sealed record RenameDatasetRequest(string? Name);

/// <summary>What the dataset endpoints need from DI.</summary>
public sealed record DatasetServices(DatasetStore Datasets);

/// <summary>Datasets of a project (<c>api/projects/{projectId}/datasets</c>).</summary>
public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var datasets = app.MapGroup("api/projects/{projectId}/datasets").WithTags("Datasets");
        datasets.MapPost("/", CreateAsync).WithName("CreateDataset").RequirePermission(Permission.DatasetsManage);
        datasets.MapGet("/", ListAsync).WithName("ListDatasets").RequirePermission(Permission.DatasetsRead);
        datasets.MapGet("/{datasetId}", GetAsync).WithName("GetDataset").RequirePermission(Permission.DatasetsRead);
        datasets.MapPatch("/{datasetId}", RenameAsync).WithName("RenameDataset").RequirePermission(Permission.DatasetsManage);
        datasets.MapDelete("/{datasetId}", DeleteAsync).WithName("DeleteDataset").RequirePermission(Permission.DatasetsDelete);
        return app;
    }

    internal static async Task<Results<Created<Dataset>, ValidationProblem>> CreateAsync(
        string projectId, CreateDatasetRequest request, ClaimsPrincipal principal, [AsParameters] DatasetServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var dataset = await services.Datasets.CreateAsync(projectId, name!, Caller.From(principal).UserId, ct);
        return TypedResults.Created($"/api/projects/{projectId}/datasets/{dataset.Id}", dataset);
    }

    internal static async Task<Results<Ok<Page<Dataset>>, ValidationProblem>> ListAsync(
        string projectId, int? pageSize, string? continuationToken, [AsParameters] DatasetServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Datasets.ListAsync(projectId, size, continuationToken, ct));
    }

    internal static async Task<Results<Ok<Dataset>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, [AsParameters] DatasetServices services, CancellationToken ct)
    {
        var dataset = await services.Datasets.GetAsync(projectId, datasetId, ct);
        return dataset is null ? NotFound(projectId, datasetId) : TypedResults.Ok(dataset);
    }

    internal static async Task<Results<Ok<Dataset>, ValidationProblem, ProblemHttpResult>> RenameAsync(
        string projectId, string datasetId, RenameDatasetRequest request, [AsParameters] DatasetServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var dataset = await services.Datasets.RenameAsync(projectId, datasetId, name!, ct);
        return dataset is null ? NotFound(projectId, datasetId) : TypedResults.Ok(dataset);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string projectId, string datasetId, bool? force, [AsParameters] DatasetServices services, CancellationToken ct)
    {
        try
        {
            return await services.Datasets.DeleteAsync(projectId, datasetId, force ?? false, ct)
                ? TypedResults.NoContent()
                : NotFound(projectId, datasetId);
        }
        catch (DatasetNotEmptyException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    internal static ProblemHttpResult NotFound(string projectId, string datasetId) =>
        Problems.NotFound($"Project '{projectId}' has no dataset '{datasetId}'.");
}

/// <summary>Registers the datasets feature.</summary>
public static class DatasetsRegistration
{
    public static IHostApplicationBuilder AddDatasets(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDocumentContainers([.. DatasetContainers.All]);
        builder.Services.AddSingleton<DatasetStore>();
        return builder;
    }
}
