using System.Globalization;
using Microsoft.Extensions.Options;
using Serverless.Core.Exports.Zip;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Items;

namespace Serverless.Functions.RawZips;

/// <summary>
/// Writes a dataset's files (optionally filtered) into one zip, streamed from the item blobs through
/// <see cref="ZipStreamWriter"/> into staged blocks of the zip blob, committed only when the archive is complete.
/// </summary>
/// <remarks>
/// <para>One call builds the whole archive rather than one page per activity: a zip's central directory lists
/// every entry with its offset, so resuming would mean persisting the writer's state (offsets, CRCs, names) and the
/// staged block list between activities. Streaming keeps memory flat (two blocks plus one directory record per
/// entry), and the call is idempotent instead: a retry starts from scratch with its own block ids and commits
/// over the same blob name, so the blob holds either the previous complete zip or the new complete one, never a
/// mix (see <see cref="BlockStagingStream"/>).</para>
/// <para>Caps: the number of matching items is counted (an indexed count) before any byte is read; the total of
/// bytes is checked against the items' recorded sizes before each file is opened, and the writer enforces both
/// caps again on the bytes it actually copies. Entry names are the item paths, sanitized by
/// <see cref="ZipEntryNames"/> (no <c>..</c>, no roots, no drive letters or characters Windows refuses) and made
/// unique case-insensitively.</para>
/// </remarks>
public sealed class RawZipBuilder(
    IDocumentStore store,
    IBlobStore blobs,
    DatasetStore datasets,
    IOptions<ItemsOptions> items,
    IOptions<RawZipOptions> options,
    TimeProvider time)
{
    /// <summary>Item documents read per query page.</summary>
    public const int PageSize = 500;

    private static readonly Filter ItemsOnly = Filter.Eq("kind", "item");

    private RawZipOptions Options => options.Value;

    /// <summary>The zip's blob name: one per dataset, replaced by each rebuild.</summary>
    public static string BlobName(string projectId, string datasetId) => $"{projectId}/{datasetId}/raw.zip";

    /// <summary>The entry name an item path asks for, before <see cref="ZipEntryNames"/> sanitizes it.</summary>
    public static string RequestedEntryName(string itemPath)
    {
        ArgumentNullException.ThrowIfNull(itemPath);
        return itemPath.TrimStart('/');
    }

    /// <summary>Builds and commits the zip; a cap or a name that cannot be written is returned as a refusal.</summary>
    public async Task<RawZipResult> BuildAsync(RawZipInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        var o = Options;
        if (!await datasets.ExistsAsync(input.ProjectId, input.DatasetId, ct))
        {
            return RawZipResult.Refused($"Dataset '{input.DatasetId}' no longer exists.");
        }

        var filter = DatasetCopier.CompileFilter(input.FilterJson);
        var partition = DatasetContainers.ItemPartition(input.DatasetId);
        var container = store.Container(DatasetContainers.Items);
        var where = new FilterQuery(filter, [], 1, null).ToDocumentQuery(null, ItemsOnly).Where;
        var count = await container.CountAsync(partition, where, ct);
        if (count > o.MaxEntries)
        {
            return RawZipResult.Refused($"The zip would hold {count} files; it may hold at most {o.MaxEntries} (setting {RawZipOptions.Section}:MaxEntries). Narrow it with a filter.");
        }

        await blobs.CreateContainerIfNotExistsAsync(o.BlobContainer, ct);
        var blobName = BlobName(input.ProjectId, input.DatasetId);
        var output = new BlockStagingStream(blobs, o.BlobContainer, blobName, o.BlockSizeBytes, Guid.NewGuid().ToString("N"));
        await using (output)
        {
            var writer = new ZipStreamWriter(output, new ZipWriterOptions(o.MaxEntries, o.MaxTotalBytes, ZipNamePolicy.Sanitize));
            await using (writer)
            {
                long declaredBytes = 0;
                int renamed = 0, missing = 0;
                string? continuation = null;
                try
                {
                    do
                    {
                        var page = await container.QueryAsync(new FilterQuery(filter, [], PageSize, continuation).ToDocumentQuery(partition, ItemsOnly), ct);
                        foreach (var doc in page.Items)
                        {
                            var size = doc.Body["size"]?.GetValue<long>() ?? 0;
                            declaredBytes += size;
                            if (declaredBytes > o.MaxTotalBytes)
                            {
                                return TotalBytesRefusal(o);
                            }

                            var requested = RequestedEntryName(doc.Body["path"]?.GetValue<string>() ?? doc.Id);
                            var written = await AddItemAsync(writer, doc, requested, ct);
                            if (written is null)
                            {
                                missing++;
                            }
                            else if (!string.Equals(written.Name, requested, StringComparison.Ordinal))
                            {
                                renamed++;
                            }
                        }

                        continuation = page.ContinuationToken;
                    }
                    while (continuation is not null);

                    var summary = await writer.CompleteAsync(ct);
                    var builtAt = time.GetUtcNow();
                    var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
                    {
                        ["entries"] = summary.Entries.ToString(CultureInfo.InvariantCulture),
                        ["bytes"] = summary.TotalBytes.ToString(CultureInfo.InvariantCulture),
                        ["builtat"] = builtAt.ToString("O", CultureInfo.InvariantCulture),
                    };
                    var committed = await output.CommitAsync(new BlobUploadOptions("application/zip", metadata), ct);
                    if (!await datasets.ExistsAsync(input.ProjectId, input.DatasetId, ct))
                    {
                        // The dataset (or its project) was deleted while the zip was built: the delete's sweep of
                        // the zip container may have run before this commit, so the zip is removed here.
                        await blobs.DeleteAsync(o.BlobContainer, blobName, ct);
                        return RawZipResult.Refused($"Dataset '{input.DatasetId}' no longer exists.");
                    }

                    return new RawZipResult(summary.Entries, summary.TotalBytes, committed.Length, summary.Zip64, renamed, missing, builtAt, null);
                }
                catch (ZipLimitExceededException e) when (e.Limit == ZipLimit.TotalBytes)
                {
                    return TotalBytesRefusal(o);
                }
                catch (ZipWriterException e)
                {
                    return RawZipResult.Refused(e.Message);
                }
            }
        }
    }

    private static RawZipResult TotalBytesRefusal(RawZipOptions o) =>
        RawZipResult.Refused($"The zip would hold more than {o.MaxTotalBytes} bytes (setting {RawZipOptions.Section}:MaxTotalBytes). Narrow it with a filter.");

    /// <summary>Copies one item's bytes into a new entry; null when its file is gone.</summary>
    private async Task<ZipEntryResult?> AddItemAsync(ZipStreamWriter writer, StoredDocument doc, string name, CancellationToken ct)
    {
        var modified = doc.Body["updatedAt"]?.GetValue<string>() is { } text
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : (DateTimeOffset?)null;
        if (doc.Body["inline"]?.GetValue<string>() is { } base64)
        {
            using var inline = new MemoryStream(Convert.FromBase64String(base64), writable: false);
            return await writer.AddEntryAsync(name, inline, new ZipEntryOptions(ZipCompression.Auto, modified), ct);
        }

        BlobDownload download;
        try
        {
            download = await blobs.DownloadAsync(items.Value.BlobContainer, doc.Body["blob"]!.GetValue<string>(), null, ct);
        }
        catch (BlobNotFoundException)
        {
            return null; // deleted while the zip was built
        }

        await using (download)
        {
            return await writer.AddEntryAsync(name, download.Content, new ZipEntryOptions(ZipCompression.Auto, modified, download.Properties.Length), ct);
        }
    }
}
