using Serverless.Core.Exports;
using Serverless.Core.Exports.Coco;

namespace Serverless.Functions.Tests.Exports;

/// <summary>The parts an export assembles compose into exactly the file the one-pass writer writes.</summary>
public sealed class CocoPartsTests
{
    private static readonly CocoHeader Header = new(
        new CocoInfo("d", "1", 2026, "c", "", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)),
        [new CocoLicense(1, "CC", "https://example.test")],
        [new CocoCategory(1, "car", "vehicle"), new CocoCategory(2, "pin", "p", ["pin"], []), new CocoCategory(3, "scene")]);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    public async Task Pages_Concatenated_EqualOnePassWriterBytes(int pageSize)
    {
        // Arrange: the first page has no annotations, one image only a classification, so commas must come from counts.
        var images = Enumerable.Range(0, 7).Select(i => new CocoImage($"img{i}.png", 100, 80, i switch
        {
            0 => [],
            3 => [new CocoAnnotationInput(3, new ClassificationShape())],
            _ => [new CocoAnnotationInput(1, new BoxShape(i, 2, 3, 4)), new CocoAnnotationInput(2, new PointShape(i, 1)), new CocoAnnotationInput(1, new MaskShape(80, 100, [5, i + 1, 7994 - i]))],
        })).ToList();
        using var whole = new MemoryStream();
        await CocoWriter.WriteAsync(whole, Header, images.ToAsyncEnumerable(), new CocoWriterOptions(AnnotationBuffer: () => new MemoryStream()));

        // Act
        var parts = new CocoParts(Header);
        using var imageParts = new MemoryStream();
        using var annotationParts = new MemoryStream();
        long imagesBefore = 0, annotationsBefore = 0;
        foreach (var page in images.Chunk(pageSize))
        {
            var written = parts.WritePage(page, imagesBefore + 1, annotationsBefore + 1, imagesBefore > 0, annotationsBefore > 0, imageParts, annotationParts);
            imagesBefore += written.Images;
            annotationsBefore += written.Annotations;
        }

        byte[] assembled = [.. parts.Prefix(), .. imageParts.ToArray(), .. CocoParts.Separator.Span, .. annotationParts.ToArray(), .. parts.Suffix()];

        // Assert
        Assert.Equal(System.Text.Encoding.UTF8.GetString(whole.ToArray()), System.Text.Encoding.UTF8.GetString(assembled));
        Assert.Equal(15, annotationsBefore);
    }

    [Fact]
    public async Task Pages_LargerThanSeveralPooledChunks_EqualOnePassWriterBytes()
    {
        // Arrange: pages of ~1 MB of annotations, so each spans many pooled chunks and writer flushes.
        var images = Enumerable.Range(0, 900).Select(i => new CocoImage($"folder/img{i:D4}.png", 1920, 1080,
            [.. Enumerable.Range(0, 10).Select(a => new CocoAnnotationInput(1 + (a % 2), a % 2 == 0 ? new BoxShape(i % 1800, a, 17.5, 9) : new PointShape(a, i % 1000)))])).ToList();
        using var whole = new MemoryStream();
        await CocoWriter.WriteAsync(whole, Header, images.ToAsyncEnumerable(), new CocoWriterOptions(AnnotationBuffer: () => new MemoryStream()));

        // Act
        var parts = new CocoParts(Header);
        using var imageParts = new MemoryStream();
        using var annotationParts = new MemoryStream();
        long imagesBefore = 0, annotationsBefore = 0;
        foreach (var page in images.Chunk(450))
        {
            var written = parts.WritePage(page, imagesBefore + 1, annotationsBefore + 1, imagesBefore > 0, annotationsBefore > 0, imageParts, annotationParts);
            imagesBefore += written.Images;
            annotationsBefore += written.Annotations;
        }

        byte[] assembled = [.. parts.Prefix(), .. imageParts.ToArray(), .. CocoParts.Separator.Span, .. annotationParts.ToArray(), .. parts.Suffix()];

        // Assert
        Assert.True(annotationParts.Length > 8 * PooledBufferStream.ChunkSize, $"{annotationParts.Length} bytes");
        Assert.Equal(whole.ToArray(), assembled);
        Assert.Equal(9000, annotationsBefore);
    }

    [Fact]
    public void WritePage_MaskWrappingIntoNextColumn_BoxSpansBothColumnsAndAllRows()
    {
        // Arrange: a 4×3 image (height 4); foreground pixels 3..5 run from the bottom of column 0 into column 1.
        var parts = new CocoParts(Header);
        using var images = new MemoryStream();
        using var annotations = new MemoryStream();

        // Act
        parts.WritePage([new CocoImage("m.png", 3, 4, [new CocoAnnotationInput(1, new MaskShape(4, 3, [3, 3, 6]))])], 1, 1, false, false, images, annotations);
        var json = System.Text.Encoding.UTF8.GetString(annotations.ToArray());

        // Assert
        Assert.Contains("\"bbox\":[0,0,2,4]", json, StringComparison.Ordinal);
        Assert.Contains("\"area\":3", json, StringComparison.Ordinal);
        Assert.Contains("\"iscrowd\":1", json, StringComparison.Ordinal);
    }
}
