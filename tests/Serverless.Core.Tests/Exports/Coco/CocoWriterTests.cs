using System.Globalization;
using System.Text.Json;
using Serverless.Core.Exports;
using Serverless.Core.Exports.Coco;
using Serverless.Core.Tests.Exports;
using Serverless.Testing;

namespace Serverless.Core.Tests.Exports.Coco;

public sealed class CocoWriterTests
{
    private static readonly CocoHeader Header = new(
        new CocoInfo("Test export", "1.0", 2026, "tests", "https://example.test", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)),
        [new CocoLicense(1, "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")],
        [
            new CocoCategory(1, "car", "vehicle"),
            new CocoCategory(2, "person", "human", ["nose", "left_eye", "right_eye"], [new CocoSkeletonEdge(1, 2), new CocoSkeletonEdge(1, 3)]),
            new CocoCategory(3, "road"),
            new CocoCategory(4, "sunny", "weather"),
        ]);

    private static readonly CocoImage[] KnownDataset =
    [
        new("images/a.jpg", 640, 480,
        [
            new(1, new BoxShape(10, 20, 100, 50)),
            new(3, new PolygonShape([new(0, 0), new(4, 0), new(4, 3)])),
            new(4, new ClassificationShape()),
        ],
        "https://example.test/a.jpg?sig=abc"),
        new("images/b.png", 320, 240,
        [
            new(2, new KeypointsShape([new(100, 50, KeypointVisibility.Visible), new(90, 40, KeypointVisibility.Occluded), new(7, 8, KeypointVisibility.NotLabeled)])),
            new(1, new PointShape(5.5, 7.25)),
            new(3, new PolylineShape([new(1, 1), new(11, 6), new(21, 1)])),
            new(3, new PolygonShape([new(10, 10), new(20, 10), new(20, 20), new(15, 15), new(10, 20)])),
        ]),
        new("images/c.jpg", 100, 100, []),
    ];

    [Fact]
    public async Task WriteAsync_KnownDataset_MatchesExpectedFileFieldByField()
    {
        // Arrange
        var expectedPath = Path.Combine(RepoPaths.Root, "tests", "Serverless.Core.Tests", "Exports", "Coco", "TestData", "expected-coco.json");
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(expectedPath));
        using var output = new MemoryStream();

        // Act
        var result = await CocoWriter.WriteAsync(new NonSeekableStream(output), Header, KnownDataset.ToAsyncEnumerable());
        using var actual = JsonDocument.Parse(output.ToArray());

        // Assert
        Assert.Equal(new CocoExportResult(3, 6, 1), result);
        var differences = new List<string>();
        Compare("$", expected.RootElement, actual.RootElement, differences);
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences));
    }

    [Fact]
    public async Task WriteAsync_SameSourceTwice_WritesIdenticalBytes()
    {
        // Arrange
        using var first = new MemoryStream();
        using var second = new MemoryStream();

        // Act
        await CocoWriter.WriteAsync(first, Header, KnownDataset.ToAsyncEnumerable());
        await CocoWriter.WriteAsync(second, Header, KnownDataset.ToAsyncEnumerable());

        // Assert
        Assert.Equal(first.ToArray(), second.ToArray());
    }

    [Theory]
    [InlineData("0,0 10,0 10,10 0,10", 100)]
    [InlineData("0,0 0,10 10,10 10,0", 100)]
    [InlineData("0,0 4,0 0,3", 6)]
    [InlineData("0,0 2,0 2,2 1,1 0,2", 3)]
    [InlineData("0.5,0.5 1.5,0.5 1.5,2.5", 1)]
    public void PolygonArea_Polygon_IsShoelaceArea(string points, double expected)
    {
        // Arrange
        var polygon = points.Split(' ')
            .Select(p => p.Split(','))
            .Select(xy => new PixelPoint(double.Parse(xy[0], CultureInfo.InvariantCulture), double.Parse(xy[1], CultureInfo.InvariantCulture)))
            .ToList();

        // Act
        var area = ShapeMath.PolygonArea(polygon);

        // Assert
        Assert.Equal(expected, area, 9);
    }

    [Fact]
    public async Task WriteAsync_Keypoints_WritesTripletsAndCountsLabeledOnes()
    {
        // Arrange
        var image = new CocoImage("k.jpg", 50, 50,
        [
            new(2, new KeypointsShape([new(3, 4, KeypointVisibility.NotLabeled), new(10, 20, KeypointVisibility.Visible), new(30, 25, KeypointVisibility.Visible)])),
        ]);

        // Act
        var json = await WriteAsync([image]);

        // Assert
        var annotation = json.RootElement.GetProperty("annotations")[0];
        Assert.Equal([0.0, 0, 0, 10, 20, 2, 30, 25, 2], annotation.GetProperty("keypoints").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(2, annotation.GetProperty("num_keypoints").GetInt32());
        Assert.Equal([10.0, 20, 20, 5], annotation.GetProperty("bbox").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(100, annotation.GetProperty("area").GetDouble());
    }

    [Fact]
    public async Task WriteImageAsync_KeypointCountDiffersFromCategory_ThrowsCocoExportException()
    {
        // Arrange
        await using var writer = new CocoWriter(Stream.Null, Header);
        var image = new CocoImage("k.jpg", 50, 50, [new(2, new KeypointsShape([new(1, 1, KeypointVisibility.Visible)]))]);

        // Act
        var error = await Assert.ThrowsAsync<CocoExportException>(() => writer.WriteImageAsync(image).AsTask());

        // Assert
        Assert.Contains("declares 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteImageAsync_UnknownCategory_ThrowsCocoExportException()
    {
        // Arrange
        await using var writer = new CocoWriter(Stream.Null, Header);
        var image = new CocoImage("x.jpg", 50, 50, [new(99, new BoxShape(0, 0, 1, 1))]);

        // Act
        var error = await Assert.ThrowsAsync<CocoExportException>(() => writer.WriteImageAsync(image).AsTask());

        // Assert
        Assert.Contains("category 99", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(10, -1)]
    public async Task WriteImageAsync_NonPositiveSize_ThrowsCocoExportException(int width, int height)
    {
        // Arrange
        await using var writer = new CocoWriter(Stream.Null, Header);

        // Act
        var error = await Assert.ThrowsAsync<CocoExportException>(() => writer.WriteImageAsync(new CocoImage("x.jpg", width, height, [])).AsTask());

        // Assert
        Assert.Contains("must be positive", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteImageAsync_NaNCoordinate_ThrowsCocoExportException()
    {
        // Arrange
        await using var writer = new CocoWriter(Stream.Null, Header);
        var image = new CocoImage("x.jpg", 50, 50, [new(1, new BoxShape(double.NaN, 0, 1, 1))]);

        // Act
        var error = await Assert.ThrowsAsync<CocoExportException>(() => writer.WriteImageAsync(image).AsTask());

        // Assert
        Assert.Contains("finite", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_DuplicateCategoryId_ThrowsCocoExportException()
    {
        // Arrange
        var header = Header with { Categories = [new CocoCategory(1, "a"), new CocoCategory(1, "b")] };

        // Act
        var error = Assert.Throws<CocoExportException>(() => new CocoWriter(Stream.Null, header));

        // Assert
        Assert.Contains("appears twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteAsync_ManyImages_AnnotationsFollowImagesWithSequentialIds()
    {
        // Arrange: enough to cross the flush threshold of both writers several times.
        const int images = 3000;
        static async IAsyncEnumerable<CocoImage> Source()
        {
            for (var i = 0; i < images; i++)
            {
                await Task.Yield();
                yield return new CocoImage($"img/{i:D5}.jpg", 64, 48,
                [
                    new(1, new BoxShape(i % 60, 1, 3, 4)),
                    new(3, new PolygonShape([new(0, 0), new(8, 0), new(8, 8), new(0, 8)])),
                ]);
            }
        }

        using var output = new MemoryStream();

        // Act
        var result = await CocoWriter.WriteAsync(output, Header, Source());
        using var json = JsonDocument.Parse(output.ToArray());

        // Assert
        Assert.Equal(new CocoExportResult(images, images * 2, 0), result);
        var annotations = json.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        Assert.Equal(images * 2, annotations.Count);
        Assert.Equal(Enumerable.Range(1, images * 2).Select(i => (long)i), annotations.Select(a => a.GetProperty("id").GetInt64()));
        Assert.Equal(images, annotations[^1].GetProperty("image_id").GetInt64());
        Assert.Equal(64, annotations[^1].GetProperty("area").GetDouble());
        Assert.Equal(images, json.RootElement.GetProperty("images").GetArrayLength());
    }

    [Fact]
    public async Task CompleteAsync_NoImages_WritesEmptyArrays()
    {
        // Arrange
        using var output = new MemoryStream();
        await using var writer = new CocoWriter(output, Header);

        // Act
        await writer.CompleteAsync();
        using var json = JsonDocument.Parse(output.ToArray());

        // Assert
        Assert.Equal(0, json.RootElement.GetProperty("images").GetArrayLength());
        Assert.Equal(0, json.RootElement.GetProperty("annotations").GetArrayLength());
        Assert.Equal(4, json.RootElement.GetProperty("categories").GetArrayLength());
    }

    private static async Task<JsonDocument> WriteAsync(CocoImage[] images)
    {
        using var output = new MemoryStream();
        await CocoWriter.WriteAsync(output, Header, images.ToAsyncEnumerable());
        return JsonDocument.Parse(output.ToArray());
    }

    private static void Compare(string path, JsonElement expected, JsonElement actual, List<string> differences)
    {
        if (expected.ValueKind != actual.ValueKind)
        {
            differences.Add($"{path}: expected {expected.ValueKind} {expected}, got {actual.ValueKind} {actual}");
            return;
        }

        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                var expectedNames = expected.EnumerateObject().Select(p => p.Name).ToList();
                var actualNames = actual.EnumerateObject().Select(p => p.Name).ToList();
                foreach (var missing in expectedNames.Except(actualNames))
                {
                    differences.Add($"{path}.{missing}: missing");
                }

                foreach (var extra in actualNames.Except(expectedNames))
                {
                    differences.Add($"{path}.{extra}: not expected");
                }

                foreach (var name in expectedNames.Intersect(actualNames))
                {
                    Compare($"{path}.{name}", expected.GetProperty(name), actual.GetProperty(name), differences);
                }

                break;
            case JsonValueKind.Array:
                if (expected.GetArrayLength() != actual.GetArrayLength())
                {
                    differences.Add($"{path}: expected {expected.GetArrayLength()} elements, got {actual.GetArrayLength()}");
                    return;
                }

                for (var i = 0; i < expected.GetArrayLength(); i++)
                {
                    Compare($"{path}[{i}]", expected[i], actual[i], differences);
                }

                break;
            case JsonValueKind.Number:
                if (expected.GetDouble() != actual.GetDouble())
                {
                    differences.Add($"{path}: expected {expected}, got {actual}");
                }

                break;
            default:
                if (expected.ToString() != actual.ToString())
                {
                    differences.Add($"{path}: expected {expected}, got {actual}");
                }

                break;
        }
    }
}
