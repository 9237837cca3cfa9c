using System.Globalization;
using System.Text.Json;

namespace Serverless.Core.Exports.Coco;

/// <summary>
/// Writes a COCO detection file to a stream while images arrive, never holding the dataset.
/// </summary>
/// <remarks>
/// <para>
/// COCO puts all images in one array and all annotations in a second one, while the source yields
/// an image together with its annotations. The writer makes one pass over the source: each image goes
/// straight to the output, each annotation to a buffer stream (a temporary file by default); when the
/// source ends, the buffer is copied after the images and the categories close the file. Memory stays
/// flat (one image's annotations plus the JSON writers' buffers, flushed every 64 KiB) whatever the
/// dataset's size; the temporary file costs disk roughly the size of the annotations array. A second
/// pass over the source was rejected: for an export that pages through the document store it doubles
/// the reads, and the two passes could see different data.
/// </para>
/// <para>
/// Mapping of shapes: box → <c>bbox</c>, <c>area</c> w·h, empty <c>segmentation</c>; polygon →
/// <c>segmentation</c> [[x1,y1,...]], <c>bbox</c> of its points, <c>area</c> by the shoelace formula;
/// polyline → <c>bbox</c> of its points, <c>area</c> w·h, empty segmentation (COCO polygons are closed);
/// point → <c>bbox</c> [x,y,0,0], <c>keypoints</c> [x,y,2], <c>num_keypoints</c> 1; keypoints →
/// <c>keypoints</c> [x,y,v,...], <c>num_keypoints</c> (labeled ones), <c>bbox</c> of the labeled points;
/// classification → skipped and counted (COCO detection has no image-level labels).
/// Ids are assigned in arrival order, so the same source gives the same bytes.
/// </para>
/// </remarks>
public sealed class CocoWriter : IAsyncDisposable
{
    private const int FlushThreshold = 64 * 1024;

    private readonly Stream _output;
    private readonly CocoHeader _header;
    private readonly Dictionary<int, CocoCategory> _categories;
    private readonly Utf8JsonWriter _json;
    private readonly Stream _buffer;
    private readonly Utf8JsonWriter _annotations;
    private long _nextImageId;
    private long _nextAnnotationId;
    private long _images;
    private long _annotationCount;
    private long _skipped;
    private bool _started;
    private bool _completed;

    /// <summary>Prepares a writer; nothing is written until the first image or <see cref="CompleteAsync"/>.</summary>
    public CocoWriter(Stream output, CocoHeader header, CocoWriterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(header);
        options ??= new CocoWriterOptions();
        _output = output;
        _header = header;
        _categories = new Dictionary<int, CocoCategory>();
        foreach (var category in header.Categories)
        {
            ValidateCategory(category);
            if (!_categories.TryAdd(category.Id, category))
            {
                throw new CocoExportException($"Category id {category.Id} appears twice.");
            }
        }

        _nextImageId = options.FirstImageId;
        _nextAnnotationId = options.FirstAnnotationId;
        _json = new Utf8JsonWriter(output);
        _buffer = options.AnnotationBuffer?.Invoke() ?? CreateTempFile();
        if (!_buffer.CanSeek || !_buffer.CanRead || !_buffer.CanWrite)
        {
            throw new ArgumentException("The annotation buffer must be readable, writable and seekable.", nameof(options));
        }

        _annotations = new Utf8JsonWriter(_buffer);
    }

    /// <summary>Writes a whole file from an async sequence of images and returns what was written.</summary>
    public static async Task<CocoExportResult> WriteAsync(
        Stream output,
        CocoHeader header,
        IAsyncEnumerable<CocoImage> images,
        CocoWriterOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        await using var writer = new CocoWriter(output, header, options);
        await foreach (var image in images.WithCancellation(cancellationToken))
        {
            await writer.WriteImageAsync(image, cancellationToken);
        }

        return await writer.CompleteAsync(cancellationToken);
    }

    /// <summary>Writes one image and buffers its annotations.</summary>
    public async ValueTask WriteImageAsync(CocoImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ObjectDisposedException.ThrowIf(_completed, this);
        if (image.Width <= 0 || image.Height <= 0)
        {
            throw new CocoExportException($"Image '{image.FileName}' has size {image.Width}x{image.Height}; width and height must be positive.");
        }

        if (string.IsNullOrEmpty(image.FileName))
        {
            throw new CocoExportException("An image has an empty file name.");
        }

        StartIfNeeded();
        var imageId = _nextImageId++;
        _json.WriteStartObject();
        _json.WriteNumber("id", imageId);
        _json.WriteNumber("width", image.Width);
        _json.WriteNumber("height", image.Height);
        _json.WriteString("file_name", image.FileName);
        if (image.CocoUrl is not null)
        {
            _json.WriteString("coco_url", image.CocoUrl);
        }

        _json.WriteEndObject();
        _images++;

        foreach (var annotation in image.Annotations)
        {
            WriteAnnotation(imageId, image.FileName, annotation);
        }

        if (_json.BytesPending > FlushThreshold)
        {
            await _json.FlushAsync(cancellationToken);
        }

        if (_annotations.BytesPending > FlushThreshold)
        {
            await _annotations.FlushAsync(cancellationToken);
        }
    }

    /// <summary>Appends the buffered annotations and the categories, and flushes the output.</summary>
    public async Task<CocoExportResult> CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        StartIfNeeded();
        _json.WriteEndArray();
        _json.WritePropertyName("annotations");
        _json.WriteStartArray();
        await _json.FlushAsync(cancellationToken);

        // The buffer holds one JSON array; its elements go between our own brackets, so the main
        // writer stays in a valid state without ever holding the annotations in memory.
        _annotations.WriteEndArray();
        await _annotations.FlushAsync(cancellationToken);
        await CopyArrayBodyAsync(cancellationToken);

        _json.WriteEndArray();
        _json.WritePropertyName("categories");
        _json.WriteStartArray();
        foreach (var category in _header.Categories)
        {
            WriteCategory(category);
        }

        _json.WriteEndArray();
        _json.WriteEndObject();
        await _json.FlushAsync(cancellationToken);
        await _output.FlushAsync(cancellationToken);
        _completed = true;
        return new CocoExportResult(_images, _annotationCount, _skipped);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _completed = true;
        await _json.DisposeAsync();
        await _annotations.DisposeAsync();
        await _buffer.DisposeAsync();
    }

    private static FileStream CreateTempFile() => new(
        Path.Combine(Path.GetTempPath(), "coco-annotations-" + Guid.NewGuid().ToString("N") + ".json"),
        FileMode.CreateNew,
        FileAccess.ReadWrite,
        FileShare.None,
        bufferSize: 64 * 1024,
        FileOptions.DeleteOnClose | FileOptions.Asynchronous);

    private static void ValidateCategory(CocoCategory category)
    {
        if (string.IsNullOrEmpty(category.Name))
        {
            throw new CocoExportException($"Category {category.Id} has no name.");
        }

        if (category.Skeleton is { Count: > 0 } skeleton)
        {
            var count = category.Keypoints?.Count ?? 0;
            foreach (var edge in skeleton)
            {
                if (edge.From < 1 || edge.From > count || edge.To < 1 || edge.To > count)
                {
                    throw new CocoExportException(
                        $"Category '{category.Name}' has skeleton edge [{edge.From},{edge.To}] outside its {count} keypoints (indices are 1-based).");
                }
            }
        }
    }

    private void StartIfNeeded()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        _json.WriteStartObject();
        WriteInfo(_header.Info);
        _json.WritePropertyName("licenses");
        _json.WriteStartArray();
        foreach (var license in _header.Licenses)
        {
            _json.WriteStartObject();
            _json.WriteNumber("id", license.Id);
            _json.WriteString("name", license.Name);
            _json.WriteString("url", license.Url);
            _json.WriteEndObject();
        }

        _json.WriteEndArray();
        _json.WritePropertyName("images");
        _json.WriteStartArray();
        _annotations.WriteStartArray();
    }

    private void WriteInfo(CocoInfo info)
    {
        _json.WritePropertyName("info");
        _json.WriteStartObject();
        _json.WriteString("description", info.Description);
        _json.WriteString("version", info.Version);
        _json.WriteNumber("year", info.Year);
        _json.WriteString("contributor", info.Contributor);
        _json.WriteString("url", info.Url);
        _json.WriteString("date_created", info.DateCreated.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        _json.WriteEndObject();
    }

    private void WriteCategory(CocoCategory category)
    {
        _json.WriteStartObject();
        _json.WriteNumber("id", category.Id);
        _json.WriteString("name", category.Name);
        _json.WriteString("supercategory", category.Supercategory ?? string.Empty);
        if (category.Keypoints is { } keypoints)
        {
            _json.WritePropertyName("keypoints");
            _json.WriteStartArray();
            foreach (var name in keypoints)
            {
                _json.WriteStringValue(name);
            }

            _json.WriteEndArray();
            _json.WritePropertyName("skeleton");
            _json.WriteStartArray();
            foreach (var edge in category.Skeleton ?? [])
            {
                _json.WriteStartArray();
                _json.WriteNumberValue(edge.From);
                _json.WriteNumberValue(edge.To);
                _json.WriteEndArray();
            }

            _json.WriteEndArray();
        }

        _json.WriteEndObject();
    }

    private void WriteAnnotation(long imageId, string fileName, CocoAnnotationInput annotation)
    {
        if (!_categories.TryGetValue(annotation.CategoryId, out var category))
        {
            throw new CocoExportException($"Image '{fileName}' has an annotation of category {annotation.CategoryId}, which the recipe does not declare.");
        }

        var geometry = CocoGeometry.From(annotation.Shape, category, fileName);
        if (geometry is null)
        {
            _skipped++;
            return;
        }

        var w = _annotations;
        w.WriteStartObject();
        w.WriteNumber("id", _nextAnnotationId++);
        w.WriteNumber("image_id", imageId);
        w.WriteNumber("category_id", annotation.CategoryId);
        w.WritePropertyName("bbox");
        w.WriteStartArray();
        w.WriteNumberValue(geometry.Box.X);
        w.WriteNumberValue(geometry.Box.Y);
        w.WriteNumberValue(geometry.Box.Width);
        w.WriteNumberValue(geometry.Box.Height);
        w.WriteEndArray();
        w.WritePropertyName("segmentation");
        w.WriteStartArray();
        if (geometry.Polygon is { } polygon)
        {
            w.WriteStartArray();
            foreach (var p in polygon)
            {
                w.WriteNumberValue(p.X);
                w.WriteNumberValue(p.Y);
            }

            w.WriteEndArray();
        }

        w.WriteEndArray();
        w.WriteNumber("area", geometry.Area);
        w.WriteNumber("iscrowd", 0);
        if (geometry.Keypoints is { } keypoints)
        {
            w.WritePropertyName("keypoints");
            w.WriteStartArray();
            var labeled = 0;
            foreach (var k in keypoints)
            {
                var isLabeled = k.Visibility != KeypointVisibility.NotLabeled;
                w.WriteNumberValue(isLabeled ? k.X : 0);
                w.WriteNumberValue(isLabeled ? k.Y : 0);
                w.WriteNumberValue((int)k.Visibility);
                labeled += isLabeled ? 1 : 0;
            }

            w.WriteEndArray();
            w.WriteNumber("num_keypoints", labeled);
        }

        w.WriteEndObject();
        _annotationCount++;
    }

    private async Task CopyArrayBodyAsync(CancellationToken cancellationToken)
    {
        // The buffer is "[", elements separated by commas, "]" (compact JSON): copy all but the brackets.
        var length = _buffer.Length;
        _buffer.Position = 1;
        var remaining = length - 2;
        var chunk = new byte[81920];
        while (remaining > 0)
        {
            var read = await _buffer.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, remaining)), cancellationToken);
            if (read == 0)
            {
                throw new IOException("The annotation buffer ended early.");
            }

            await _output.WriteAsync(chunk.AsMemory(0, read), cancellationToken);
            remaining -= read;
        }
    }
}
