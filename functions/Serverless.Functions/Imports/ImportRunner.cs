using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Annotations;
using Serverless.Core.Filters;
using Serverless.Core.Imports;
using Serverless.Core.Recipes;
using Serverless.Core.Storage.Blobs;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Annotations;
using Serverless.Functions.Datasets;
using Serverless.Functions.Http;
using Serverless.Functions.Items;
using Serverless.Functions.Projects;
using Serverless.Functions.Recipes;

namespace Serverless.Functions.Imports;

/// <summary>
/// Runs an import: reads the uploaded file twice, streaming. The first pass checks that it is JSON of the right
/// shape (and, for COCO, collects the images and categories, which annotations refer to by id) — a file that fails
/// it fails the import with nothing written. The second pass validates each annotation with the same rules as the
/// annotations API (<see cref="AnnotationsApi.Validate"/>: class in the recipe, shape, attributes, geometry inside
/// the item) and writes the valid ones in batches per item with ids derived from the import id and the entry's
/// position, so a repeated run (activities run at least once) finds them and creates nothing twice.
/// </summary>
public sealed class ImportRunner(
    ImportStore imports,
    AnnotationStore annotations,
    DatasetStore datasets,
    RecipeStore recipes,
    ProjectStore projects,
    IBlobStore blobs,
    PathClaims claims,
    IOptions<ImportsOptions> options,
    TimeProvider time)
{
    private static readonly HashSet<string> JsonArrays = new(["items"], StringComparer.Ordinal);
    private static readonly HashSet<string> CocoArrays = new(["images", "categories", "annotations"], StringComparer.Ordinal);

    private AnnotationStore Annotations => annotations;

    private PathClaims Claims => claims;

    /// <summary>Runs the import and records its outcome; returns its final state (null when the import is gone).</summary>
    public async Task<string?> RunAsync(string projectId, string importId, CancellationToken ct)
    {
        var import = await imports.GetAsync(projectId, importId, ct);
        if (import is null)
        {
            return null;
        }

        var project = await projects.GetAsync(projectId, ct);
        var dataset = await datasets.GetRecipeIdAsync(projectId, import.DatasetId, ct);
        var recipe = dataset.RecipeId is { } recipeId ? await recipes.GetAsync(projectId, recipeId, ct) : null;
        if (project is null || recipe is null)
        {
            return await FinishAsync(import, ImportFormats.Failed, $"Dataset '{import.DatasetId}' has no recipe (any more), so annotations cannot be checked.", null, ct);
        }

        var run = new Run(this, import, recipe.Recipe.ToOntology(), project.Project.Settings.RequireStatusClearBeforeEdit, options.Value.MaxStoredErrors);
        try
        {
            if (import.Format == ImportFormats.Coco)
            {
                await run.CocoAsync(ct);
            }
            else
            {
                await run.JsonAsync(ct);
            }
        }
        catch (ImportFormatException ex)
        {
            return await FinishAsync(import, ImportFormats.Failed, ex.Message, null, ct);
        }

        return await FinishAsync(import, ImportFormats.Done, null, run, ct);
    }

    /// <summary>Marks the import failed (a step failed after its retries).</summary>
    public async Task FailAsync(string projectId, string importId, string error, CancellationToken ct)
    {
        if (await imports.GetAsync(projectId, importId, ct) is { } import)
        {
            await FinishAsync(import, ImportFormats.Failed, error, null, ct);
        }
    }

    private async Task<string> FinishAsync(Import import, string state, string? error, Run? run, CancellationToken ct)
    {
        await imports.SaveAsync(
            import with
            {
                State = state,
                Error = error,
                Counts = run?.Counts ?? new ImportCounts(0, 0, 0, 0, 0),
                Errors = run is null ? [] : [.. run.Errors],
                ErrorCount = run?.ErrorCount ?? 0,
                UpdatedAt = StoredTimestamp.Format(time.GetUtcNow()),
            },
            ct);
        return state;
    }

    private async Task<BlobDownload> OpenAsync(Import import, CancellationToken ct) =>
        await blobs.DownloadAsync(options.Value.BlobContainer, import.BlobName, null, ct);

    /// <summary>One run's state: the counts, the errors kept, the annotations waiting to be written per item.</summary>
    private sealed class Run(ImportRunner owner, Import import, Ontology recipe, bool requireStatusClear, int maxErrors)
    {
        /// <summary>Annotations waiting in memory before every item's pending batch is written.</summary>
        private const int MaxPending = 2000;

        private readonly Dictionary<string, List<(string Path, string Id, ValidAnnotation Annotation)>> _pending = new(StringComparer.Ordinal);
        private readonly Dictionary<string, MediaBounds?> _items = new(StringComparer.Ordinal);
        private readonly JsonObject _marks = new() { ["source"] = ImportFormats.Source, ["importId"] = import.Id };
        private int _pendingCount;
        private long _matched;
        private long _unmatched;
        private long _entries;
        private long _created;
        private long _rejected;

        public List<ImportError> Errors { get; } = [];

        public long ErrorCount { get; private set; }

        public ImportCounts Counts => new(_matched, _unmatched, _entries, _created, _rejected);

        /// <summary>Our labels format: <c>items[]</c>, each with <c>path</c> and <c>annotations[]</c>.</summary>
        public async Task JsonAsync(CancellationToken ct)
        {
            var sawItems = false;
            await using (var download = await owner.OpenAsync(import, ct))
            {
                await foreach (var e in JsonArrayReader.ReadAsync(download.Content, JsonArrays, ct))
                {
                    if (e.Property == "format" && e.Index < 0 && Text(e.Value) != "labels-json")
                    {
                        throw new ImportFormatException($"'format' is {e.Value?.ToJsonString() ?? "null"}: a JSON import takes our labels export (\"format\": \"labels-json\").");
                    }

                    if (e.Property == "version" && e.Index < 0 && e.Value?.ToJsonString() != "1")
                    {
                        throw new ImportFormatException($"'version' {e.Value?.ToJsonString() ?? "null"} is not supported: version 1 is.");
                    }

                    sawItems |= e.Property == "items";
                }
            }

            if (!sawItems)
            {
                throw new ImportFormatException("The file has no 'items' array: a JSON import takes our labels export (\"format\": \"labels-json\").");
            }

            long entry = 0;
            await using var second = await owner.OpenAsync(import, ct);
            await foreach (var e in JsonArrayReader.ReadAsync(second.Content, JsonArrays, ct))
            {
                if (e.Property != "items" || e.Index < 0)
                {
                    continue;
                }

                var path = $"/items/{e.Index}";
                var list = e.Value?["annotations"] as JsonArray;
                if (e.Value is not JsonObject item || Text(item["path"]) is not { } itemPath)
                {
                    _entries += list?.Count ?? 0;
                    Reject(path, "An item is an object with its 'path'.", list?.Count ?? 0);
                    entry += list?.Count ?? 0;
                    continue;
                }

                var itemId = await MatchAsync(itemPath, ct);
                if (itemId is null)
                {
                    _unmatched++;
                    _entries += list?.Count ?? 0;
                    Reject(path + "/path", $"No item of the dataset has path '{itemPath}'.", list?.Count ?? 0);
                    entry += list?.Count ?? 0;
                    continue;
                }

                _matched++;
                for (var j = 0; list is not null && j < list.Count; j++, entry++)
                {
                    var a = list[j];
                    var draft = a is JsonObject o
                        ? new AnnotationDraft(Text(o["label"]), o["geometry"], o["attributes"] as JsonObject, Null(o["frame"]), Null(o["frames"]))
                        : null;
                    var attributesWrong = a is JsonObject withAttributes && withAttributes["attributes"] is not (null or JsonObject);
                    await AddAsync(itemId, $"{path}/annotations/{j}", entry, draft, attributesWrong, null, ct);
                }
            }

            await FlushAllAsync(ct);
        }

        /// <summary>COCO: images and categories first (first pass), then annotations streamed (second pass).</summary>
        public async Task CocoAsync(CancellationToken ct)
        {
            var images = new Dictionary<long, (string FileName, int Index)>();
            var categories = new Dictionary<long, string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            await using (var download = await owner.OpenAsync(import, ct))
            {
                await foreach (var e in JsonArrayReader.ReadAsync(download.Content, CocoArrays, ct))
                {
                    seen.Add(e.Property);
                    if (e.Index < 0)
                    {
                        continue;
                    }

                    if (e.Property == "images" && Long(e.Value?["id"]) is { } imageId && Text(e.Value?["file_name"]) is { } fileName)
                    {
                        images[imageId] = (fileName, e.Index);
                    }
                    else if (e.Property == "images")
                    {
                        Reject($"/images/{e.Index}", "An image needs a numeric 'id' and a 'file_name'.", 0);
                    }
                    else if (e.Property == "categories" && Long(e.Value?["id"]) is { } categoryId && Text(e.Value?["name"]) is { } name)
                    {
                        categories[categoryId] = name;
                    }
                    else if (e.Property == "categories")
                    {
                        Reject($"/categories/{e.Index}", "A category needs a numeric 'id' and a 'name'.", 0);
                    }
                }
            }

            if (!seen.Contains("images") || !seen.Contains("annotations"))
            {
                throw new ImportFormatException("The file is not COCO: it needs 'images' and 'annotations' arrays (and 'categories').");
            }

            // Images → items by path (file_name is the item path without its leading '/').
            var itemOf = new Dictionary<long, string?>();
            foreach (var (imageId, (fileName, index)) in images)
            {
                var itemId = await MatchAsync(fileName.StartsWith('/') ? fileName : "/" + fileName, ct);
                itemOf[imageId] = itemId;
                if (itemId is null)
                {
                    _unmatched++;
                    Reject($"/images/{index}/file_name", $"No item of the dataset has path '/{fileName.TrimStart('/')}'.", 0);
                }
                else
                {
                    _matched++;
                }
            }

            await using var second = await owner.OpenAsync(import, ct);
            await foreach (var e in JsonArrayReader.ReadAsync(second.Content, CocoArrays, ct))
            {
                if (e.Property != "annotations" || e.Index < 0)
                {
                    continue;
                }

                var path = $"/annotations/{e.Index}";
                if (e.Value is not JsonObject a)
                {
                    _entries++;
                    Reject(path, "An annotation is an object.", 1);
                    continue;
                }

                if (Long(a["image_id"]) is not { } imageId || !itemOf.TryGetValue(imageId, out var itemId))
                {
                    _entries++;
                    Reject(path + "/image_id", $"Image {a["image_id"]?.ToJsonString() ?? "null"} is not in 'images'.", 1);
                    continue;
                }

                if (itemId is null)
                {
                    _entries++;
                    Reject(path + "/image_id", $"Image {imageId} ('{images[imageId].FileName}') matches no item of the dataset.", 1);
                    continue;
                }

                if (Long(a["category_id"]) is not { } categoryId || !categories.TryGetValue(categoryId, out var label))
                {
                    _entries++;
                    Reject(path + "/category_id", $"Category {a["category_id"]?.ToJsonString() ?? "null"} is not in 'categories'.", 1);
                    continue;
                }

                var shape = recipe.FindClass(label)?.Shape;
                var (geometry, problem, field) = CocoGeometry(a, shape);
                if (problem is not null)
                {
                    _entries++;
                    Reject($"{path}/{field}", problem, 1);
                    continue;
                }

                var attributes = a["attributes"] as JsonObject;
                await AddAsync(itemId, path, e.Index, new AnnotationDraft(label, geometry, attributes, null, null), a["attributes"] is not (null or JsonObject), field, ct);
            }

            await FlushAllAsync(ct);
        }

        /// <summary>Validates one entry against the recipe and its item, and queues it for its item's batch.</summary>
        private async Task AddAsync(string itemId, string path, long entry, AnnotationDraft? draft, bool attributesWrong, string? geometryField, CancellationToken ct)
        {
            _entries++;
            if (attributesWrong)
            {
                Reject(path + "/attributes", "'attributes' is an object.", 1);
                return;
            }

            var bounds = _items[itemId] ?? MediaBounds.Unknown;
            var errors = new FieldErrors();
            if (AnnotationsApi.Validate(recipe, draft, bounds, path, errors) is not { } valid)
            {
                _rejected++;
                foreach (var (field, messages) in errors.ToDictionary())
                {
                    // COCO errors name the file's field (bbox, segmentation, keypoints), not our geometry's.
                    var named = geometryField is not null && field.StartsWith(path + "/geometry", StringComparison.Ordinal) ? path + "/" + geometryField : field;
                    foreach (var message in messages)
                    {
                        Error(named, message);
                    }
                }

                return;
            }

            if (!_pending.TryGetValue(itemId, out var list))
            {
                _pending[itemId] = list = [];
            }

            list.Add((path, $"{import.Id}-{entry.ToString(CultureInfo.InvariantCulture)}", valid));
            _pendingCount++;
            if (list.Count == AnnotationStore.MaxPerRequest)
            {
                await FlushAsync(itemId, ct);
            }
            else if (_pendingCount >= MaxPending)
            {
                await FlushAllAsync(ct);
            }
        }

        private async Task FlushAllAsync(CancellationToken ct)
        {
            foreach (var itemId in _pending.Keys.ToList())
            {
                await FlushAsync(itemId, ct);
            }
        }

        private async Task FlushAsync(string itemId, CancellationToken ct)
        {
            if (!_pending.Remove(itemId, out var list) || list.Count == 0)
            {
                return;
            }

            _pendingCount -= list.Count;
            try
            {
                var created = await owner.Annotations.CreateIfAbsentAsync(
                    import.ProjectId, import.DatasetId, itemId, [.. list.Select(p => (p.Id, p.Annotation))], new AnnotationActor(import.CreatedBy, "import:" + import.Id), requireStatusClear, _marks, ct);
                if (created is null)
                {
                    foreach (var p in list)
                    {
                        Reject(p.Path, $"Item '{itemId}' was deleted during the import.", 1);
                    }

                    return;
                }

                _created += list.Count;
            }
            catch (ItemStatusLockedException ex)
            {
                foreach (var p in list)
                {
                    Reject(p.Path, ex.Message, 1);
                }
            }
        }

        /// <summary>The dataset's item at <paramref name="path"/> (via its path claim), remembering its bounds; null when none.</summary>
        private async Task<string?> MatchAsync(string path, CancellationToken ct)
        {
            var doc = await owner.Claims.FindAsync(import.DatasetId, path, ct);
            if (doc is null || PathClaims.ItemIdOf(doc) is not { } claim)
            {
                return null;
            }

            if (!_items.ContainsKey(claim))
            {
                var item = await owner.Annotations.ReadItemAsync(import.DatasetId, claim, ct);
                if (item is null)
                {
                    return null;
                }

                _items[claim] = AnnotationsApi.BoundsOf(item);
            }

            return claim;
        }

        private void Reject(string path, string message, int entries)
        {
            _rejected += entries;
            Error(path, message);
        }

        private void Error(string path, string message)
        {
            ErrorCount++;
            if (Errors.Count < maxErrors)
            {
                Errors.Add(new ImportError(path, message));
            }
        }

        /// <summary>Our geometry from a COCO annotation for the class's shape; or the problem and the COCO field it concerns.</summary>
        private static (JsonNode? Geometry, string? Problem, string Field) CocoGeometry(JsonObject a, ShapeKind? shape)
        {
            switch (shape)
            {
                case null:
                    // The label is not in the recipe: validation reports it on /label.
                    return (null, null, "bbox");
                case ShapeKind.Box:
                    return a["bbox"] is JsonArray { Count: 4 } b && b.All(IsNumber)
                        ? (new JsonObject { ["x"] = b[0]!.DeepClone(), ["y"] = b[1]!.DeepClone(), ["width"] = b[2]!.DeepClone(), ["height"] = b[3]!.DeepClone() }, null, "bbox")
                        : (null, "'bbox' is [x, y, width, height] in pixels.", "bbox");
                case ShapeKind.Polygon:
                    if (a["segmentation"] is JsonArray { Count: 1 } polygons && polygons[0] is JsonArray flat && flat.Count % 2 == 0 && flat.All(IsNumber))
                    {
                        var points = new JsonArray();
                        for (var i = 0; i < flat.Count; i += 2)
                        {
                            points.Add(new JsonArray(flat[i]!.DeepClone(), flat[i + 1]!.DeepClone()));
                        }

                        return (new JsonObject { ["points"] = points }, null, "segmentation");
                    }

                    return (null, "'segmentation' is one polygon [[x1, y1, x2, y2, ...]] for a polygon class.", "segmentation");
                case ShapeKind.Mask:
                    if (a["segmentation"] is JsonObject rle && rle["counts"] is JsonArray)
                    {
                        return (new JsonObject { ["rle"] = new JsonObject { ["size"] = rle["size"]?.DeepClone(), ["counts"] = rle["counts"]!.DeepClone() } }, null, "segmentation");
                    }

                    return (null, "'segmentation' is an uncompressed RLE {\"size\": [h, w], \"counts\": [...]} for a mask class (compressed RLE strings are not supported).", "segmentation");
                case ShapeKind.Point:
                    return a["keypoints"] is JsonArray { Count: 3 } k && k.All(IsNumber)
                        ? (new JsonObject { ["x"] = k[0]!.DeepClone(), ["y"] = k[1]!.DeepClone() }, null, "keypoints")
                        : (null, "'keypoints' is [x, y, visibility] (one keypoint) for a point class.", "keypoints");
                case ShapeKind.Classification:
                    return (null, null, "bbox");
                default:
                    return (null, $"A {shape.ToString()!.ToLowerInvariant()} class cannot be imported from COCO (COCO keeps only its bounding box).", "segmentation");
            }
        }

        private static bool IsNumber(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.Number;

        private static string? Text(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

        private static long? Long(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l) ? l : null;

        private static JsonNode? Null(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.Null ? null : n;
    }
}
