using System.Text.Json;

namespace Serverless.Core.Exports.Coco;

/// <summary>
/// A COCO file cut into parts that can be written independently and concatenated: a prefix (info, licenses,
/// the opening of <c>images</c>), one images fragment and one annotations fragment per page of images, the
/// separator between the two arrays, and a suffix (the categories). Concatenated in the order prefix, image
/// fragments, <see cref="Separator"/>, annotation fragments, suffix, they are byte for byte the file
/// <see cref="CocoWriter"/> writes for the same images.
/// </summary>
/// <remarks>
/// A page needs to know only where its ids start and whether fragments precede it (for the comma), which the
/// caller knows from the counts of the pages before; the same page with the same start always gives the same
/// bytes, so a page written again after a crash replaces its part with an identical one.
/// </remarks>
public sealed class CocoParts
{
    private readonly CocoHeader _header;
    private readonly Dictionary<int, CocoCategory> _categories;

    /// <summary>Validates the header's categories once for every page.</summary>
    public CocoParts(CocoHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        _header = header;
        _categories = CocoJson.Index(header.Categories);
    }

    /// <summary>The bytes between the image fragments and the annotation fragments.</summary>
    public static ReadOnlyMemory<byte> Separator { get; } = "],\"annotations\":["u8.ToArray();

    /// <summary><c>{"info":...,"licenses":[...],"images":[</c></summary>
    public byte[] Prefix()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            CocoJson.WriteInfoAndLicenses(json, _header);
            json.WritePropertyName("images");
            json.WriteStartArray();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        // Written as a complete document and cut after "images":[ so that the writer validates what it wrote.
        var bytes = buffer.ToArray();
        return bytes[..^2];
    }

    /// <summary><c>],"categories":[...]}</c></summary>
    public byte[] Suffix()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var category in _header.Categories)
            {
                CocoJson.WriteCategory(json, category);
            }

            json.WriteEndArray();
        }

        var categories = buffer.ToArray();
        return [.. "],\"categories\":"u8, .. categories, (byte)'}'];
    }

    /// <summary>
    /// Writes one page: its images to <paramref name="images"/> and their annotations to <paramref name="annotations"/>,
    /// each as comma-separated elements, with a leading comma when <paramref name="imagesBefore"/> or
    /// <paramref name="annotationsBefore"/> says earlier pages wrote some.
    /// </summary>
    public CocoPageResult WritePage(
        IEnumerable<CocoImage> page, long firstImageId, long firstAnnotationId, bool imagesBefore, bool annotationsBefore, Stream images, Stream annotations)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(annotations);
        using var imageBuffer = new PooledBufferStream();
        using var annotationBuffer = new PooledBufferStream();
        long imageCount = 0, annotationCount = 0, skipped = 0;
        using (var imageJson = new Utf8JsonWriter(imageBuffer))
        using (var annotationJson = new Utf8JsonWriter(annotationBuffer))
        {
            imageJson.WriteStartArray();
            annotationJson.WriteStartArray();
            foreach (var image in page)
            {
                CocoJson.ValidateImage(image);
                var imageId = firstImageId + imageCount;
                CocoJson.WriteImage(imageJson, imageId, image);
                imageCount++;
                foreach (var annotation in image.Annotations)
                {
                    if (CocoJson.WriteAnnotation(annotationJson, _categories, firstAnnotationId + annotationCount, imageId, image.FileName, annotation))
                    {
                        annotationCount++;
                    }
                    else
                    {
                        skipped++;
                    }
                }

                // The writers buffer what they write until flushed, growing by doubling: flushing every few
                // images keeps that buffer small and the bytes in pooled chunks.
                FlushIfLarge(imageJson);
                FlushIfLarge(annotationJson);
            }

            imageJson.WriteEndArray();
            annotationJson.WriteEndArray();
        }

        WriteElements(imageBuffer, imageCount > 0 && imagesBefore, images);
        WriteElements(annotationBuffer, annotationCount > 0 && annotationsBefore, annotations);
        return new CocoPageResult(imageCount, annotationCount, skipped);
    }

    /// <summary>Bytes a JSON writer may hold before <see cref="FlushIfLarge"/> hands them to its stream.</summary>
    private const int FlushThreshold = 16 * 1024;

    /// <summary>Hands the writer's pending bytes to its stream once they pass <see cref="FlushThreshold"/>.</summary>
    private static void FlushIfLarge(Utf8JsonWriter json)
    {
        if (json.BytesPending > FlushThreshold)
        {
            json.Flush();
        }
    }

    /// <summary>Copies a compact JSON array's elements (all but its brackets), after a comma when asked.</summary>
    private static void WriteElements(PooledBufferStream array, bool leadingComma, Stream output)
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
}

/// <summary>What one page wrote: images, annotations, and image-level labels skipped (COCO detection cannot hold them).</summary>
public sealed record CocoPageResult(long Images, long Annotations, long SkippedClassifications);
