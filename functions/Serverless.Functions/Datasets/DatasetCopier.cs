using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Annotations;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Projects;

namespace Serverless.Functions.Datasets;

/// <summary>
/// The I/O of clone and merge, one bounded page per call, so the orchestrations stay small and every step is
/// idempotent: a target item's id is derived from (target dataset, source dataset, source item), and a copied
/// annotation's from (target item, source annotation), so a page that runs twice finds its items and annotations
/// already there and copies only what is missing.
/// </summary>
/// <remarks>
/// Files are copied, not shared: each target item gets its own blob, <c>{projectId}/{targetDatasetId}/{itemId}</c>,
/// streamed from the source blob. Sharing one blob between items would need reference counting on every delete
/// path (an item delete removes its blob; a project delete sweeps the project's blob prefix), and the blob port has
/// no server-side copy yet, so the bytes pass through the worker once. A retried page re-uploads to the same name.
/// </remarks>
public sealed class DatasetCopier(
    IDocumentStore store,
    IBlobStore blobs,
    DatasetStore datasets,
    ItemStore items,
    AnnotationStore annotations,
    ProjectStore projects,
    IOptions<ItemsOptions> options,
    TimeProvider time)
{
    /// <summary>Source items read per activity call (bounded work per step, bounded history per page).</summary>
    public const int PageSize = 100;

    /// <summary>Files copied at once within a page.</summary>
    private const int Parallelism = 16;

    private static readonly Filter ItemsOnly = Filter.Eq("kind", "item");

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    /// <summary>The target dataset's id for an orchestration instance: stable across replays and retries.</summary>
    public static string TargetDatasetId(string instanceId) => "d_" + Hash(instanceId)[..20];

    /// <summary>The id a source item gets in the target dataset.</summary>
    public static string TargetItemId(string targetDatasetId, string sourceDatasetId, string sourceItemId) =>
        "i_" + Hash($"{targetDatasetId}|{sourceDatasetId}|{sourceItemId}")[..24];

    /// <summary>The id a source annotation gets on its item's copy.</summary>
    public static string TargetAnnotationId(string targetItemId, string sourceAnnotationId) =>
        "a_" + Hash($"{targetItemId}|{sourceAnnotationId}")[..24];

    /// <summary>Compiles a stored filter expression (already validated when the copy was requested).</summary>
    public static Filter? CompileFilter(string? filterJson) =>
        filterJson is null ? null : FilterCompiler.CompileFilter(filterJson, FieldCatalogs.Items);

    /// <summary>Creates the target dataset (state copying). False when the project is gone or being deleted.</summary>
    public async Task<bool> CreateTargetAsync(CopyTargetInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (await projects.GetAsync(input.ProjectId, ct) is null)
        {
            return false;
        }

        // The sources' recipe, when they share one, so copied annotations keep being validated against their classes
        // (sources of another project, in a project copy, are not found here: their recipes are that project's).
        var recipes = new HashSet<string?>(StringComparer.Ordinal);
        foreach (var source in input.Sources)
        {
            if (await datasets.GetRecipeIdAsync(input.ProjectId, source, ct) is (true, var recipeId))
            {
                recipes.Add(recipeId);
            }
        }

        await datasets.CreateCopyTargetAsync(input.ProjectId, input.DatasetId, input.Name, input.CreatedBy, input.Sources, recipes.Count == 1 ? recipes.Single() : null, ct);
        if (await projects.GetAsync(input.ProjectId, ct) is null)
        {
            // The project's delete started meanwhile and may have listed its datasets already: take this one back.
            await IdentityStore.DeleteIfExistsAsync(store.Container(DatasetContainers.Datasets), DatasetContainers.ProjectPartition(input.ProjectId), input.DatasetId, ct);
            return false;
        }

        return true;
    }

    /// <summary>Items matching the filter in every source (indexed counts; a deleted source counts 0).</summary>
    public async Task<long> CountAsync(CopyCountInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        var where = new FilterQuery(CompileFilter(input.FilterJson), [], 1, null).ToDocumentQuery(null, ItemsOnly).Where;
        long total = 0;
        foreach (var source in input.Sources)
        {
            if (await datasets.ExistsAsync(input.SourceProjectId ?? input.ProjectId, source, ct))
            {
                total += await Items.CountAsync(DatasetContainers.ItemPartition(source), where, ct);
            }
        }

        return total;
    }

    /// <summary>Copies one page of one source into the target; see the type's remarks for why it is safe to repeat.</summary>
    public async Task<CopyPageResult> CopyPageAsync(CopyPageInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (await projects.GetAsync(input.ProjectId, ct) is null || !await datasets.ExistsAsync(input.ProjectId, input.TargetDatasetId, ct))
        {
            return new CopyPageResult(0, 0, 0, null, TargetGone: true);
        }

        if (!await datasets.ExistsAsync(input.SourceProject, input.SourceDatasetId, ct))
        {
            // The source was deleted while the copy ran: nothing more to read from it.
            return new CopyPageResult(0, 0, 0, null, TargetGone: false);
        }

        var query = new FilterQuery(CompileFilter(input.FilterJson), [], PageSize, input.Continuation)
            .ToDocumentQuery(DatasetContainers.ItemPartition(input.SourceDatasetId), ItemsOnly);
        var page = await Items.QueryAsync(query, ct);
        var targetPartition = DatasetContainers.ItemPartition(input.TargetDatasetId);
        var sources = page.Items;
        var targetIds = sources.Select(d => TargetItemId(input.TargetDatasetId, input.SourceDatasetId, d.Id)).ToArray();
        var present = await ExistingAsync(targetPartition, targetIds, ct);

        var now = StoredTimestamp.Format(time.GetUtcNow());
        var copies = new NewItem?[sources.Count];
        var missingFile = 0;
        await Parallel.ForAsync(0, sources.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (k, token) =>
        {
            if (present[k])
            {
                return;
            }

            var source = sources[k].Body;
            var blobName = ItemStore.BlobName(input.ProjectId, input.TargetDatasetId, targetIds[k]);

            // Bulk JSON items still hold their bytes inline: the copy holds them inline too, with no blob to copy.
            var inline = source["inline"]?.GetValue<string>() is { } base64 ? Convert.FromBase64String(base64) : null;
            if (inline is null && !await CopyBlobAsync(source["blob"]!.GetValue<string>(), blobName, token))
            {
                Interlocked.Increment(ref missingFile);
                return;
            }

            copies[k] = new NewItem(TargetItem(source.Deserialize<Item>(DocumentJson.Options)!, input, targetIds[k], now), blobName, inline);
        });

        var toWrite = copies.Where(c => c is not null).Select(c => c!).ToList();
        var errors = await items.WriteAsync(input.TargetDatasetId, toWrite, ct);
        var pathTaken = 0;
        var landed = targetIds.Where((_, k) => present[k]).ToHashSet(StringComparer.Ordinal);
        for (var k = 0; k < toWrite.Count; k++)
        {
            // Another delivery of this same page may have written it meanwhile: that is a copy, not a conflict.
            if (errors[k] is null || await Items.ReadAsync(targetPartition, toWrite[k].Item.Id, ct) is not null)
            {
                landed.Add(toWrite[k].Item.Id);
                continue;
            }

            await blobs.DeleteAsync(options.Value.BlobContainer, toWrite[k].BlobName, ct);
            if (errors[k] is ItemPathTakenException)
            {
                pathTaken++;
                continue;
            }

            throw new InvalidOperationException($"Copying item '{toWrite[k].Item.Path}' into dataset '{input.TargetDatasetId}' failed: {errors[k]!.Message}", errors[k]);
        }

        var annotationsCopied = 0;
        if (input.WithAnnotations)
        {
            // Every item whose copy is in the target, also those an earlier delivery wrote: a crash between an item
            // and its annotations is mended by the retry, and the derived ids keep any annotation from being made twice.
            var copiesOf = Enumerable.Range(0, sources.Count).Where(k => landed.Contains(targetIds[k])).ToDictionary(k => sources[k].Id, k => targetIds[k], StringComparer.Ordinal);
            var sourceAnnotations = await annotations.ListOfItemsAsync(input.SourceDatasetId, [.. copiesOf.Keys], ct);
            await Parallel.ForEachAsync(sourceAnnotations, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (entry, token) =>
                Interlocked.Add(ref annotationsCopied, await CopyAnnotationsAsync(input, copiesOf[entry.Key], entry.Value, token)));
        }

        // A delete of the project or the target may have swept the target while this page was writing: the project
        // is marked deleting (or the dataset document removed) before any sweep, so reading it now tells. Then undo
        // this page's writes, so nothing unreachable is left behind.
        if (await projects.GetAsync(input.ProjectId, ct) is null || !await datasets.ExistsAsync(input.ProjectId, input.TargetDatasetId, ct))
        {
            foreach (var written in toWrite)
            {
                await annotations.DeleteAllOfItemAsync(input.TargetDatasetId, written.Item.Id, ct);
                await items.DeleteAsync(input.TargetDatasetId, written.Item.Id, ct);
                await blobs.DeleteAsync(options.Value.BlobContainer, written.BlobName, ct);
            }

            await IdentityStore.DeleteIfExistsAsync(Items, targetPartition, DatasetContainers.StatsId, ct);
            await IdentityStore.DeleteIfExistsAsync(Items, targetPartition, AnnotationStore.CounterId, ct);
            return new CopyPageResult(0, 0, 0, null, TargetGone: true);
        }

        var copied = present.Count(p => p) + toWrite.Count - pathTaken;
        return new CopyPageResult(copied, pathTaken, missingFile, page.ContinuationToken, TargetGone: false, annotationsCopied);
    }

    /// <summary>
    /// Copies a source item's annotations onto its copy, <see cref="AnnotationStore.MaxPerRequest"/> per atomic batch
    /// (with the copy's <c>annotationCount</c>/<c>annotated</c> and the target's counter); returns how many were created
    /// (those already there are skipped). Like the items, they are the requester's, made now.
    /// </summary>
    private async Task<int> CopyAnnotationsAsync(CopyPageInput input, string targetItemId, IReadOnlyList<Annotation> sourceAnnotations, CancellationToken ct)
    {
        var actor = new AnnotationActor(input.RequestedBy, "copy");
        var created = 0;
        foreach (var chunk in sourceAnnotations.Chunk(AnnotationStore.MaxPerRequest))
        {
            var copies = chunk
                .Select(a => (TargetAnnotationId(targetItemId, a.Id), new ValidAnnotation(a.Label, a.Shape, a.Geometry, a.Attributes, a.Frame, a.Frames)))
                .ToList();
            created += await annotations.CreateIfAbsentAsync(input.ProjectId, input.TargetDatasetId, targetItemId, copies, actor, requireStatusClear: false, [], ct) ?? 0;
        }

        return created;
    }

    /// <summary>Marks the target ready. False when it was deleted meanwhile.</summary>
    public Task<bool> CompleteAsync(string projectId, string datasetId, CancellationToken ct) =>
        datasets.CompleteCopyAsync(projectId, datasetId, ct);

    private static Item TargetItem(Item source, CopyPageInput input, string id, string now)
    {
        var metadata = source.Metadata.DeepClone().AsObject();
        if (!input.WithMetadata)
        {
            metadata["user"] = new JsonObject();
        }

        return source with
        {
            Id = id,
            ProjectId = input.ProjectId,
            DatasetId = input.TargetDatasetId,
            Annotated = false,
            Tags = input.WithMetadata ? source.Tags : [],
            Metadata = metadata,
            CreatedBy = input.RequestedBy,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    private async Task<bool[]> ExistingAsync(string partition, string[] ids, CancellationToken ct)
    {
        var present = new bool[ids.Length];
        await Parallel.ForAsync(0, ids.Length, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (k, token) =>
            present[k] = await Items.ReadAsync(partition, ids[k], token) is not null);
        return present;
    }

    /// <summary>Streams the source blob into the target name (overwriting a half-done earlier attempt). False when the source is gone.</summary>
    private async Task<bool> CopyBlobAsync(string sourceName, string targetName, CancellationToken ct)
    {
        var container = options.Value.BlobContainer;
        try
        {
            await using var download = await blobs.DownloadAsync(container, sourceName, cancellationToken: ct);
            await blobs.UploadAsync(container, targetName, download.Content, new BlobUploadOptions(download.Properties.ContentType), ct);
            return true;
        }
        catch (BlobNotFoundException)
        {
            return false;
        }
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
