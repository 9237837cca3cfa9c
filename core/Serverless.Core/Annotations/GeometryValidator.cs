using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Recipes;

namespace Serverless.Core.Annotations;

/// <summary>What the validator knows of the annotated item: its pixel size and, for a video, its frame count (null when unknown).</summary>
public sealed record MediaBounds(double? Width, double? Height, long? Frames, bool IsVideo)
{
    public static readonly MediaBounds Unknown = new(null, null, null, false);
}

/// <summary>
/// Checks an annotation's geometry and frames against its shape kind and the item. Coordinates are pixels
/// with the origin at the top-left corner, so exports (COCO) need no conversion:
/// <list type="bullet">
/// <item>box: <c>{"x","y","width","height"}</c>, width and height above 0;</item>
/// <item>polygon: <c>{"points":[[x,y],...]}</c>, at least 3 points; polyline: at least 2;</item>
/// <item>point: <c>{"x","y"}</c>;</item>
/// <item>mask: <c>{"rle":{"size":[height,width],"counts":[...]}}</c>, COCO's uncompressed run-length encoding, runs summing to height × width;</item>
/// <item>classification: no geometry.</item>
/// </list>
/// Video annotations name a <c>frame</c> or a <c>frames</c> range <c>{"start","end"}</c> (inclusive); none means the whole video.
/// Paths in errors are JSON pointers (<c>/geometry/points/3</c>).
/// </summary>
public static class GeometryValidator
{
    /// <summary>Most points in one polygon or polyline.</summary>
    public const int MaxPoints = 10_000;

    /// <summary>Most runs in one mask.</summary>
    public const int MaxMaskRuns = 1_000_000;

    /// <summary>Every error of the geometry and frames (empty when valid).</summary>
    public static IReadOnlyList<RecipeError> Validate(ShapeKind shape, JsonNode? geometry, JsonNode? frame, JsonNode? frames, MediaBounds bounds)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        var errors = new List<RecipeError>();
        switch (shape)
        {
            case ShapeKind.Classification:
                if (geometry is not null)
                {
                    errors.Add(new("/geometry", "A classification has no geometry: leave 'geometry' out."));
                }

                break;
            case ShapeKind.Box:
                Box(errors, geometry, bounds);
                break;
            case ShapeKind.Point:
                if (Object(errors, geometry, "{\"x\": 10, \"y\": 20}") is { } point)
                {
                    Coordinate(errors, point, "x", bounds.Width);
                    Coordinate(errors, point, "y", bounds.Height);
                }

                break;
            case ShapeKind.Polygon:
                Points(errors, geometry, 3, bounds);
                break;
            case ShapeKind.Polyline:
                Points(errors, geometry, 2, bounds);
                break;
            case ShapeKind.Mask:
                Mask(errors, geometry, bounds);
                break;
            default:
                errors.Add(new("/shape", $"Shape {shape} is not supported."));
                break;
        }

        Frames(errors, frame, frames, bounds);
        return errors;
    }

    private static void Box(List<RecipeError> errors, JsonNode? geometry, MediaBounds bounds)
    {
        if (Object(errors, geometry, "{\"x\": 10, \"y\": 20, \"width\": 30, \"height\": 40}") is not { } box)
        {
            return;
        }

        var x = Coordinate(errors, box, "x", bounds.Width);
        var y = Coordinate(errors, box, "y", bounds.Height);
        var width = Extent(errors, box, "width");
        var height = Extent(errors, box, "height");
        if (x is { } left && width is { } w && bounds.Width is { } maxWidth && left + w > maxWidth)
        {
            errors.Add(new("/geometry/width", Invariant($"The box ends at x = {left + w}, beyond the image's width of {maxWidth}.")));
        }

        if (y is { } top && height is { } h && bounds.Height is { } maxHeight && top + h > maxHeight)
        {
            errors.Add(new("/geometry/height", Invariant($"The box ends at y = {top + h}, beyond the image's height of {maxHeight}.")));
        }
    }

    private static void Points(List<RecipeError> errors, JsonNode? geometry, int minimum, MediaBounds bounds)
    {
        if (Object(errors, geometry, "{\"points\": [[10, 20], [30, 40], [50, 10]]}") is not { } shape)
        {
            return;
        }

        if (shape["points"] is not JsonArray points || points.Count < minimum || points.Count > MaxPoints)
        {
            errors.Add(new("/geometry/points", $"'points' must be a list of {minimum} to {MaxPoints} [x, y] pairs."));
            return;
        }

        for (var i = 0; i < points.Count; i++)
        {
            if (points[i] is not JsonArray { Count: 2 } pair || Number(pair[0]) is not { } x || Number(pair[1]) is not { } y)
            {
                errors.Add(new($"/geometry/points/{i}", "Each point is a pair of finite numbers [x, y]."));
                continue;
            }

            if (x < 0 || y < 0 || x > (bounds.Width ?? double.MaxValue) || y > (bounds.Height ?? double.MaxValue))
            {
                errors.Add(new($"/geometry/points/{i}", Invariant($"Point [{x}, {y}] lies outside the image{SizeText(bounds)}.")));
            }
        }
    }

    private static void Mask(List<RecipeError> errors, JsonNode? geometry, MediaBounds bounds)
    {
        if (Object(errors, geometry, "{\"rle\": {\"size\": [480, 640], \"counts\": [0, 10, 307190]}}") is not { } mask)
        {
            return;
        }

        if (mask["rle"] is not JsonObject rle || rle["size"] is not JsonArray { Count: 2 } size
            || Number(size[0]) is not { } height || Number(size[1]) is not { } width || height < 1 || width < 1
            || height != Math.Floor(height) || width != Math.Floor(width))
        {
            errors.Add(new("/geometry/rle", "'rle' needs 'size': [height, width] (positive integers) and 'counts': the run lengths."));
            return;
        }

        if ((bounds.Width is { } w && w != width) || (bounds.Height is { } h && h != height))
        {
            errors.Add(new("/geometry/rle/size", Invariant($"The mask is {width}×{height}; the image{SizeText(bounds)}.")));
        }

        if (rle["counts"] is not JsonArray counts || counts.Count > MaxMaskRuns)
        {
            errors.Add(new("/geometry/rle/counts", $"'counts' must be a list of at most {MaxMaskRuns} non-negative integers."));
            return;
        }

        double total = 0;
        foreach (var run in counts)
        {
            if (Number(run) is not { } n || n < 0 || n != Math.Floor(n))
            {
                errors.Add(new("/geometry/rle/counts", "Run lengths are non-negative integers."));
                return;
            }

            total += n;
        }

        if (total != width * height)
        {
            errors.Add(new("/geometry/rle/counts", Invariant($"The runs cover {total} pixels; a {width}×{height} mask has {width * height}.")));
        }
    }

    private static void Frames(List<RecipeError> errors, JsonNode? frame, JsonNode? frames, MediaBounds bounds)
    {
        if (frame is null && frames is null)
        {
            return;
        }

        if (!bounds.IsVideo)
        {
            errors.Add(new(frame is null ? "/frames" : "/frame", "Only annotations of a video have frames."));
            return;
        }

        if (frame is not null && frames is not null)
        {
            errors.Add(new("/frames", "Give either 'frame' or 'frames', not both."));
            return;
        }

        if (frame is not null)
        {
            FrameNumber(errors, "/frame", frame, bounds);
            return;
        }

        if (frames is not JsonObject range)
        {
            errors.Add(new("/frames", "'frames' is a range {\"start\": 0, \"end\": 10} (inclusive)."));
            return;
        }

        var start = FrameNumber(errors, "/frames/start", range["start"], bounds);
        var end = FrameNumber(errors, "/frames/end", range["end"], bounds);
        if (start is { } s && end is { } e && e < s)
        {
            errors.Add(new("/frames/end", $"The range ends (frame {e}) before it starts (frame {s})."));
        }
    }

    private static long? FrameNumber(List<RecipeError> errors, string path, JsonNode? node, MediaBounds bounds)
    {
        if (Number(node) is not { } n || n < 0 || n != Math.Floor(n) || n > long.MaxValue / 2)
        {
            errors.Add(new(path, "A frame number is an integer from 0."));
            return null;
        }

        var number = (long)n;
        if (bounds.Frames is { } count && number >= count)
        {
            errors.Add(new(path, $"Frame {number} is past the video's last frame ({count - 1})."));
        }

        return number;
    }

    private static JsonObject? Object(List<RecipeError> errors, JsonNode? geometry, string example)
    {
        if (geometry is JsonObject obj)
        {
            return obj;
        }

        errors.Add(new("/geometry", $"'geometry' is required and is an object, e.g. {example}."));
        return null;
    }

    private static double? Coordinate(List<RecipeError> errors, JsonObject shape, string name, double? max)
    {
        if (Number(shape[name]) is not { } value)
        {
            errors.Add(new("/geometry/" + name, $"'{name}' is required and is a finite number (pixels)."));
            return null;
        }

        if (value < 0 || value > (max ?? double.MaxValue))
        {
            errors.Add(new("/geometry/" + name, Invariant($"'{name}' is {value}; it must be from 0 to {(max is { } m ? m.ToString(CultureInfo.InvariantCulture) : "the image's size")}.")));
            return null;
        }

        return value;
    }

    private static double? Extent(List<RecipeError> errors, JsonObject shape, string name)
    {
        if (Number(shape[name]) is not { } value || value <= 0)
        {
            errors.Add(new("/geometry/" + name, $"'{name}' is required and is a number above 0 (pixels)."));
            return null;
        }

        return value;
    }

    private static double? Number(JsonNode? node)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number)
        {
            return null;
        }

        var number = value.GetValue<double>();
        return double.IsFinite(number) ? number : null;
    }

    private static string SizeText(MediaBounds bounds) =>
        bounds.Width is { } w && bounds.Height is { } h ? Invariant($" is {w}×{h}") : " has an unknown size";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
