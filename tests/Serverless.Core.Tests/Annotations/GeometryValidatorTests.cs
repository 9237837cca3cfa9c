using System.Text.Json.Nodes;
using Serverless.Core.Annotations;
using Serverless.Core.Recipes;

namespace Serverless.Core.Tests.Annotations;

public sealed class GeometryValidatorTests
{
    private static readonly MediaBounds Image = new(640, 480, null, false);
    private static readonly MediaBounds Video = new(640, 480, 100, true);

    private static IReadOnlyList<RecipeError> Check(ShapeKind shape, string? geometry, MediaBounds? bounds = null, string? frame = null, string? frames = null) =>
        GeometryValidator.Validate(shape, Parse(geometry), Parse(frame), Parse(frames), bounds ?? Image);

    private static JsonNode? Parse(string? json) => json is null ? null : JsonNode.Parse(json);

    private static void AssertPaths(IReadOnlyList<RecipeError> errors, params string[] paths) =>
        Assert.Equal(paths, errors.Select(e => e.Path).ToArray());

    [Theory]
    [InlineData(ShapeKind.Box, """{"x": 0, "y": 0, "width": 640, "height": 480}""")]
    [InlineData(ShapeKind.Point, """{"x": 640, "y": 0}""")]
    [InlineData(ShapeKind.Polygon, """{"points": [[0, 0], [10, 0], [10, 10]]}""")]
    [InlineData(ShapeKind.Polyline, """{"points": [[0, 0], [639.5, 479.5]]}""")]
    [InlineData(ShapeKind.Mask, """{"rle": {"size": [480, 640], "counts": [100, 200, 306900]}}""")]
    [InlineData(ShapeKind.Classification, null)]
    public void Validate_WellFormedShapeInsideTheImage_NoErrors(ShapeKind shape, string? geometry) =>
        Assert.Empty(Check(shape, geometry));

    [Fact]
    public void Validate_BoxPastTheRightEdge_NamesWidth()
    {
        var errors = Check(ShapeKind.Box, """{"x": 600, "y": 0, "width": 41, "height": 10}""");
        AssertPaths(errors, "/geometry/width");
        Assert.Contains("641", errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BoxWithZeroHeightAndNegativeX_NamesBoth() =>
        AssertPaths(Check(ShapeKind.Box, """{"x": -1, "y": 0, "width": 5, "height": 0}"""), "/geometry/x", "/geometry/height");

    [Fact]
    public void Validate_BoxOnImageOfUnknownSize_OnlyChecksSigns() =>
        Assert.Empty(Check(ShapeKind.Box, """{"x": 5000, "y": 5000, "width": 5, "height": 5}""", MediaBounds.Unknown));

    [Fact]
    public void Validate_MissingGeometry_AsksForAnObject() =>
        AssertPaths(Check(ShapeKind.Box, null), "/geometry");

    [Fact]
    public void Validate_StringCoordinate_Refused() =>
        AssertPaths(Check(ShapeKind.Point, """{"x": "1", "y": 2}"""), "/geometry/x");

    [Fact]
    public void Validate_PolygonWithTwoPoints_Refused() =>
        AssertPaths(Check(ShapeKind.Polygon, """{"points": [[0, 0], [1, 1]]}"""), "/geometry/points");

    [Fact]
    public void Validate_PolygonWithOnePointOutsideAndOneMalformed_NamesEachIndex() =>
        AssertPaths(Check(ShapeKind.Polygon, """{"points": [[0, 0], [700, 1], [1], [2, 2]]}"""), "/geometry/points/1", "/geometry/points/2");

    [Fact]
    public void Validate_ClassificationWithGeometry_Refused() =>
        AssertPaths(Check(ShapeKind.Classification, """{"x": 1, "y": 1}"""), "/geometry");

    [Fact]
    public void Validate_MaskRunsNotCoveringTheImage_Refused()
    {
        var errors = Check(ShapeKind.Mask, """{"rle": {"size": [480, 640], "counts": [100, 200]}}""");
        AssertPaths(errors, "/geometry/rle/counts");
        Assert.Contains("307200", errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MaskOfAnotherSize_Refused() =>
        AssertPaths(Check(ShapeKind.Mask, """{"rle": {"size": [2, 2], "counts": [4]}}"""), "/geometry/rle/size");

    [Fact]
    public void Validate_FrameOnAnImage_Refused() =>
        AssertPaths(Check(ShapeKind.Box, """{"x": 0, "y": 0, "width": 1, "height": 1}""", frame: "3"), "/frame");

    [Theory]
    [InlineData("0", null)]
    [InlineData("99", null)]
    [InlineData(null, """{"start": 0, "end": 99}""")]
    [InlineData(null, """{"start": 5, "end": 5}""")]
    public void Validate_FramesWithinTheVideo_NoErrors(string? frame, string? frames) =>
        Assert.Empty(Check(ShapeKind.Point, """{"x": 1, "y": 1}""", Video, frame, frames));

    [Theory]
    [InlineData("100", null, "/frame")]
    [InlineData("1.5", null, "/frame")]
    [InlineData(null, """{"start": 10, "end": 2}""", "/frames/end")]
    [InlineData(null, """{"start": -1, "end": 2}""", "/frames/start")]
    [InlineData("1", """{"start": 0, "end": 2}""", "/frames")]
    public void Validate_BadFrames_NamesThePath(string? frame, string? frames, string path) =>
        AssertPaths(Check(ShapeKind.Point, """{"x": 1, "y": 1}""", Video, frame, frames), path);
}
