using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Http;

namespace Serverless.Functions.Media;

/// <summary>Converted videos of items (<c>api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video</c>).</summary>
public static class MediaApi
{
    public static IEndpointRouteBuilder MapMediaApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var video = app.MapGroup("api/projects/{projectId}/datasets/{datasetId}/items/{itemId}/video").WithTags("Items");
        video.MapGet("/", GetAsync).WithName("GetItemVideo").RequirePermission(Permission.ItemsRead);
        video.MapPost("/convert", ConvertAsync).WithName("ConvertItemVideo").RequirePermission(Permission.VideosConvert);
        return app;
    }

    /// <summary>
    /// <c>GET .../items/{itemId}/video</c>: the conversion state (pending, done, failed with the reason), source and
    /// converted metadata, and once done a signed link to the WEBM. 404 when the item is not a video.
    /// </summary>
    internal static async Task<Results<Ok<VideoStatus>, ProblemHttpResult>> GetAsync(
        string projectId, string datasetId, string itemId, DatasetStore datasets, VideoConversions conversions, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        ArgumentNullException.ThrowIfNull(conversions);
        var found = Ids.IsWellFormed(itemId) && await datasets.ExistsAsync(projectId, datasetId, ct) ? await conversions.GetAsync(datasetId, itemId, ct) : null;
        if (found is not { } f)
        {
            return NotAVideo(datasetId, itemId);
        }

        var state = f.Record["state"]?.GetValue<string>() ?? VideoStates.Pending;
        var link = state == VideoStates.Done ? await conversions.LinkAsync(f.SourceBlob, ct) : default((Uri Url, DateTimeOffset ExpiresAt)?);
        return TypedResults.Ok(new VideoStatus(
            state,
            f.Record["reason"]?.GetValue<string>(),
            f.Record["failureKind"]?.GetValue<string>(),
            f.Record["source"]?.DeepClone() as JsonObject,
            f.Record["converted"]?.DeepClone() as JsonObject,
            link?.Url,
            link?.ExpiresAt));
    }

    /// <summary><c>POST .../items/{itemId}/video/convert</c>: converts the video again (e.g. after a failure); 202 with the orchestration's URLs.</summary>
    internal static async Task<IResult> ConvertAsync(
        string projectId, string datasetId, string itemId, HttpRequest http, DatasetStore datasets, VideoConversions conversions, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        ArgumentNullException.ThrowIfNull(conversions);
        var instanceId = Ids.IsWellFormed(itemId) && await datasets.ExistsAsync(projectId, datasetId, ct) ? await conversions.RestartAsync(projectId, datasetId, itemId, ct) : null;
        return instanceId is null ? NotAVideo(datasetId, itemId) : OrchestrationAccepted.Result(http, projectId, instanceId);
    }

    private static ProblemHttpResult NotAVideo(string datasetId, string itemId) =>
        Problems.NotFound($"Dataset '{datasetId}' has no video item '{itemId}'.");
}

/// <summary>Registers video conversion.</summary>
public static class MediaRegistration
{
    public static IHostApplicationBuilder AddMedia(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<MediaOptions>().BindConfiguration(MediaOptions.Section)
            .Validate(o => o.Validate().Count == 0, "Media settings are invalid: see MediaOptions.Validate.")
            .ValidateOnStart();
        builder.Services.AddSingleton<VideoConversions>();
        builder.Services.AddSingleton<IItemIngestionHook>(sp => sp.GetRequiredService<VideoConversions>());
        builder.Services.AddDurableTasks(r => r.AddOrchestrator<ConvertVideo>().AddActivity<ConvertVideoFile>());
        return builder;
    }
}
