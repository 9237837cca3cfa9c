using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Datasets;

/// <summary>Body of <c>POST /api/projects/{projectId}/datasets</c>.</summary>
public sealed record CreateDatasetRequest(string? Name);

/// <summary>Body of <c>PATCH /api/projects/{projectId}/datasets/{datasetId}</c>.</summary>
public sealed record RenameDatasetRequest(string? Name);

/// <summary>What the dataset endpoints need from DI.</summary>
public sealed record DatasetServices(DatasetStore Datasets);

/// <summary>What the clone and merge endpoints need from DI.</summary>
public sealed record DatasetCopyServices(DatasetStore Datasets, ProjectOrchestrations Orchestrations);

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
        datasets.MapDelete("/{datasetId}", DeleteAsync).WithName("DeleteDataset").RequirePermission(Permission.DatasetsDelete)
            .Produces<OrchestrationAccepted>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status409Conflict);
        datasets.MapPost("/{datasetId}/clone", CloneAsync).WithName("CloneDataset").RequirePermission(Permission.DatasetsCopy)
            .Produces<OrchestrationAccepted>(StatusCodes.Status202Accepted).ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        datasets.MapPost("/merge", MergeAsync).WithName("MergeDatasets").RequirePermission(Permission.DatasetsCopy)
            .Produces<OrchestrationAccepted>(StatusCodes.Status202Accepted).ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
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

    /// <summary>
    /// Starts the <see cref="DeleteDataset"/> cascade (one instance per dataset), then removes the dataset document, so
    /// from this <c>202</c> on the dataset is 404 everywhere while its tasks, items, annotations and files are deleted.
    /// </summary>
    internal static async Task<IResult> DeleteAsync(
        string projectId, string datasetId, bool? force, HttpRequest http, [AsParameters] DatasetServices services, ProjectOrchestrations orchestrations, CancellationToken ct)
    {
        try
        {
            if (!await services.Datasets.CheckDeletableAsync(projectId, datasetId, force ?? false, ct))
            {
                return NotFound(projectId, datasetId);
            }
        }
        catch (DatasetNotEmptyException ex)
        {
            return Problems.Conflict(ex.Message);
        }

        var instanceId = await orchestrations.StartAsync(projectId, nameof(DeleteDataset), nameof(DeleteDataset), new Projects.DatasetRef(projectId, datasetId), datasetId, ct);
        await services.Datasets.RemoveAsync(projectId, datasetId, ct);
        return OrchestrationAccepted.Result(http, projectId, instanceId);
    }

    /// <summary>
    /// <c>POST .../datasets/{datasetId}/clone</c>: starts a <see cref="CloneDataset"/> orchestration and answers 202
    /// with its status URLs; the new dataset's id is in the status's <c>customStatus.targetDatasetId</c> from the start.
    /// </summary>
    internal static async Task<IResult> CloneAsync(
        string projectId, string datasetId, CloneDatasetRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] DatasetCopyServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var filter = FilterText(request.Filter, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return NotFound(projectId, datasetId);
        }

        return await StartCopyAsync(nameof(CloneDataset), projectId, name!, [datasetId], filter, request.WithMetadata, request.WithAnnotations, http, principal, services, ct);
    }

    /// <summary><c>POST .../datasets/merge</c>: starts a <see cref="MergeDatasets"/> orchestration over 2 to 20 datasets of the project.</summary>
    internal static async Task<IResult> MergeAsync(
        string projectId, MergeDatasetsRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] DatasetCopyServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        var filter = FilterText(request.Filter, errors);
        var ids = request.DatasetIds ?? [];
        if (ids.Count is < 2 or > DatasetCopyInput.MaxMergeSources || ids.Any(string.IsNullOrEmpty))
        {
            errors.Add("datasetIds", $"'datasetIds' must list 2 to {DatasetCopyInput.MaxMergeSources} dataset ids; it lists {ids.Count}.");
        }
        else if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Count)
        {
            errors.Add("datasetIds", "'datasetIds' lists a dataset more than once.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        foreach (var id in ids)
        {
            if (!await services.Datasets.ExistsAsync(projectId, id!, ct))
            {
                return NotFound(projectId, id!);
            }
        }

        return await StartCopyAsync(nameof(MergeDatasets), projectId, name!, [.. ids.Select(i => i!)], filter, request.WithMetadata, request.WithAnnotations, http, principal, services, ct);
    }

    private static async Task<IResult> StartCopyAsync(
        string orchestrator, string projectId, string name, IReadOnlyList<string> sources, string? filter, bool? withMetadata, bool? withAnnotations,
        HttpRequest http, ClaimsPrincipal principal, DatasetCopyServices services, CancellationToken ct)
    {
        // The instance id is chosen here so the target dataset's id (derived from it) is fixed before anything runs.
        var key = Ids.New("c");
        var instanceId = ProjectOrchestrations.InstanceId(projectId, orchestrator, key);
        var input = new DatasetCopyInput(projectId, DatasetCopier.TargetDatasetId(instanceId), name, sources, filter,
            withMetadata ?? true, withAnnotations ?? false, Caller.From(principal).UserId);
        var started = await services.Orchestrations.StartAsync(projectId, orchestrator, orchestrator, input, key, ct);
        return OrchestrationAccepted.Result(http, projectId, started);
    }

    /// <summary>The filter expression as JSON text once it compiles, or null for "every item".</summary>
    private static string? FilterText(JsonElement? filter, FieldErrors errors)
    {
        if (filter is not { } value || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        try
        {
            var text = value.GetRawText();
            return FilterCompiler.CompileFilter(text, FieldCatalogs.Items) is null ? null : text;
        }
        catch (FilterException ex)
        {
            errors.Add("filter" + ex.Path, ex.Message);
            return null;
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
        builder.Services.AddSingleton<DatasetCopier>();
        builder.Services.AddDurableTasks(r => r
            .AddOrchestrator<CloneDataset>()
            .AddOrchestrator<MergeDatasets>()
            .AddActivity<CreateCopyTarget>()
            .AddActivity<CountCopySource>()
            .AddActivity<CopyItemsPage>()
            .AddActivity<CompleteCopyTarget>()
            .AddOrchestrator<DeleteDataset>()
            .AddActivity<ListDatasetChildren>()
            .AddActivity<DeleteDocument>()
            .AddActivity<PurgeDatasetBlobs>());
        return builder;
    }
}
