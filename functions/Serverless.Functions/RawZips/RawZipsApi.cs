using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Durable;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Projects;

namespace Serverless.Functions.RawZips;

/// <summary>What the raw-zip endpoints need from DI.</summary>
public sealed record RawZipServices(DatasetStore Datasets, ProjectOrchestrations Orchestrations, DurableClient Durable, IBlobStore Blobs, IOptions<RawZipOptions> Options, TimeProvider Time);

/// <summary>A dataset's raw-data zip (<c>api/projects/{projectId}/datasets/{datasetId}/raw-zip</c>).</summary>
/// <remarks>
/// One zip per dataset, built by a <see cref="BuildRawZip"/> orchestration whose instance id is
/// <c>{projectId}.RawZip.{datasetId}</c>: a second POST while a build runs answers with the running build; a POST
/// after it ended rebuilds (the "update before download"). The GET reads the instance's state (and, when the
/// instance was purged, the zip blob's own metadata).
/// </remarks>
public static class RawZipsApi
{
    /// <summary>The orchestration kind in instance ids.</summary>
    public const string Kind = "RawZip";

    public static IEndpointRouteBuilder MapRawZipsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("api/projects/{projectId}/datasets/{datasetId}/raw-zip").WithTags("Raw zips");
        group.MapPost("/", BuildAsync).WithName("BuildRawZip").RequirePermission(Permission.RawZipsBuild);
        group.MapGet("/", GetAsync).WithName("GetRawZip").RequirePermission(Permission.DatasetsRead);
        return app;
    }

    /// <summary><c>POST .../raw-zip</c> <c>{"filter"?}</c>: starts (or joins) the build and answers 202 with its status URLs.</summary>
    internal static async Task<IResult> BuildAsync(
        string projectId, string datasetId, HttpRequest http, ClaimsPrincipal principal, [AsParameters] RawZipServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(http);
        RawZipRequest? request = null;
        if (http.ContentLength is not 0 && http.HasJsonContentType())
        {
            try
            {
                request = await http.ReadFromJsonAsync<RawZipRequest>(ct);
            }
            catch (JsonException ex)
            {
                return Problems.Validation("body", $"The body is not valid JSON: {ex.Message}");
            }
        }

        string? filter = null;
        if (request?.Filter is { ValueKind: not JsonValueKind.Null } value)
        {
            try
            {
                var text = value.GetRawText();
                filter = FilterCompiler.CompileFilter(text, FieldCatalogs.Items) is null ? null : text;
            }
            catch (FilterException ex)
            {
                return Problems.Validation("filter" + ex.Path, ex.Message);
            }
        }

        if (!await services.Datasets.ExistsAsync(projectId, datasetId, ct))
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var input = new RawZipInput(projectId, datasetId, filter, Caller.From(principal).UserId);
        var started = await services.Orchestrations.StartAsync(projectId, Kind, nameof(BuildRawZip), input, datasetId, ct);
        return OrchestrationAccepted.Result(http, projectId, started);
    }

    /// <summary><c>GET .../raw-zip</c>: none, running, done (counts and a signed attachment link) or failed (the reason).</summary>
    internal static async Task<Results<Ok<RawZipStatus>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, [AsParameters] RawZipServices services, CancellationToken ct)
    {
        var dataset = await services.Datasets.GetAsync(projectId, datasetId, ct);
        if (dataset is null)
        {
            return DatasetsApi.NotFound(projectId, datasetId);
        }

        var instanceId = ProjectOrchestrations.InstanceId(projectId, Kind, datasetId);
        var instance = (await services.Durable.GetInstanceAsync(instanceId, cancellationToken: ct))?.State;
        var filter = instance?.ReadInputAs<RawZipInput>()?.FilterJson;
        var o = services.Options.Value;
        var blobName = RawZipBuilder.BlobName(projectId, datasetId);
        switch (instance?.Status)
        {
            case OrchestrationRuntimeStatus.Completed when instance.ReadOutputAs<RawZipResult>() is { } result:
                return TypedResults.Ok(await DoneAsync(instanceId, result.Entries, result.Bytes, result.ArchiveBytes, result.BuiltAt, filter));
            case OrchestrationRuntimeStatus.Failed:
                return TypedResults.Ok(new RawZipStatus(RawZipStates.Failed, instanceId, null, null, null, null, filter, Reason(instance.Failure), null, null));
            case OrchestrationRuntimeStatus.Terminated:
                return TypedResults.Ok(new RawZipStatus(RawZipStates.Failed, instanceId, null, null, null, null, filter, $"The build was terminated: {instance.Output}", null, null));
            case null:
                // Never built, or the instance was purged: the blob's metadata still tells what it holds.
                var properties = await services.Blobs.GetPropertiesAsync(o.BlobContainer, blobName, ct);
                if (properties is null)
                {
                    return TypedResults.Ok(new RawZipStatus(RawZipStates.None, null, null, null, null, null, null, null, null, null));
                }

                return TypedResults.Ok(await DoneAsync(null, Int(properties, "entries"), Long(properties, "bytes"), properties.Length,
                    properties.Metadata.TryGetValue("builtat", out var at) && DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.None, out var built) ? built : properties.LastModified, null));
            default:
                return TypedResults.Ok(new RawZipStatus(RawZipStates.Running, instanceId, null, null, null, null, filter, null, null, null));
        }

        async Task<RawZipStatus> DoneAsync(string? id, int entries, long bytes, long archiveBytes, DateTimeOffset? builtAt, string? usedFilter)
        {
            var expires = services.Time.GetUtcNow().Add(o.LinkLifetime);
            var headers = new BlobSasResponseHeaders(BlobSasResponseHeaders.Attachment(ZipFileName(dataset.Name)), "application/zip");
            var url = await services.Blobs.CreateSasUriAsync(o.BlobContainer, blobName, BlobSasPermissions.Read, expires, headers, ct);
            return new RawZipStatus(RawZipStates.Done, id, entries, bytes, archiveBytes, builtAt, usedFilter, null, url, expires);
        }
    }

    /// <summary>The download's file name: the dataset's name with characters file systems refuse replaced.</summary>
    public static string ZipFileName(string datasetName)
    {
        ArgumentNullException.ThrowIfNull(datasetName);
        var chars = datasetName.Select(c => char.IsControl(c) || "<>:\"/\\|?*".Contains(c, StringComparison.Ordinal) ? '_' : c).ToArray();
        var name = new string(chars).Trim().TrimEnd('.');
        return (name.Length == 0 ? "dataset" : name) + ".zip";
    }

    private static string Reason(FailureDetails? failure)
    {
        // A refusal surfaces as the orchestrator's own exception; an activity that kept failing as its inner failure.
        for (var f = failure; f is not null; f = f.InnerFailure)
        {
            if (f.ErrorType.EndsWith(nameof(RawZipRefusedException), StringComparison.Ordinal))
            {
                return f.ErrorMessage;
            }
        }

        return failure?.ErrorMessage ?? "The build failed.";
    }

    private static int Int(BlobProperties p, string key) =>
        p.Metadata.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

    private static long Long(BlobProperties p, string key) =>
        p.Metadata.TryGetValue(key, out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
}

/// <summary>Registers the raw-zip feature.</summary>
public static class RawZipsRegistration
{
    public static IHostApplicationBuilder AddRawZips(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<RawZipOptions>().BindConfiguration(RawZipOptions.Section)
            .Validate(o => o.Validate().Count == 0, "RawZips settings are invalid: see RawZipOptions.Validate.")
            .ValidateOnStart();
        builder.Services.AddSingleton<RawZipBuilder>();

        // A zip is only a blob ({projectId}/{datasetId}/raw.zip; its state is the orchestration and the blob's
        // metadata): deleting a project deletes the blobs under its prefix.
        builder.Services.AddSingleton(sp => new ProjectCascadeBlobs(sp.GetRequiredService<IOptions<RawZipOptions>>().Value.BlobContainer));
        builder.Services.AddDurableTasks(r => r.AddOrchestrator<BuildRawZip>().AddActivity<WriteRawZip>());
        return builder;
    }
}
