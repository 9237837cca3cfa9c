using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Media;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Durable;
using Serverless.Functions.Items;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Media;

/// <summary>
/// Converts video items to WEBM: marks a new video <c>pending</c>, starts one <see cref="ConvertVideo"/>
/// orchestration per item, and (in its activity) downloads the source to a file we name, runs
/// <see cref="VideoConverter"/> with the project's tolerances, uploads the WEBM next to the source blob
/// (<c>{blob}.webm</c>) and records the outcome in the item's <c>metadata.system.video</c>.
/// </summary>
/// <remarks>
/// <para>A durable orchestration rather than a queue function of its own: starts are idempotent by instance id
/// (<c>{projectId}.ConvertVideo.{itemId}</c>), the work rides the runtime's queues (no new queue to declare), its
/// status is on the orchestration routes, and a failed activity is retried with back-off.</para>
/// <para>The activity is idempotent: an item already <c>done</c> is left alone (a redelivered message), a rerun
/// overwrites the same WEBM blob, and the item is patched under its ETag (re-read on a race, e.g. a tag change).</para>
/// <para>Hostile input: ffmpeg/ffprobe only ever see files in a fresh folder we created, named by us; caps on
/// size, duration, resolution and frame rate, the protocol and demuxer whitelists and the timeouts are
/// <see cref="VideoConverter"/>'s.</para>
/// </remarks>
public sealed class VideoConversions(
    IDocumentStore store,
    IBlobStore blobs,
    ProjectStore projects,
    ProjectOrchestrations orchestrations,
    IOptions<ItemsOptions> items,
    IOptions<MediaOptions> options,
    TimeProvider time) : IItemIngestionHook
{
    /// <summary>The orchestration kind in instance ids.</summary>
    public const string Kind = nameof(ConvertVideo);

    /// <summary>Path of the conversion record in an item document.</summary>
    public const string MetadataPath = "metadata.system.video";

    private const int MaxAttempts = 10;

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    /// <summary>The converted file's blob: next to the source's.</summary>
    public static string ConvertedBlobName(string sourceBlob) => sourceBlob + ".webm";

    /// <inheritdoc />
    public void Preparing(string type, JsonObject system)
    {
        ArgumentNullException.ThrowIfNull(system);
        if (type == "video")
        {
            system["video"] = new JsonObject { ["state"] = VideoStates.Pending };
        }
    }

    /// <inheritdoc />
    public async Task IngestedAsync(Item item, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.Type == "video")
        {
            await StartAsync(item.ProjectId, item.DatasetId, item.Id, cancellationToken);
        }
    }

    /// <inheritdoc />
    public IEnumerable<string> DerivedBlobs(JsonObject itemDocument)
    {
        ArgumentNullException.ThrowIfNull(itemDocument);
        return itemDocument["metadata"]?["system"]?["video"] is JsonObject && itemDocument["blob"]?.GetValue<string>() is { } blob
            ? [ConvertedBlobName(blob)]
            : [];
    }

    /// <summary>Starts the item's conversion; while one runs, answers with it.</summary>
    public Task<string> StartAsync(string projectId, string datasetId, string itemId, CancellationToken ct) =>
        orchestrations.StartAsync(projectId, Kind, nameof(ConvertVideo), new VideoConversionInput(projectId, datasetId, itemId), itemId, ct);

    /// <summary>
    /// Sets the item's conversion back to <c>pending</c> and starts a conversion. Null when the item is not a video;
    /// otherwise the instance id (the running one when a conversion is already under way).
    /// </summary>
    public async Task<string?> RestartAsync(string projectId, string datasetId, string itemId, CancellationToken ct)
    {
        var doc = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), itemId, ct);
        if (doc is null || doc.Body["type"]?.GetValue<string>() != "video")
        {
            return null;
        }

        await PatchAsync(datasetId, itemId, new JsonObject { ["state"] = VideoStates.Pending, ["updatedAt"] = Now() }, onlyIfNotDone: false, ct);
        return await StartAsync(projectId, datasetId, itemId, ct);
    }

    /// <summary>The activity's work: see the type's remarks.</summary>
    public async Task<VideoConversionOutcome> ConvertAsync(VideoConversionInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        var partition = DatasetContainers.ItemPartition(input.DatasetId);
        var doc = await Items.ReadAsync(partition, input.ItemId, ct);
        if (doc is null || doc.Body["kind"]?.GetValue<string>() != "item")
        {
            return new VideoConversionOutcome(VideoStates.Gone, "The item was deleted.");
        }

        if (doc.Body["metadata"]?["system"]?["video"]?["state"]?.GetValue<string>() == VideoStates.Done)
        {
            return new VideoConversionOutcome(VideoStates.Done, null);
        }

        var settings = (await projects.GetAsync(input.ProjectId, ct))?.Project.Settings ?? new ProjectSettings();
        var o = options.Value;
        var converter = new VideoConverter(new VideoConversionOptions(
            new VideoLimits(o.MaxDurationSeconds, o.MaxWidth, o.MaxHeight, o.MaxFileBytes),
            settings.FrameTolerance,
            settings.FpsTolerance,
            o.ProbeTimeout,
            o.ConversionTimeout > TimeSpan.Zero ? o.ConversionTimeout : null,
            o.Ffmpeg,
            o.Ffprobe));
        var sourceBlob = doc.Body["blob"]!.GetValue<string>();
        var folder = Path.Combine(string.IsNullOrWhiteSpace(o.WorkDirectory) ? Path.GetTempPath() : o.WorkDirectory, "video-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var sourcePath = Path.Combine(folder, "source");
            var outputPath = Path.Combine(folder, "converted.webm");
            if (!await DownloadAsync(doc, sourceBlob, sourcePath, o.MaxFileBytes, ct))
            {
                return await RecordAsync(input, Failed("The source file is missing or larger than the cap of " + o.MaxFileBytes.ToString(CultureInfo.InvariantCulture) + " bytes.", VideoFailureKind.OverLimit.ToString(), null, null), ct);
            }

            var result = await converter.ConvertAsync(sourcePath, outputPath, ct);
            if (result.State != VideoConversionState.Done)
            {
                return await RecordAsync(input, Failed(result.FailureReason ?? "The conversion failed.", result.FailureKind?.ToString(), result.Source, result.Converted), ct);
            }

            var convertedBlob = ConvertedBlobName(sourceBlob);
            await using (var file = new FileStream(outputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
            {
                await blobs.UploadAsync(items.Value.BlobContainer, convertedBlob, file, new BlobUploadOptions("video/webm"), ct);
            }

            var record = new JsonObject
            {
                ["state"] = VideoStates.Done,
                ["source"] = Describe(result.Source!),
                ["converted"] = Describe(result.Converted!),
                ["updatedAt"] = Now(),
            };
            var outcome = await RecordAsync(input, record, ct);
            if (outcome.State == VideoStates.Gone)
            {
                await blobs.DeleteAsync(items.Value.BlobContainer, convertedBlob, ct); // deleted while converting
            }

            return outcome;
        }
        finally
        {
            TryDeleteFolder(folder);
        }
    }

    /// <summary>The item's conversion record, or null when the item is not a video (or does not exist).</summary>
    public async Task<(JsonObject Record, string SourceBlob, string Name)?> GetAsync(string datasetId, string itemId, CancellationToken ct)
    {
        var doc = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), itemId, ct);
        return doc is not null && doc.Body["kind"]?.GetValue<string>() == "item" && doc.Body["metadata"]?["system"]?["video"] is JsonObject record
            ? (record, doc.Body["blob"]!.GetValue<string>(), doc.Body["name"]?.GetValue<string>() ?? itemId)
            : null;
    }

    /// <summary>A read link to the WEBM, served as <c>video/webm</c> for playing in the annotation tool.</summary>
    public async Task<(Uri Url, DateTimeOffset ExpiresAt)> LinkAsync(string sourceBlob, CancellationToken ct)
    {
        var expires = time.GetUtcNow().Add(options.Value.LinkLifetime);
        var url = await blobs.CreateSasUriAsync(items.Value.BlobContainer, ConvertedBlobName(sourceBlob), BlobSasPermissions.Read, expires, new BlobSasResponseHeaders(ContentType: "video/webm"), ct);
        return (url, expires);
    }

    /// <summary>Source and converted metadata as recorded on the item.</summary>
    public static JsonObject Describe(VideoMetadata m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return new JsonObject
        {
            ["durationSeconds"] = double.IsFinite(m.DurationSeconds) ? Math.Round(m.DurationSeconds, 6) : null,
            ["fps"] = Math.Round(m.FrameRate.Value, 6),
            ["frameRate"] = m.FrameRate.ToString(),
            ["frames"] = m.FrameCount,
            ["width"] = m.Width,
            ["height"] = m.Height,
            ["videoCodec"] = m.VideoCodec,
            ["audioCodec"] = m.AudioCodec,
            ["format"] = m.FormatName,
            ["sizeBytes"] = m.SizeBytes,
        };
    }

    private JsonObject Failed(string reason, string? kind, VideoMetadata? source, VideoMetadata? converted)
    {
        var record = new JsonObject { ["state"] = VideoStates.Failed, ["reason"] = reason, ["failureKind"] = kind, ["updatedAt"] = Now() };
        if (source is not null)
        {
            record["source"] = Describe(source);
        }

        if (converted is not null)
        {
            record["converted"] = Describe(converted);
        }

        return record;
    }

    private async Task<VideoConversionOutcome> RecordAsync(VideoConversionInput input, JsonObject record, CancellationToken ct)
    {
        var state = record["state"]!.GetValue<string>();
        var reason = record["reason"]?.GetValue<string>();
        return await PatchAsync(input.DatasetId, input.ItemId, record, onlyIfNotDone: true, ct)
            ? new VideoConversionOutcome(state, reason)
            : new VideoConversionOutcome(VideoStates.Gone, "The item was deleted.");
    }

    /// <summary>Replaces the item's conversion record under its ETag; false when the item is gone.</summary>
    private async Task<bool> PatchAsync(string datasetId, string itemId, JsonObject record, bool onlyIfNotDone, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        for (var attempt = 1; ; attempt++)
        {
            var doc = await Items.ReadAsync(partition, itemId, ct);
            if (doc is null)
            {
                return false;
            }

            if (onlyIfNotDone && doc.Body["metadata"]?["system"]?["video"]?["state"]?.GetValue<string>() == VideoStates.Done)
            {
                return true; // a concurrent delivery finished first
            }

            try
            {
                await Items.PatchAsync(partition, itemId, [PatchOperation.Set(MetadataPath, record.DeepClone()), PatchOperation.Set("updatedAt", Now())], doc.ETag, ct);
                return true;
            }
            catch (DocumentNotFoundException)
            {
                return false;
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                // Another write to the item (tags, annotations counter) came first: read it again.
            }
        }
    }

    /// <summary>Copies the source to <paramref name="path"/>; false when the blob is gone or over the cap.</summary>
    private async Task<bool> DownloadAsync(StoredDocument doc, string blob, string path, long maxBytes, CancellationToken ct)
    {
        if (doc.Body["size"]?.GetValue<long>() > maxBytes)
        {
            return false;
        }

        try
        {
            await using var download = await blobs.DownloadAsync(items.Value.BlobContainer, blob, null, ct);
            if (download.Properties.Length > maxBytes)
            {
                return false;
            }

            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await download.Content.CopyToAsync(file, 1 << 20, ct);
            return true;
        }
        catch (BlobNotFoundException)
        {
            return false;
        }
    }

    private string Now() => Serverless.Core.Filters.StoredTimestamp.Format(time.GetUtcNow());

    private static void TryDeleteFolder(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // Left for the temp cleaner; never reused (fresh name per conversion).
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}
