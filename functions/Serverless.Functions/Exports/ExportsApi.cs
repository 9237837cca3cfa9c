using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;
using Serverless.Functions.Tasks;

namespace Serverless.Functions.Exports;

/// <summary>What the export endpoints need from DI.</summary>
public sealed record ExportServices(
    ExportStore Exports,
    ExportWriter Writer,
    DatasetStore Datasets,
    TaskStore Tasks,
    ProjectOrchestrations Orchestrations,
    ExportClock Clock,
    TimeProvider Time);

/// <summary>Exports of labels and label versions of a project (<c>api/projects/{projectId}/exports</c>, <c>.../label-versions</c>).</summary>
public static class ExportsApi
{
    /// <summary>Most entries in <c>onlyStatuses</c> and in <c>labels</c>.</summary>
    public const int MaxListEntries = 100;

    public static IEndpointRouteBuilder MapExportsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var exports = app.MapGroup("api/projects/{projectId}/exports").WithTags("Exports");
        exports.MapPost("/", CreateAsync).WithName("CreateExport").RequirePermission(Permission.ExportsManage)
            .Produces<ExportAccepted>(StatusCodes.Status202Accepted).ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        exports.MapGet("/", ListAsync).WithName("ListExports").RequirePermission(Permission.ExportsRead);
        exports.MapGet("/{exportId}", GetAsync).WithName("GetExport").RequirePermission(Permission.ExportsRead);
        exports.MapPatch("/{exportId}", RenameAsync).WithName("RenameExport").RequirePermission(Permission.ExportsManage);
        exports.MapDelete("/{exportId}", DeleteAsync).WithName("DeleteExport").RequirePermission(Permission.ExportsManage);
        exports.MapGet("/{exportId}/download", DownloadAsync).WithName("DownloadExport").RequirePermission(Permission.ExportsRead);

        var versions = app.MapGroup("api/projects/{projectId}/label-versions").WithTags("Exports");
        versions.MapGet("/", ListVersionsAsync).WithName("ListLabelVersions").RequirePermission(Permission.ExportsRead);
        versions.MapGet("/{name}", GetVersionAsync).WithName("GetLabelVersion").RequirePermission(Permission.ExportsRead);
        versions.MapGet("/{name}/download", DownloadVersionAsync).WithName("DownloadLabelVersion").RequirePermission(Permission.ExportsRead);
        return app;
    }

    /// <summary><c>POST .../exports</c>: records the export and starts its <see cref="ExportLabels"/> orchestration (202).</summary>
    internal static async Task<IResult> CreateAsync(
        string projectId, CreateExportRequest request, HttpRequest http, ClaimsPrincipal principal, [AsParameters] ExportServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name, required: false);
        var version = errors.Name("saveAsVersion", request.SaveAsVersion, maxLength: 100, required: false);
        var format = request.Format?.Trim().ToLowerInvariant();
        if (format is not (ExportFormats.Json or ExportFormats.Coco))
        {
            errors.Add("format", "'format' is required: \"json\" (our labels format) or \"coco\".");
        }

        var scope = request.Scope ?? new ExportScope(null, null, null, null);
        if (scope.TaskId is not null && scope.QaTaskId is not null)
        {
            errors.Add("scope", "Give at most one of 'scope.taskId' and 'scope.qaTaskId'.");
        }

        var filter = scope.Filter is null || scope.Filter.GetValueKind() == JsonValueKind.Null ? null : scope.Filter;
        if (filter is not null)
        {
            if (scope.TaskId is not null || scope.QaTaskId is not null)
            {
                errors.Add("scope.filter", "A filter applies to datasets; a task's export takes the task's items, so leave 'scope.filter' out.");
            }
            else
            {
                try
                {
                    FilterCompiler.CompileFilter(filter.ToJsonString(), FieldCatalogs.Items);
                }
                catch (FilterException ex)
                {
                    errors.Add("scope.filter" + ex.Path, ex.Message);
                }
            }
        }

        var statuses = Strings(errors, "onlyStatuses", request.OnlyStatuses);
        var labels = Strings(errors, "labels", request.Labels);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        if (scope.DatasetId is { } datasetId && !await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        if ((scope.TaskId ?? scope.QaTaskId) is { } taskId)
        {
            var task = await services.Tasks.GetAsync(projectId, taskId, ct);
            var wantQa = scope.QaTaskId is not null;
            if (task is null || (task.Type == "qa") != wantQa)
            {
                return Problems.NotFound($"Project '{projectId}' has no {(wantQa ? "QA task" : "annotation task")} '{taskId}'.");
            }

            if (scope.DatasetId is not null && scope.DatasetId != task.DatasetId)
            {
                return Problems.Validation("scope.datasetId", $"Task '{taskId}' is over dataset '{task.DatasetId}', not '{scope.DatasetId}'.");
            }

            scope = scope with { DatasetId = task.DatasetId };
        }

        var created = services.Clock.Now();
        var exportId = Ids.New("e");
        var instanceId = ProjectOrchestrations.InstanceId(projectId, nameof(ExportLabels), exportId);
        var now = StoredTimestamp.Format(created);
        var export = new Export(
            exportId,
            projectId,
            name ?? version ?? "export " + created.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
            format!,
            scope with { Filter = filter?.DeepClone() },
            statuses,
            labels,
            request.SignedItemUrls ?? false,
            version,
            ExportFormats.Running,
            new ExportProgress(0, 0),
            null,
            null,
            now,
            Caller.From(principal).UserId,
            now,
            instanceId,
            null);
        try
        {
            await services.Exports.CreateAsync(export, ct);
        }
        catch (LabelVersionTakenException ex)
        {
            return Problems.Conflict(ex.Message);
        }

        await services.Orchestrations.StartAsync(projectId, nameof(ExportLabels), nameof(ExportLabels), new ExportInput(projectId, exportId), exportId, ct);
        var urls = OrchestrationAccepted.For(http, projectId, instanceId);
        var body = new ExportAccepted(exportId, urls.Id, urls.StatusQueryGetUri, urls.SendEventPostUri, urls.TerminatePostUri, urls.SuspendPostUri, urls.ResumePostUri, urls.PurgeHistoryDeleteUri);
        return TypedResults.Accepted(urls.StatusQueryGetUri, body);
    }

    internal static async Task<Results<Ok<Page<Export>>, ValidationProblem>> ListAsync(
        string projectId, int? pageSize, string? continuationToken, [AsParameters] ExportServices services, CancellationToken ct) =>
        await ListPageAsync(projectId, versionsOnly: false, pageSize, continuationToken, services, ct);

    internal static async Task<Results<Ok<Page<Export>>, ValidationProblem>> ListVersionsAsync(
        string projectId, int? pageSize, string? continuationToken, [AsParameters] ExportServices services, CancellationToken ct) =>
        await ListPageAsync(projectId, versionsOnly: true, pageSize, continuationToken, services, ct);

    internal static async Task<Results<Ok<Export>, ProblemHttpResult>> GetAsync(
        string projectId, string exportId, [AsParameters] ExportServices services, CancellationToken ct) =>
        await services.Exports.GetAsync(projectId, exportId, ct) is { } export ? TypedResults.Ok(export) : NotFound(projectId, exportId);

    internal static async Task<Results<Ok<Export>, ProblemHttpResult>> GetVersionAsync(
        string projectId, string name, [AsParameters] ExportServices services, CancellationToken ct) =>
        await services.Exports.GetVersionAsync(projectId, name, ct) is { } export ? TypedResults.Ok(export) : VersionNotFound(projectId, name);

    internal static async Task<Results<Ok<Export>, ValidationProblem, ProblemHttpResult>> RenameAsync(
        string projectId, string exportId, RenameExportRequest request, [AsParameters] ExportServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new FieldErrors();
        var name = errors.Name("name", request.Name);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        try
        {
            return await services.Exports.RenameAsync(projectId, exportId, name!, ct) is { } export ? TypedResults.Ok(export) : NotFound(projectId, exportId);
        }
        catch (ExportImmutableException ex)
        {
            return Problems.Conflict(ex.Message);
        }
    }

    /// <summary><c>DELETE .../exports/{id}</c>: the document, then its blobs (a running export's next step finds it gone and stops).</summary>
    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string projectId, string exportId, [AsParameters] ExportServices services, CancellationToken ct)
    {
        try
        {
            if (await services.Exports.DeleteAsync(projectId, exportId, ct) is null)
            {
                return NotFound(projectId, exportId);
            }
        }
        catch (ExportImmutableException ex)
        {
            return Problems.Conflict(ex.Message);
        }

        await services.Writer.DeleteBlobsAsync(projectId, exportId, ct);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<ExportDownload>, ProblemHttpResult>> DownloadAsync(
        string projectId, string exportId, [AsParameters] ExportServices services, CancellationToken ct) =>
        await services.Exports.GetAsync(projectId, exportId, ct) is { } export ? await LinkAsync(export, services, ct) : NotFound(projectId, exportId);

    internal static async Task<Results<Ok<ExportDownload>, ProblemHttpResult>> DownloadVersionAsync(
        string projectId, string name, [AsParameters] ExportServices services, CancellationToken ct) =>
        await services.Exports.GetVersionAsync(projectId, name, ct) is { } export ? await LinkAsync(export, services, ct) : VersionNotFound(projectId, name);

    private static async Task<Results<Ok<ExportDownload>, ProblemHttpResult>> LinkAsync(Export export, ExportServices services, CancellationToken ct)
    {
        if (export.State != ExportFormats.Done)
        {
            return Problems.Conflict($"Export '{export.Id}' is {export.State}; a download link exists once it is done.");
        }

        return TypedResults.Ok(await services.Writer.DownloadLinkAsync(export, services.Time.GetUtcNow(), ct));
    }

    private static async Task<Results<Ok<Page<Export>>, ValidationProblem>> ListPageAsync(
        string projectId, bool versionsOnly, int? pageSize, string? continuationToken, ExportServices services, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        return TypedResults.Ok(await services.Exports.ListAsync(projectId, versionsOnly, size, continuationToken, ct));
    }

    /// <summary>A list of 1 to <see cref="MaxListEntries"/> non-blank strings (trimmed, distinct), or null when absent.</summary>
    private static List<string>? Strings(FieldErrors errors, string field, IReadOnlyList<string?>? values)
    {
        if (values is null)
        {
            return null;
        }

        if (values.Count is 0 or > MaxListEntries || values.Any(v => string.IsNullOrWhiteSpace(v) || v.Length > 100))
        {
            errors.Add(field, $"'{field}' lists 1 to {MaxListEntries} non-blank names of at most 100 characters.");
            return null;
        }

        return [.. values.Select(v => v!.Trim()).Distinct(StringComparer.Ordinal)];
    }

    private static ProblemHttpResult NotFound(string projectId, string exportId) =>
        Problems.NotFound($"Project '{projectId}' has no export '{exportId}'.");

    private static ProblemHttpResult VersionNotFound(string projectId, string name) =>
        Problems.NotFound($"Project '{projectId}' has no label version '{name}'.");
}

/// <summary>Registers the exports feature.</summary>
public static class ExportsRegistration
{
    public static IHostApplicationBuilder AddExports(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ExportsOptions>()
            .BindConfiguration(ExportsOptions.Section)
            .Validate(o => o.Validate().Count == 0, "Exports settings are invalid: BlobContainer is required, PageSize 1-1000, DownloadLinkMinutes 1-10080, ItemLinkHours 1-168.")
            .ValidateOnStart();
        builder.Services.AddDocumentContainers([.. ExportContainers.All]);
        builder.Services.AddSingleton<ExportStore>();
        builder.Services.AddSingleton<ExportWriter>();
        builder.Services.AddSingleton(sp => new ExportClock(sp.GetRequiredService<TimeProvider>()));

        // Deleting a project deletes its exports, label versions and their claims (one partition) and their files.
        builder.Services.AddSingleton(new ProjectCascadeTarget(ExportContainers.Exports, ExportContainers.Partition));
        builder.Services.AddSingleton(sp => new ProjectCascadeBlobs(sp.GetRequiredService<IOptions<ExportsOptions>>().Value.BlobContainer));
        builder.Services.AddDurableTasks(r => r
            .AddOrchestrator<ExportLabels>()
            .AddActivity<PrepareExport>()
            .AddActivity<WriteExportPage>()
            .AddActivity<StageExportParts>()
            .AddActivity<CommitExport>()
            .AddActivity<FailExport>());
        return builder;
    }
}
