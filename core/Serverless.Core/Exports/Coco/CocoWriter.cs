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
            CocoJson.ValidateCategory(category);
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
        CocoJson.ValidateImage(image);
        StartIfNeeded();
        var imageId = _nextImageId++;
        CocoJson.WriteImage(_json, imageId, image);
        _images++;

        foreach (var annotation in image.Annotations)
        {
            if (CocoJson.WriteAnnotation(_annotations, _categories, _nextAnnotationId, imageId, image.FileName, annotation))
            {
                _nextAnnotationId++;
                _annotationCount++;
            }
            else
            {
                _skipped++;
            }
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
            CocoJson.WriteCategory(_json, category);
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

    private void StartIfNeeded()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        _json.WriteStartObject();
        CocoJson.WriteInfoAndLicenses(_json, _header);
        _json.WritePropertyName("images");
        _json.WriteStartArray();
        _annotations.WriteStartArray();
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
