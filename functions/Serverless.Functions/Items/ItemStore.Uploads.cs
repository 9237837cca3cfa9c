using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Core.Media;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Functions;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Local;

namespace Serverless.Functions.Items;

/// <summary>
/// Direct uploads: a signed PUT URL into the upload container, then ingestion on BlobCreated.
/// </summary>
/// <remarks>
/// The item id is chosen when the URL is issued and is part of the staged blob's name
/// (<c>items/{projectId}/{datasetId}/{itemId}</c>), so every delivery of the same blob event maps to
/// the same item: the item document is created once (a second create conflicts) and later deliveries
/// find it and only clean up. The staged blob is copied (streamed, sniffed, capped) into the items
/// container under the item's server-chosen name, then deleted, so the upload container only holds
/// uploads still in flight. A ticket document (<c>upload_{itemId}</c>) records the outcome, including
/// rejections, for <c>GET .../items/uploads/{itemId}</c>.
/// </remarks>
public sealed partial class ItemStore
{
    /// <summary>The container signed upload URLs write to: the one the BlobCreated subscription and the local watcher watch.</summary>
    public const string UploadContainer = LocalHostOptions.DefaultUploadContainer;

    /// <summary>Prefix of staged item uploads inside <see cref="UploadContainer"/> (other features may use other prefixes).</summary>
    public const string UploadPrefix = "items/";

    private const string UploadKind = "upload";

    /// <summary>Id of the ticket document of an upload.</summary>
    public static string UploadTicketId(string itemId) => "upload_" + itemId;

    /// <summary>The staged blob's name for an upload.</summary>
    public static string UploadBlobName(string projectId, string datasetId, string itemId) => $"{UploadPrefix}{projectId}/{datasetId}/{itemId}";

    /// <summary>
    /// Issues a signed PUT URL for a new item at <paramref name="folder"/>/<paramref name="name"/>.
    /// </summary>
    /// <exception cref="ItemPathTakenException">An item already has this path.</exception>
    public async Task<UploadTicket> RequestUploadAsync(string projectId, string datasetId, string folder, string name, string? contentType, long size, string userId, TimeSpan validFor, CancellationToken ct)
    {
        var path = folder == ItemPath.Root ? ItemPath.Root + name : folder + "/" + name;
        var partition = DatasetContainers.ItemPartition(datasetId);
        if (await claims.FindAsync(datasetId, path, ct) is not null)
        {
            throw new ItemPathTakenException(path);
        }

        var itemId = Ids.NewTimeOrdered("i", time.GetUtcNow());
        var now = time.GetUtcNow();
        var expires = now.Add(validFor);
        var ticket = new JsonObject
        {
            ["kind"] = UploadKind,
            ["itemId"] = itemId,
            ["projectId"] = projectId,
            ["datasetId"] = datasetId,
            ["dir"] = folder,
            ["name"] = name,
            ["path"] = path,
            ["declaredSize"] = size,
            ["declaredType"] = contentType,
            ["createdBy"] = userId,
            ["state"] = UploadStates.Pending,
            ["createdAt"] = StoredTimestamp.Format(now),
            ["updatedAt"] = StoredTimestamp.Format(now),
            ["expiresAt"] = StoredTimestamp.Format(expires),
        };
        await Items.CreateAsync(partition, UploadTicketId(itemId), ticket, ct);
        await EnsureUploadContainerAsync(ct);
        var blobName = UploadBlobName(projectId, datasetId, itemId);
        var url = await blobs.CreateSasUriAsync(UploadContainer, blobName, BlobSasPermissions.Create | BlobSasPermissions.Write, expires, ct);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal) { ["x-ms-blob-type"] = "BlockBlob" };
        if (!string.IsNullOrEmpty(contentType))
        {
            headers["Content-Type"] = contentType;
        }

        return new UploadTicket(itemId, path, url, "PUT", headers, expires, Options.MaxUploadBytes,
            $"/api/projects/{projectId}/datasets/{datasetId}/items/uploads/{itemId}");
    }

    /// <summary>The ticket of an upload, with its item once ingested; null when unknown.</summary>
    public async Task<UploadStatus?> GetUploadAsync(string datasetId, string itemId, CancellationToken ct)
    {
        if (!Ids.IsWellFormed(itemId))
        {
            return null;
        }

        var doc = await Items.ReadAsync(DatasetContainers.ItemPartition(datasetId), UploadTicketId(itemId), ct);
        if (doc is null || doc.Body["kind"]?.GetValue<string>() != UploadKind)
        {
            return null;
        }

        var body = doc.Body;
        var item = body["state"]?.GetValue<string>() == UploadStates.Ingested ? (await GetStoredAsync(datasetId, itemId, ct))?.Item : null;
        return new UploadStatus(
            itemId,
            body["path"]!.GetValue<string>(),
            body["state"]!.GetValue<string>(),
            body["declaredSize"]!.GetValue<long>(),
            body["reason"]?.GetValue<string>(),
            item,
            body["createdAt"]!.GetValue<string>(),
            body["updatedAt"]!.GetValue<string>(),
            body["expiresAt"]!.GetValue<string>());
    }

    /// <summary>
    /// Ingests a staged upload into its item. Idempotent: any number of deliveries of the same event
    /// (Event Grid retries, the local watcher after a restart) leave one item. Blobs outside
    /// <see cref="UploadPrefix"/>, or without a ticket in this deployment, are left alone.
    /// </summary>
    /// <returns>What happened, for logs and tests.</returns>
    public async Task<IngestOutcome> IngestAsync(BlobCreatedEvent blobCreated, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(blobCreated);
        if (blobCreated.Container != UploadContainer || !TryParseUploadBlob(blobCreated.BlobName, out var projectId, out var datasetId, out var itemId))
        {
            return IngestOutcome.NotAnItemUpload;
        }

        var partition = DatasetContainers.ItemPartition(datasetId);
        var ticket = await Items.ReadAsync(partition, UploadTicketId(itemId), ct);
        if (ticket is null || ticket.Body["projectId"]?.GetValue<string>() != projectId)
        {
            return IngestOutcome.NoTicket;
        }

        var state = ticket.Body["state"]?.GetValue<string>();
        if (state != UploadStates.Pending || await Items.ReadAsync(partition, itemId, ct) is not null)
        {
            // Already ingested or rejected: a repeated event. The staged copy, if any, is surplus.
            await blobs.DeleteAsync(UploadContainer, blobCreated.BlobName, ct);
            if (state == UploadStates.Pending)
            {
                // The item was written but the ticket not: the earlier delivery stopped before its hooks finished too.
                if ((await GetStoredAsync(datasetId, itemId, ct))?.Item is { } written)
                {
                    await IngestedAsync(written, ct);
                }

                await SetTicketStateAsync(partition, itemId, UploadStates.Ingested, null, ct);
            }

            return IngestOutcome.AlreadyDone;
        }

        var staged = await blobs.GetPropertiesAsync(UploadContainer, blobCreated.BlobName, ct);
        if (staged is null)
        {
            return IngestOutcome.AlreadyDone; // a concurrent delivery consumed it
        }

        if (staged.Length > Options.MaxUploadBytes)
        {
            await RejectAsync(partition, itemId, blobCreated.BlobName, $"The file is {staged.Length} bytes; the limit is {Options.MaxUploadBytes} (setting {ItemsOptions.Section}:MaxUploadBytes). It was deleted.", ct);
            return IngestOutcome.Rejected;
        }

        await EnsureBlobContainerAsync(ct);
        var blobName = BlobName(projectId, datasetId, itemId);
        SniffResult sniffed;
        BlobProperties stored;
        try
        {
            await using var download = await blobs.DownloadAsync(UploadContainer, blobCreated.BlobName, null, ct);
            await using var limited = new LimitedReadStream(download.Content, Options.MaxUploadBytes);
            var (result, replay) = await ContentSniffer.SniffAsync(limited, ct);
            sniffed = result;
            await using (replay)
            {
                stored = await blobs.UploadAsync(Options.BlobContainer, blobName, replay, new BlobUploadOptions(sniffed.MimeType), ct);
            }
        }
        catch (UploadTooLargeException)
        {
            // The blob grew after we read its size (overwritten through the SAS): same rule.
            await blobs.DeleteAsync(Options.BlobContainer, blobName, CancellationToken.None);
            await RejectAsync(partition, itemId, blobCreated.BlobName, $"The file is larger than the limit of {Options.MaxUploadBytes} bytes (setting {ItemsOptions.Section}:MaxUploadBytes). It was deleted.", ct);
            return IngestOutcome.Rejected;
        }
        catch (BlobNotFoundException)
        {
            return IngestOutcome.AlreadyDone; // a concurrent delivery consumed it
        }

        var system = new JsonObject { ["mimetype"] = sniffed.MimeType };
        if (sniffed.Type == ItemType.Image && await ReadImageSizeAsync(blobName, stored.Length, ct) is { } size)
        {
            system["width"] = size.Width;
            system["height"] = size.Height;
        }

        var body = ticket.Body;
        var item = NewItemRecord(projectId, datasetId, itemId, body["dir"]!.GetValue<string>(), body["name"]!.GetValue<string>(), sniffed.TypeName, stored.Length, Prepared(system, sniffed.TypeName), null, body["createdBy"]!.GetValue<string>());
        var error = (await WriteAsync(datasetId, [new NewItem(item, blobName)], ct))[0];
        switch (error)
        {
            case null:
                break;
            case ItemPathTakenException taken:
                await blobs.DeleteAsync(Options.BlobContainer, blobName, CancellationToken.None);
                await RejectAsync(partition, itemId, blobCreated.BlobName, taken.Message, ct);
                return IngestOutcome.Rejected;
            case DocumentBatchFailedException { OperationIndex: 0, InnerException: DocumentConflictException }:
                // A concurrent delivery created the item first (same id, same bytes); its blob is ours too.
                await blobs.DeleteAsync(UploadContainer, blobCreated.BlobName, ct);
                return IngestOutcome.AlreadyDone;
            default:
                throw error; // transient: the event is delivered again
        }

        await IngestedAsync(item, ct);
        await SetTicketStateAsync(partition, itemId, UploadStates.Ingested, null, ct);
        await blobs.DeleteAsync(UploadContainer, blobCreated.BlobName, ct);
        return IngestOutcome.Ingested;
    }

    /// <summary>Parses <c>items/{projectId}/{datasetId}/{itemId}</c> with well-formed ids.</summary>
    public static bool TryParseUploadBlob(string blobName, out string projectId, out string datasetId, out string itemId)
    {
        ArgumentNullException.ThrowIfNull(blobName);
        projectId = datasetId = itemId = string.Empty;
        if (!blobName.StartsWith(UploadPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = blobName[UploadPrefix.Length..].Split('/');
        if (parts.Length != 3 || !parts.All(Ids.IsWellFormed))
        {
            return false;
        }

        (projectId, datasetId, itemId) = (parts[0], parts[1], parts[2]);
        return true;
    }

    private async Task RejectAsync(string partition, string itemId, string stagedBlob, string reason, CancellationToken ct)
    {
        await blobs.DeleteAsync(UploadContainer, stagedBlob, ct);
        await SetTicketStateAsync(partition, itemId, UploadStates.Rejected, reason, ct);
    }

    private async Task SetTicketStateAsync(string partition, string itemId, string state, string? reason, CancellationToken ct)
    {
        var operations = new List<PatchOperation>
        {
            PatchOperation.Set("state", state),
            PatchOperation.Set("updatedAt", StoredTimestamp.Format(time.GetUtcNow())),
        };
        if (reason is not null)
        {
            operations.Add(PatchOperation.Set("reason", reason));
        }

        await Items.PatchAsync(partition, UploadTicketId(itemId), operations, null, ct);
    }

    private async Task EnsureUploadContainerAsync(CancellationToken ct)
    {
        if (_uploadContainerReady)
        {
            return;
        }

        await blobs.CreateContainerIfNotExistsAsync(UploadContainer, ct);
        _uploadContainerReady = true;
    }
}

/// <summary>States of an upload ticket.</summary>
public static class UploadStates
{
    /// <summary>URL issued; no file ingested yet.</summary>
    public const string Pending = "pending";

    /// <summary>The item exists.</summary>
    public const string Ingested = "ingested";

    /// <summary>The file was refused (too large, path taken); <c>reason</c> says why. The file was deleted.</summary>
    public const string Rejected = "rejected";
}

/// <summary>What <see cref="ItemStore.IngestAsync"/> did with one BlobCreated event.</summary>
public enum IngestOutcome
{
    /// <summary>The blob is not a staged item upload (another container or prefix).</summary>
    NotAnItemUpload,

    /// <summary>No ticket for it in this deployment: left alone.</summary>
    NoTicket,

    /// <summary>The item was created.</summary>
    Ingested,

    /// <summary>A repeated event: the item already exists or the upload was already refused.</summary>
    AlreadyDone,

    /// <summary>The file was refused and deleted; the ticket says why.</summary>
    Rejected,
}

/// <summary>The BlobCreated handler for item uploads (Event Grid in Azure, the blob watcher locally).</summary>
public sealed partial class ItemIngestionHandler(ItemStore items, ILogger<ItemIngestionHandler> logger) : IBlobCreatedHandler
{
    public async Task HandleAsync(BlobCreatedEvent blobCreated, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobCreated);
        var outcome = await items.IngestAsync(blobCreated, cancellationToken);
        if (outcome is not IngestOutcome.NotAnItemUpload)
        {
            Handled(logger, blobCreated.Container, blobCreated.BlobName, outcome);
        }
    }

    [LoggerMessage(EventId = 1500, Level = LogLevel.Information, Message = "BlobCreated {Container}/{BlobName}: {Outcome}")]
    private static partial void Handled(ILogger logger, string container, string blobName, IngestOutcome outcome);
}
