using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Exports;
using Serverless.Core.Exports.Coco;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Recipes;
using Serverless.Functions.Tasks;

namespace Serverless.Functions.Exports;

/// <summary>
/// The I/O of an export, one bounded step per call: fix the plan, write one page of items as a part blob, stage
/// parts as blocks of the final blob, commit. Every step is idempotent: a page's part has a name derived from its
/// number and bytes that depend only on the plan, the data and the counts before it (ids and commas), so a
/// repeated page overwrites its part with the same bytes; blocks have ids derived from the part, so staging again
/// replaces a block with itself; and the commit names the blocks in a fixed order.
/// </summary>
/// <remarks>
/// The final blob is assembled from blocks: JSON as header, one items fragment per page, footer; COCO as prefix
/// (info, licenses, <c>images</c> opened), one images fragment per page, the separator into <c>annotations</c>,
/// one annotations fragment per page, suffix (categories). Fragments carry their own leading comma, so the
/// concatenation is one valid document. The only time inside the bytes is the export's <c>createdAt</c>.
/// Links written with <c>signedItemUrls</c> are signed when their page is written: the storage adapter puts a
/// start time into each signature, so a page written again after a crash has different links (and bytes).
/// </remarks>
public sealed class ExportWriter(
    IDocumentStore store,
    IBlobStore blobs,
    ExportStore exports,
    DatasetStore datasets,
    TaskStore tasks,
    RecipeStore recipes,
    ItemStore items,
    IOptions<ExportsOptions> options,
    IOptions<ItemsOptions> itemOptions) : IDisposable
{
    private const string FileFormat = "labels-json";
    private const int FileFormatVersion = 1;
    private const int StageParallelism = 4;

    /// <summary>Bytes a JSON writer may hold before it is flushed into its pooled stream.</summary>
    private const int FlushThreshold = 16 * 1024;

    /// <summary>Most values of one IN filter the store accepts.</summary>
    private const int MaxInList = 256;
    private static readonly Filter ItemsOnly = Filter.Eq("kind", "item");

    /// <summary>Sorting a range by itemId keeps SQLite on the itemId index instead of walking the partition in id order.</summary>
    private static readonly SortField[] ByItem = [new("itemId")];

    private readonly SemaphoreSlim _containerGate = new(1, 1);
    private volatile bool _containerReady;

    private ExportsOptions Options => options.Value;

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    private IDocumentContainer Tasks => store.Container(TaskContainers.Tasks);

    public void Dispose() => _containerGate.Dispose();

    /// <summary>Name of the finished export's blob.</summary>
    public static string BlobName(string projectId, string exportId) => $"{projectId}/{exportId}/labels.json";

    /// <summary>Name of one part: <paramref name="kind"/> <c>i</c> (items or images) or <c>a</c> (annotations) of page <paramref name="page"/>.</summary>
    public static string PartName(string projectId, string exportId, string kind, int page) =>
        $"{projectId}/{exportId}/parts/{kind}{page.ToString("D8", CultureInfo.InvariantCulture)}";

    /// <summary>Block id of a part (or of <c>h</c>eader, <c>m</c>iddle, <c>f</c>ooter with page 0): every id has the same length, as Blob Storage requires.</summary>
    public static string BlockId(string kind, int page) =>
        Convert.ToBase64String(Encoding.ASCII.GetBytes(kind + page.ToString("D8", CultureInfo.InvariantCulture)));

    /// <summary>Fixes what the export reads (idempotent: a stored plan is returned as it is). Null when the export is gone.</summary>
    public async Task<ExportPlan?> PrepareAsync(string projectId, string exportId, CancellationToken ct)
    {
        if (await exports.GetWithPlanAsync(projectId, exportId, ct) is not { } found)
        {
            return null;
        }

        if (found.Plan is { } existing)
        {
            return existing;
        }

        var export = found.Export;
        var scope = export.Scope;
        var sources = new List<ExportSource>();
        string? statusTask = null;
        long total = 0;
        var filter = scope.Filter is null ? null : FilterCompiler.CompileFilter(scope.Filter.ToJsonString(), FieldCatalogs.Items);
        if ((scope.TaskId ?? scope.QaTaskId) is { } taskId)
        {
            var task = await tasks.GetAsync(projectId, taskId, ct) ?? throw new InvalidOperationException($"Task '{taskId}' no longer exists.");
            sources.Add(new ExportSource(task.DatasetId, taskId));
            statusTask = taskId;
            total = (await tasks.GetProgressAsync(taskId, ct)).Total;
        }
        else
        {
            var ids = new List<string>();
            if (scope.DatasetId is { } datasetId)
            {
                ids.Add(datasetId);
            }
            else
            {
                string? token = null;
                do
                {
                    var page = await datasets.ListAsync(projectId, 200, token, ct);
                    ids.AddRange(page.Items.Select(d => d.Id));
                    token = page.ContinuationToken;
                }
                while (token is not null);
            }

            foreach (var id in ids)
            {
                sources.Add(new ExportSource(id, null));
                total += filter is null
                    ? await datasets.CountAsync(id, ct)
                    : await Items.CountAsync(DatasetContainers.ItemPartition(id), new FilterQuery(filter, [], 1, null).ToDocumentQuery(null, ItemsOnly).Where, ct);
            }
        }

        var (categories, recipeArray) = await RecipesAsync(projectId, sources, export.Labels, ct);
        var qaTasks = await QaTasksAsync(projectId, sources, scope.QaTaskId, ct);
        var plan = new ExportPlan(sources, categories, recipeArray, qaTasks, statusTask, total);
        return await exports.SavePlanAsync(projectId, exportId, plan, ct);
    }

    /// <summary>Reads one page of one source and writes its part(s); see the type's remarks for why it may run twice.</summary>
    public async Task<ExportPageResult> WritePageAsync(ExportPageInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (await exports.GetWithPlanAsync(input.ProjectId, input.ExportId, ct) is not { Plan: { } plan } found)
        {
            // Deleted (alone, or with its project) while running: parts the previous page uploaded after the
            // delete swept the blobs would otherwise stay behind.
            await DeleteBlobsAsync(input.ProjectId, input.ExportId, ct);
            return new ExportPageResult(true, null, 0, 0, 0, 0, 0, 0, 0, 0, null);
        }

        var export = found.Export;
        var source = plan.Sources[input.SourceIndex];
        var (documents, next) = await ReadItemsAsync(export, source, input.Continuation, ct);
        var selected = documents.Where(d => HasStatus(d, export.OnlyStatuses, plan.StatusTaskId)).ToList();
        var ids = selected.Select(d => d.Id).ToList();
        var links = export.SignedItemUrls ? await LinksAsync(selected, export, ct) : null;

        await EnsureContainerAsync(ct);
        // Pooled chunks, not MemoryStreams: see PooledBufferStream for why (large-object-heap garbage per page).
        using var itemsPart = new PooledBufferStream();
        using var annotationsPart = new PooledBufferStream();
        ExportPageResult result;
        try
        {
            if (export.Format == ExportFormats.Coco)
            {
                var categories = plan.Categories.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
                var annotations = await CocoAnnotationsAsync(source.DatasetId, ids, source.TaskId is null, export.Labels, categories, ct);
                result = WriteCocoPage(export, plan, selected, annotations, links, input, itemsPart, annotationsPart);
            }
            else
            {
                var annotations = await AnnotationsAsync(source.DatasetId, ids, source.TaskId is null, export.Labels, ct);
                var issues = await IssuesAsync(plan.QaTaskIds, ids, ct);
                result = WriteJsonPage(selected, annotations, issues, links, input, itemsPart);
            }
        }
        catch (CocoExportException ex)
        {
            return new ExportPageResult(false, ex.Message, documents.Count, 0, 0, 0, 0, 0, 0, 0, null);
        }

        // Independent round trips: both parts and the progress go out together.
        await Task.WhenAll(
            UploadPartAsync(PartName(input.ProjectId, input.ExportId, "i", input.PageIndex), itemsPart, ct),
            UploadPartAsync(PartName(input.ProjectId, input.ExportId, "a", input.PageIndex), annotationsPart, ct),
            exports.SetProgressAsync(input.ProjectId, input.ExportId, input.ItemsScannedBefore + documents.Count, ct));
        return result with { Scanned = documents.Count, ItemBytes = itemsPart.Length, AnnotationBytes = annotationsPart.Length, Next = next };
    }

    /// <summary>Stages the listed parts as blocks of the final blob (a few at a time).</summary>
    public async Task StagePartsAsync(ExportStageInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        var target = BlobName(input.ProjectId, input.ExportId);
        await Parallel.ForEachAsync(input.Pages, new ParallelOptions { MaxDegreeOfParallelism = StageParallelism, CancellationToken = ct }, async (page, token) =>
        {
            // Read into pooled chunks first: a seekable body is staged as it is, where the download stream would be
            // copied into a buffer grown by doubling (large-object-heap garbage for every part).
            using var buffer = new PooledBufferStream();
            await using (var part = await blobs.DownloadAsync(Options.BlobContainer, PartName(input.ProjectId, input.ExportId, input.Kind, page), null, token))
            {
                await part.Content.CopyToAsync(buffer, PooledBufferStream.ChunkSize, token);
            }

            buffer.Position = 0;
            await blobs.StageBlockAsync(Options.BlobContainer, target, BlockId(input.Kind, page), buffer, token);
        });
    }

    /// <summary>
    /// Stages the header, separator and footer, commits every block in order, marks the export done and deletes
    /// the parts. Returns the blob's size; -1 when the export is gone.
    /// </summary>
    public async Task<long> CommitAsync(ExportCommitInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (await exports.GetWithPlanAsync(input.ProjectId, input.ExportId, ct) is not { Plan: { } plan } found)
        {
            await DeleteBlobsAsync(input.ProjectId, input.ExportId, ct);
            return -1;
        }

        var export = found.Export;
        var run = input.Run;
        var target = BlobName(input.ProjectId, input.ExportId);
        var blocks = new List<string>();
        async Task StageAsync(string kind, ReadOnlyMemory<byte> bytes)
        {
            using var content = new MemoryStream(bytes.ToArray(), writable: false);
            await blobs.StageBlockAsync(Options.BlobContainer, target, BlockId(kind, 0), content, ct);
            blocks.Add(BlockId(kind, 0));
        }

        await EnsureContainerAsync(ct);
        if (export.Format == ExportFormats.Coco)
        {
            var parts = new CocoParts(CocoHeader(export, plan));
            await StageAsync("h", parts.Prefix());
            blocks.AddRange(run.ItemParts.Select(p => BlockId("i", p)));
            await StageAsync("m", CocoParts.Separator);
            blocks.AddRange(run.AnnotationParts.Select(p => BlockId("a", p)));
            await StageAsync("f", parts.Suffix());
        }
        else
        {
            await StageAsync("h", JsonHeader(export, plan));
            blocks.AddRange(run.ItemParts.Select(p => BlockId("i", p)));
            await StageAsync("f", JsonFooter(run));
        }

        var committed = await blobs.CommitBlocksAsync(Options.BlobContainer, target, blocks, new BlobUploadOptions("application/json"), ct);
        var counts = new ExportCounts(run.Items, run.Annotations, run.SkippedItems, run.SkippedLabels, run.Issues);
        if (!await exports.CompleteAsync(input.ProjectId, input.ExportId, committed.Length, counts, run.ItemsScanned, ct))
        {
            // Deleted between the check above and the commit: the file just committed belongs to nobody.
            await DeleteBlobsAsync(input.ProjectId, input.ExportId, ct);
            return -1;
        }

        await DeletePartsAsync(input.ProjectId, input.ExportId, ct);
        return committed.Length;
    }

    /// <summary>Marks the export failed and deletes its parts.</summary>
    public async Task FailAsync(ExportFailInput input, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(input);
        await exports.FailAsync(input.ProjectId, input.ExportId, input.Error, ct);
        await DeletePartsAsync(input.ProjectId, input.ExportId, ct);
    }

    /// <summary>Deletes every blob of an export (parts and file); idempotent.</summary>
    public async Task DeleteBlobsAsync(string projectId, string exportId, CancellationToken ct)
    {
        await EnsureContainerAsync(ct);
        await DeletePrefixAsync($"{projectId}/{exportId}/", ct);
    }

    /// <summary>A read link to the finished file, sent as an attachment named after the export.</summary>
    public async Task<ExportDownload> DownloadLinkAsync(Export export, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(export);
        var expires = now.AddMinutes(Options.DownloadLinkMinutes);
        var fileName = export.Name + (export.Format == ExportFormats.Coco ? ".coco.json" : ".json");
        var url = await blobs.CreateSasUriAsync(Options.BlobContainer, BlobName(export.ProjectId, export.Id), BlobSasPermissions.Read, expires,
            new BlobSasResponseHeaders(BlobSasResponseHeaders.Attachment(fileName), "application/json"), ct);
        return new ExportDownload(url, expires);
    }

    /// <summary>The COCO header of an export: info from its start, categories from its plan.</summary>
    public static CocoHeader CocoHeader(Export export, ExportPlan plan)
    {
        ArgumentNullException.ThrowIfNull(export);
        ArgumentNullException.ThrowIfNull(plan);
        var created = DateTimeOffset.Parse(export.CreatedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        return new CocoHeader(
            new CocoInfo($"Labels of project {export.ProjectId}", "1", created.Year, export.CreatedBy, string.Empty, created),
            [],
            [.. plan.Categories.Select(c => new CocoCategory(c.Id, c.Name, c.Supercategory, c.Shape == "point" ? [c.Name] : null, c.Shape == "point" ? [] : null))]);
    }

    private async Task<(IReadOnlyList<StoredDocument> Documents, string? Next)> ReadItemsAsync(Export export, ExportSource source, string? continuation, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(source.DatasetId);
        if (source.TaskId is { } taskId)
        {
            var taskItems = await tasks.ListItemsAsync(taskId, null, false, Options.PageSize, continuation, ct);
            var ids = taskItems.Items.Select(t => t.ItemId).ToList();
            if (ids.Count == 0)
            {
                return ([], taskItems.ContinuationToken);
            }

            var byId = new Dictionary<string, StoredDocument>(StringComparer.Ordinal);
            foreach (var chunk in ids.Chunk(MaxInList))
            {
                var found = await Items.QueryAsync(new DocumentQuery(partition, Filter.And(ItemsOnly, Filter.In("id", [.. chunk.Select(i => (JsonNode?)i)])), null, chunk.Length), ct);
                foreach (var doc in found.Items)
                {
                    byId[doc.Id] = doc;
                }
            }

            return ([.. ids.Where(byId.ContainsKey).Select(i => byId[i])], taskItems.ContinuationToken);
        }

        var filter = export.Scope.Filter is null ? null : FilterCompiler.CompileFilter(export.Scope.Filter.ToJsonString(), FieldCatalogs.Items);
        var page = await Items.QueryAsync(new FilterQuery(filter, [], Options.PageSize, continuation).ToDocumentQuery(partition, ItemsOnly), ct);
        return (page.Items, page.ContinuationToken);
    }

    /// <summary>Annotations of the items, grouped by item, each group oldest first (as the annotations endpoint lists them).</summary>
    /// <remarks>
    /// A dataset's items arrive in id order, so their annotations are read as one range of <c>itemId</c> (an index
    /// range scan; annotations of items in the range that the page left out are dropped here). A task's items arrive
    /// in the task's order and are looked up by lists of ids.
    /// </remarks>
    private async Task<Dictionary<string, List<JsonObject>>> AnnotationsAsync(string datasetId, List<string> itemIds, bool idOrdered, IReadOnlyList<string>? labels, CancellationToken ct)
    {
        var byItem = new Dictionary<string, List<JsonObject>>(StringComparer.Ordinal);
        if (itemIds.Count == 0)
        {
            return byItem;
        }

        var wanted = labels is null ? null : new HashSet<string>(labels, StringComparer.OrdinalIgnoreCase);
        var selected = itemIds.ToHashSet(StringComparer.Ordinal);
        var annotations = Filter.Eq("kind", "annotation");
        // No "kind" condition in the range query: with one, SQLite walks the kind index in id order through every
        // annotation of the dataset for each page (quadratic over an export); without, it seeks the itemId index.
        IEnumerable<Filter> filters = idOrdered
            ? [Filter.And(Filter.Gte("itemId", itemIds[0]), Filter.Lte("itemId", itemIds[^1]))]
            : itemIds.Chunk(MaxInList).Select(chunk => Filter.And(annotations, Filter.In("itemId", [.. chunk.Select(i => (JsonNode?)i)])));
        foreach (var where in filters)
        {
            string? token = null;
            do
            {
                var page = await Items.QueryAsync(new DocumentQuery(DatasetContainers.ItemPartition(datasetId), where, idOrdered ? ByItem : null, DocumentLimits.MaxPageSize, token), ct);
                foreach (var doc in page.Items)
                {
                    if (doc.Body["kind"]?.GetValue<string>() != "annotation" || doc.Body["itemId"]?.GetValue<string>() is not { } itemId)
                    {
                        continue;
                    }

                    if (!selected.Contains(itemId) || (wanted is not null && !wanted.Contains(doc.Body["label"]?.GetValue<string>() ?? string.Empty)))
                    {
                        continue;
                    }

                    if (!byItem.TryGetValue(itemId, out var list))
                    {
                        byItem[itemId] = list = [];
                    }

                    list.Add(doc.Body);
                }

                token = page.ContinuationToken;
            }
            while (token is not null);
        }

        // Sorted here rather than by the store: a sort in the query made SQLite sort every page of the IN list.
        foreach (var list in byItem.Values)
        {
            list.Sort(static (a, b) =>
            {
                var byTime = string.CompareOrdinal(a["createdAt"]?.GetValue<string>(), b["createdAt"]?.GetValue<string>());
                return byTime != 0 ? byTime : string.CompareOrdinal(a["id"]?.GetValue<string>(), b["id"]?.GetValue<string>());
            });
        }

        return byItem;
    }

    /// <summary>
    /// The COCO view of the items' annotations, grouped by item, each group oldest first. Reads the same documents
    /// as <see cref="AnnotationsAsync"/> but as bytes when the store offers them, so a million annotations are
    /// not built into <c>JsonObject</c> trees only to have five fields read.
    /// </summary>
    private async Task<Dictionary<string, List<CocoAnnotationSource>>> CocoAnnotationsAsync(
        string datasetId, List<string> itemIds, bool idOrdered, IReadOnlyList<string>? labels, Dictionary<string, ExportCategory> categories, CancellationToken ct)
    {
        var byItem = new Dictionary<string, List<CocoAnnotationSource>>(StringComparer.Ordinal);
        if (itemIds.Count == 0)
        {
            return byItem;
        }

        var wanted = labels is null ? null : new HashSet<string>(labels, StringComparer.OrdinalIgnoreCase);
        var selected = itemIds.ToHashSet(StringComparer.Ordinal);
        foreach (var where in AnnotationFilters(itemIds, idOrdered))
        {
            var pending = RawPageAsync(datasetId, where, idOrdered, null, ct);
            while (true)
            {
                var (bodies, token) = await pending;
                // The store reads the next page on another thread while this one is parsed: the two cores share the work.
                pending = token is null ? null : Task.Run(() => RawPageAsync(datasetId, where, idOrdered, token, ct), ct);
                foreach (var body in bodies)
                {
                    if (CocoAnnotationSource.Read(body, selected, wanted, categories) is not { } annotation)
                    {
                        continue;
                    }

                    if (!byItem.TryGetValue(annotation.ItemId, out var list))
                    {
                        byItem[annotation.ItemId] = list = [];
                    }

                    list.Add(annotation);
                }

                if (pending is null)
                {
                    break;
                }
            }
        }

        foreach (var list in byItem.Values)
        {
            list.Sort(CocoAnnotationSource.Compare);
        }

        return byItem;
    }

    /// <summary>One page of annotation bodies as bytes (serialized again from the parsed documents when the store has no raw path).</summary>
    private async Task<(IReadOnlyList<ReadOnlyMemory<byte>> Bodies, string? Next)> RawPageAsync(string datasetId, Filter where, bool idOrdered, string? token, CancellationToken ct)
    {
        var query = new DocumentQuery(DatasetContainers.ItemPartition(datasetId), where, idOrdered ? ByItem : null, DocumentLimits.MaxPageSize, token);
        if (Items is IRawDocumentQuery raw)
        {
            var page = await raw.QueryRawAsync(query, ct);
            return ([.. page.Items.Select(d => d.Utf8Body)], page.ContinuationToken);
        }

        var parsed = await Items.QueryAsync(query, ct);
        return ([.. parsed.Items.Select(d => (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(d.Body))], parsed.ContinuationToken);
    }

    /// <summary>
    /// A dataset's items arrive in id order, so their annotations are read as one range of <c>itemId</c>; a task's
    /// items arrive in the task's order and are looked up by lists of ids.
    /// </summary>
    /// <remarks>
    /// No "kind" condition in the range query: with one, SQLite walks the kind index in id order through every
    /// annotation of the dataset for each page (quadratic over an export); without, it seeks the itemId index.
    /// </remarks>
    private static IEnumerable<Filter> AnnotationFilters(List<string> itemIds, bool idOrdered) => idOrdered
        ? [Filter.And(Filter.Gte("itemId", itemIds[0]), Filter.Lte("itemId", itemIds[^1]))]
        : itemIds.Chunk(MaxInList).Select(chunk => Filter.And(Filter.Eq("kind", "annotation"), Filter.In("itemId", [.. chunk.Select(i => (JsonNode?)i)])));

    private async Task<Dictionary<string, List<JsonObject>>> IssuesAsync(IReadOnlyList<string> qaTaskIds, List<string> itemIds, CancellationToken ct)
    {
        var byItem = new Dictionary<string, List<JsonObject>>(StringComparer.Ordinal);
        if (itemIds.Count == 0)
        {
            return byItem;
        }

        foreach (var (qaTaskId, chunk) in qaTaskIds.SelectMany(q => itemIds.Chunk(MaxInList).Select(c => (q, c))))
        {
            var where = Filter.And(Filter.Eq("kind", "issue"), Filter.In("itemId", [.. chunk.Select(i => (JsonNode?)i)]));
            string? token = null;
            do
            {
                var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.TaskPartition(qaTaskId), where, [new SortField("createdAt"), new SortField("id")], DocumentLimits.MaxPageSize, token), ct);
                foreach (var doc in page.Items)
                {
                    var itemId = doc.Body["itemId"]!.GetValue<string>();
                    if (!byItem.TryGetValue(itemId, out var list))
                    {
                        byItem[itemId] = list = [];
                    }

                    list.Add(doc.Body);
                }

                token = page.ContinuationToken;
            }
            while (token is not null);
        }

        return byItem;
    }

    private async Task<Dictionary<string, string>> LinksAsync(IReadOnlyList<StoredDocument> documents, Export export, CancellationToken ct)
    {
        var created = DateTimeOffset.Parse(export.CreatedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        var expires = created.AddHours(Options.ItemLinkHours);
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var doc in documents)
        {
            var item = doc.Body.Deserialize<Item>(DocumentJson.Options)!;
            var blobName = doc.Body["blob"]!.GetValue<string>();
            if (doc.Body["inline"] is not null && await items.GetStoredAsync(item.DatasetId, item.Id, ct) is { } stored)
            {
                // Bulk JSON items keep their bytes in the document until a link needs the blob: this writes it.
                await items.CreateDownloadLinkAsync(stored, TimeSpan.FromMinutes(1), ct);
            }

            var url = await blobs.CreateSasUriAsync(itemOptions.Value.BlobContainer, blobName, BlobSasPermissions.Read, expires,
                new BlobSasResponseHeaders(BlobSasResponseHeaders.Attachment(item.Name), ItemStore.MimeType(item)), ct);
            links[doc.Id] = url.ToString();
        }

        return links;
    }

    private static bool HasStatus(StoredDocument item, IReadOnlyList<string>? onlyStatuses, string? statusTask)
    {
        if (onlyStatuses is null)
        {
            return true;
        }

        if (item.Body["status"] is not JsonObject statuses)
        {
            return false;
        }

        foreach (var (taskId, value) in statuses)
        {
            if ((statusTask is null || taskId == statusTask) && value is JsonValue v && v.GetValueKind() == JsonValueKind.String
                && onlyStatuses.Contains(v.GetValue<string>(), StringComparer.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static ExportPageResult WriteJsonPage(
        List<StoredDocument> selected, Dictionary<string, List<JsonObject>> annotations, Dictionary<string, List<JsonObject>> issues,
        Dictionary<string, string>? links, ExportPageInput input, PooledBufferStream output)
    {
        long annotationCount = 0, issueCount = 0;
        using var array = new PooledBufferStream();
        using (var json = new Utf8JsonWriter(array))
        {
            // Elements go between the header's '[' and the footer's ']': written inside an array that is cut off below.
            json.WriteStartArray();
            foreach (var doc in selected)
            {
                var body = doc.Body;
                json.WriteStartObject();
                json.WriteString("id", doc.Id);
                json.WriteString("datasetId", body["datasetId"]?.GetValue<string>());
                json.WriteString("path", body["path"]?.GetValue<string>());
                json.WriteString("type", body["type"]?.GetValue<string>());
                if (body["metadata"]?["system"] is JsonObject system)
                {
                    WriteIfPresent(json, "width", system["width"]);
                    WriteIfPresent(json, "height", system["height"]);
                }

                if (links is not null && links.TryGetValue(doc.Id, out var link))
                {
                    json.WriteString("url", link);
                }

                if (body["metadata"]?["user"] is JsonObject user)
                {
                    json.WritePropertyName("metadata");
                    user.WriteTo(json);
                }

                json.WritePropertyName("statuses");
                json.WriteStartObject();
                if (body["status"] is JsonObject statuses)
                {
                    foreach (var (taskId, value) in statuses.OrderBy(p => p.Key, StringComparer.Ordinal))
                    {
                        if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String)
                        {
                            json.WriteString(taskId, v.GetValue<string>());
                        }
                    }
                }

                json.WriteEndObject();
                json.WritePropertyName("annotations");
                json.WriteStartArray();
                foreach (var a in annotations.GetValueOrDefault(doc.Id) ?? [])
                {
                    WriteAnnotation(json, a);
                    annotationCount++;
                }

                json.WriteEndArray();
                json.WritePropertyName("issues");
                json.WriteStartArray();
                foreach (var issue in issues.GetValueOrDefault(doc.Id) ?? [])
                {
                    json.WriteStartObject();
                    foreach (var field in (string[])["id", "qaTaskId", "sourceTaskId", "annotationId", "comment", "tag", "state", "reviewer", "annotator", "createdAt", "updatedAt"])
                    {
                        json.WritePropertyName(field);
                        WriteNode(json, issue[field]);
                    }

                    json.WriteEndObject();
                    issueCount++;
                }

                json.WriteEndArray();
                json.WriteEndObject();

                // The writer buffers until flushed, growing by doubling: flushing keeps the bytes in pooled chunks.
                if (json.BytesPending > FlushThreshold)
                {
                    json.Flush();
                }
            }

            json.WriteEndArray();
        }

        CutArray(array, output, input.ItemsBefore > 0 && selected.Count > 0);
        return new ExportPageResult(false, null, 0, selected.Count, annotationCount, 0, 0, issueCount, 0, 0, null);
    }

    private static void WriteAnnotation(Utf8JsonWriter json, JsonObject a)
    {
        json.WriteStartObject();
        json.WriteString("id", a["id"]?.GetValue<string>());
        json.WriteString("label", a["label"]?.GetValue<string>());
        json.WriteString("shape", a["shape"]?.GetValue<string>());
        json.WritePropertyName("geometry");
        WriteNode(json, a["geometry"]);
        json.WritePropertyName("attributes");
        WriteNode(json, a["attributes"] ?? new JsonObject());
        WriteIfPresent(json, "frame", a["frame"]);
        WriteIfPresent(json, "frames", a["frames"]);
        foreach (var field in (string[])["createdBy", "createdAt", "updatedBy", "updatedAt"])
        {
            json.WriteString(field, a[field]?.GetValue<string>());
        }

        json.WriteEndObject();
    }

    private static ExportPageResult WriteCocoPage(
        Export export, ExportPlan plan, List<StoredDocument> selected, Dictionary<string, List<CocoAnnotationSource>> annotations,
        Dictionary<string, string>? links, ExportPageInput input, Stream images, Stream annotationPart)
    {
        var pageImages = new List<CocoImage>(selected.Count);
        long skippedItems = 0, unknownLabels = 0;
        foreach (var doc in selected)
        {
            var body = doc.Body;
            var system = body["metadata"]?["system"];
            if (body["type"]?.GetValue<string>() != "image" || Number(system?["width"]) is not { } width || Number(system?["height"]) is not { } height)
            {
                skippedItems++;
                continue;
            }

            var path = body["path"]!.GetValue<string>();
            var fileName = path.TrimStart('/');
            var inputs = new List<CocoAnnotationInput>();
            foreach (var a in annotations.GetValueOrDefault(doc.Id) ?? [])
            {
                if (a.Category is not { } category)
                {
                    unknownLabels++;
                    continue;
                }

                inputs.Add(new CocoAnnotationInput(category.Id, a.Shape ?? throw a.Problem!.ToException(fileName)));
            }

            pageImages.Add(new CocoImage(fileName, (int)width, (int)height, inputs, links?.GetValueOrDefault(doc.Id)));
        }

        var parts = new CocoParts(CocoHeader(export, plan));
        var written = parts.WritePage(pageImages, input.ItemsBefore + 1, input.AnnotationsBefore + 1, input.ItemsBefore > 0, input.AnnotationsBefore > 0, images, annotationPart);
        return new ExportPageResult(false, null, 0, written.Images, written.Annotations, skippedItems, written.SkippedClassifications + unknownLabels, 0, 0, 0, null);
    }

    private static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : null;

    private static void WriteIfPresent(Utf8JsonWriter json, string name, JsonNode? value)
    {
        if (value is not null)
        {
            json.WritePropertyName(name);
            value.WriteTo(json);
        }
    }

    private static void WriteNode(Utf8JsonWriter json, JsonNode? value)
    {
        if (value is null)
        {
            json.WriteNullValue();
        }
        else
        {
            value.WriteTo(json);
        }
    }

    /// <summary>Writes the elements of the compact JSON <paramref name="array"/> to <paramref name="output"/>, after a comma when <paramref name="leadingComma"/>.</summary>
    private static void CutArray(PooledBufferStream array, PooledBufferStream output, bool leadingComma)
    {
        if (array.Length <= 2)
        {
            return;
        }

        if (leadingComma)
        {
            output.WriteByte((byte)',');
        }

        array.CopyTo(output, 1, array.Length - 2);
    }

    private static byte[] JsonHeader(Export export, ExportPlan plan)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("format", FileFormat);
            json.WriteNumber("version", FileFormatVersion);
            json.WriteString("projectId", export.ProjectId);
            json.WriteString("createdAt", export.CreatedAt);
            json.WritePropertyName("scope");
            JsonSerializer.SerializeToNode(export.Scope, DocumentJson.Options)!.WriteTo(json);
            json.WritePropertyName("options");
            json.WriteStartObject();
            json.WritePropertyName("onlyStatuses");
            JsonSerializer.SerializeToNode(export.OnlyStatuses, DocumentJson.Options).WriteToOrNull(json);
            json.WritePropertyName("labels");
            JsonSerializer.SerializeToNode(export.Labels, DocumentJson.Options).WriteToOrNull(json);
            json.WriteBoolean("signedItemUrls", export.SignedItemUrls);
            json.WriteEndObject();
            json.WritePropertyName("recipes");
            plan.Recipes.WriteTo(json);
            json.WritePropertyName("items");
            json.WriteStartArray();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        var bytes = buffer.ToArray();
        return bytes[..^2];
    }

    private static byte[] JsonFooter(ExportRun run) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"],\"counts\":{{\"items\":{run.Items},\"annotations\":{run.Annotations},\"issues\":{run.Issues}}}}}"));

    private async Task<(IReadOnlyList<ExportCategory>, JsonArray)> RecipesAsync(string projectId, IReadOnlyList<ExportSource> sources, IReadOnlyList<string>? labels, CancellationToken ct)
    {
        var categories = new List<ExportCategory>();
        var byName = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var recipeArray = new JsonArray();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var wanted = labels is null ? null : new HashSet<string>(labels, StringComparer.OrdinalIgnoreCase);
        var position = 0;
        foreach (var datasetId in sources.Select(s => s.DatasetId).Distinct(StringComparer.Ordinal))
        {
            var (_, recipeId) = await datasets.GetRecipeIdAsync(projectId, datasetId, ct);
            if (recipeId is null || !seen.Add(recipeId) || await recipes.GetAsync(projectId, recipeId, ct) is not { } versioned)
            {
                continue;
            }

            var recipe = versioned.Recipe;
            recipeArray.Add(new JsonObject
            {
                ["id"] = recipe.Id,
                ["name"] = recipe.Name,
                ["classes"] = JsonSerializer.SerializeToNode(recipe.Classes, DocumentJson.Options),
            });
            foreach (var labelClass in recipe.Classes)
            {
                if (!byName.Add(labelClass.Name))
                {
                    continue;
                }

                // Ids are positions in the recipes' classes, counted before the label filter, so a filtered export keeps the ids of a full one.
                position++;
                if (wanted is null || wanted.Contains(labelClass.Name))
                {
                    categories.Add(new ExportCategory(position, labelClass.Name, recipe.Name, labelClass.Shape.ToString().ToLowerInvariant()));
                }
            }
        }

        return (categories, recipeArray);
    }

    private async Task<IReadOnlyList<string>> QaTasksAsync(string projectId, IReadOnlyList<ExportSource> sources, string? qaTaskId, CancellationToken ct)
    {
        if (qaTaskId is not null)
        {
            return [qaTaskId];
        }

        var datasetIds = sources.Select(s => s.DatasetId).ToHashSet(StringComparer.Ordinal);
        var found = new List<string>();
        string? token = null;
        do
        {
            var page = await tasks.ListAsync(projectId, 200, token, ct);
            found.AddRange(page.Items.Where(t => t.Type == "qa" && datasetIds.Contains(t.DatasetId)).Select(t => t.Id));
            token = page.ContinuationToken;
        }
        while (token is not null);
        return found;
    }

    private async Task UploadPartAsync(string name, PooledBufferStream part, CancellationToken ct)
    {
        if (part.Length == 0)
        {
            return;
        }

        part.Position = 0;
        await blobs.UploadAsync(Options.BlobContainer, name, part, new BlobUploadOptions("application/json"), ct);
    }

    private async Task DeletePartsAsync(string projectId, string exportId, CancellationToken ct) =>
        await DeletePrefixAsync($"{projectId}/{exportId}/parts/", ct);

    private async Task DeletePrefixAsync(string prefix, CancellationToken ct)
    {
        string? token = null;
        do
        {
            var page = await blobs.ListAsync(Options.BlobContainer, prefix, 1000, token, ct);
            foreach (var blob in page.Items)
            {
                await blobs.DeleteAsync(Options.BlobContainer, blob.Name, ct);
            }

            token = page.ContinuationToken;
        }
        while (token is not null);
    }

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (_containerReady)
        {
            return;
        }

        await _containerGate.WaitAsync(ct);
        try
        {
            if (!_containerReady)
            {
                await blobs.CreateContainerIfNotExistsAsync(Options.BlobContainer, ct);
                _containerReady = true;
            }
        }
        finally
        {
            _containerGate.Release();
        }
    }
}

/// <summary>Writes a node, or JSON null for a null node.</summary>
internal static class JsonNodeWriting
{
    public static void WriteToOrNull(this JsonNode? node, Utf8JsonWriter json)
    {
        if (node is null)
        {
            json.WriteNullValue();
        }
        else
        {
            node.WriteTo(json);
        }
    }
}
