using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Imports;

/// <summary>What the import endpoints need from DI.</summary>
public sealed record ImportServices(
    ImportStore Imports,
    DatasetStore Datasets,
    IBlobStore Blobs,
    ProjectOrchestrations Orchestrations,
    IOptions<ImportsOptions> Options,
    TimeProvider Time);

/// <summary>
/// Imports of pre-labels into a dataset (<c>api/projects/{projectId}/datasets/{datasetId}/imports</c>): the file is
/// the request body, streamed to blob storage under a size cap, then read by the <see cref="ImportLabels"/> orchestration.
/// </summary>
public static class ImportsApi
{
    public static IEndpointRouteBuilder MapImportsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var imports = app.MapGroup("api/projects/{projectId}/datasets/{datasetId}/imports").WithTags("Imports");
        imports.MapPost("/", CreateAsync).WithName("CreateImport").RequirePermission(Permission.ImportsManage)
            .WithDescription("The body is the file (our labels JSON export, or COCO), streamed to blob storage; ?format=json|coco. 413 over Imports:MaxUploadBytes.")
            .Produces<ImportAccepted>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        imports.MapGet("/{importId}", GetAsync).WithName("GetImport").RequirePermission(Permission.ImportsManage);
        return app;
    }

    /// <summary><c>POST .../imports?format=json|coco</c>: stores the body, records the import and starts <see cref="ImportLabels"/> (202).</summary>
    internal static async Task<IResult> CreateAsync(
        string projectId, string datasetId, string? format, HttpRequest request, ClaimsPrincipal principal, [AsParameters] ImportServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var kind = format?.Trim().ToLowerInvariant();
        if (kind is not (ImportFormats.Json or ImportFormats.Coco))
        {
            return Problems.Validation("format", "'format' is required in the query: \"json\" (our labels export) or \"coco\".");
        }

        var dataset = await services.Datasets.GetRecipeIdAsync(projectId, datasetId, ct);
        if (!dataset.Exists)
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        if (dataset.RecipeId is null)
        {
            return Problems.Conflict($"Dataset '{datasetId}' has no recipe, so imported labels cannot be checked: choose one with PUT /api/projects/{projectId}/datasets/{datasetId}/recipe.");
        }

        var limit = services.Options.Value.MaxUploadBytes;
        if (request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            // The server's default cap (30 MB on Kestrel) is below ours; ours is enforced while streaming.
            bodySize.MaxRequestBodySize = limit + 1;
        }

        var importId = Ids.New("im");
        var container = services.Options.Value.BlobContainer;
        var blobName = $"{projectId}/{datasetId}/{importId}.json";
        BlobProperties stored;
        try
        {
            await services.Blobs.CreateContainerIfNotExistsAsync(container, ct);
            await using var limited = new LimitedReadStream(request.Body, limit);
            stored = await services.Blobs.UploadAsync(container, blobName, limited, new BlobUploadOptions("application/json", IfNoneMatchAny: true), ct);
        }
        catch (UploadTooLargeException)
        {
            // Blocks staged so far were never committed; the service discards them.
            return TooLarge(limit);
        }

        var instanceId = ProjectOrchestrations.InstanceId(projectId, nameof(ImportLabels), importId);
        var now = StoredTimestamp.Format(services.Time.GetUtcNow());
        await services.Imports.CreateAsync(
            new Import(importId, projectId, datasetId, kind, ImportFormats.Running, blobName, stored.Length, new ImportCounts(0, 0, 0, 0, 0), [], 0, null, now, Caller.From(principal).UserId, now, instanceId),
            ct);
        await services.Orchestrations.StartAsync(projectId, nameof(ImportLabels), nameof(ImportLabels), new ImportInput(projectId, importId), importId, ct);
        var urls = OrchestrationAccepted.For(request, projectId, instanceId);
        var body = new ImportAccepted(importId, urls.Id, urls.StatusQueryGetUri, urls.SendEventPostUri, urls.TerminatePostUri, urls.SuspendPostUri, urls.ResumePostUri, urls.PurgeHistoryDeleteUri);
        return TypedResults.Accepted($"/api/projects/{projectId}/datasets/{datasetId}/imports/{importId}", body);
    }

    internal static async Task<Results<Ok<Import>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, string importId, [AsParameters] ImportServices services, CancellationToken ct) =>
        await services.Imports.GetAsync(projectId, importId, ct) is { } import && import.DatasetId == datasetId
            ? TypedResults.Ok(import)
            : Problems.NotFound($"Dataset '{datasetId}' of project '{projectId}' has no import '{importId}'.");

    private static ProblemHttpResult TooLarge(long limit) => TypedResults.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Payload too large",
        detail: $"An import file may be at most {limit} bytes (Imports:MaxUploadBytes).");
}

/// <summary>Registers the imports feature.</summary>
public static class ImportsRegistration
{
    public static IHostApplicationBuilder AddImports(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ImportsOptions>()
            .BindConfiguration(ImportsOptions.Section)
            .Validate(o => o.Validate().Count == 0, "Imports settings are invalid: BlobContainer is required, MaxUploadBytes positive, MaxStoredErrors 1-10000.")
            .ValidateOnStart();
        builder.Services.AddDocumentContainers([.. ImportContainers.All]);
        builder.Services.AddSingleton<ImportStore>();
        builder.Services.AddSingleton<ImportRunner>();

        // Deleting a project deletes its import records (one partition) and the uploaded files.
        builder.Services.AddSingleton(new ProjectCascadeTarget(ImportContainers.Imports, ImportContainers.Partition));
        builder.Services.AddSingleton(sp => new ProjectCascadeBlobs(sp.GetRequiredService<IOptions<ImportsOptions>>().Value.BlobContainer));
        builder.Services.AddDurableTasks(r => r
            .AddOrchestrator<ImportLabels>()
            .AddActivity<RunImport>()
            .AddActivity<FailImport>());
        return builder;
    }
}
