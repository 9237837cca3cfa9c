namespace Serverless.Core.Exports;

/// <summary>A point in pixel coordinates of an image: origin top-left, x right, y down.</summary>
public readonly record struct PixelPoint(double X, double Y);

/// <summary>
/// The geometry of one annotation in pixel coordinates, as the exporters consume it. The domain's
/// annotations (normalised or per-tool formats) are converted to these before they reach a writer, so
/// writers never need to know the image size to interpret a coordinate.
/// </summary>
public abstract record AnnotationShape;

/// <summary>An axis-aligned box: top-left corner and size.</summary>
public sealed record BoxShape(double X, double Y, double Width, double Height) : AnnotationShape;

/// <summary>A closed polygon (at least 3 points; the last point is not repeated).</summary>
public sealed record PolygonShape(IReadOnlyList<PixelPoint> Points) : AnnotationShape;

/// <summary>A single point.</summary>
public sealed record PointShape(double X, double Y) : AnnotationShape;

/// <summary>An open line through at least 2 points.</summary>
public sealed record PolylineShape(IReadOnlyList<PixelPoint> Points) : AnnotationShape;

/// <summary>
/// A pixel mask as COCO's uncompressed run-length encoding: <paramref name="Counts"/> alternate background
/// and foreground runs (background first) down each column of a <paramref name="Height"/> × <paramref name="Width"/> image.
/// </summary>
public sealed record MaskShape(int Height, int Width, IReadOnlyList<long> Counts) : AnnotationShape;

/// <summary>An image-level label: no geometry.</summary>
public sealed record ClassificationShape : AnnotationShape;

/// <summary>
/// Named points of a skeleton class (e.g. a person's joints), one entry per keypoint the class declares,
/// in the class's order.
/// </summary>
public sealed record KeypointsShape(IReadOnlyList<Keypoint> Points) : AnnotationShape;

/// <summary>COCO's keypoint visibility flag.</summary>
public enum KeypointVisibility
{
    /// <summary>Not labeled (x and y are written as 0).</summary>
    NotLabeled = 0,

    /// <summary>Labeled but occluded.</summary>
    Occluded = 1,

    /// <summary>Labeled and visible.</summary>
    Visible = 2,
}

/// <summary>One keypoint of a <see cref="KeypointsShape"/>.</summary>
public readonly record struct Keypoint(double X, double Y, KeypointVisibility Visibility);

/// <summary>Geometry the exporters share.</summary>
public static class ShapeMath
{
    /// <summary>Area of a simple polygon by the shoelace formula (absolute, so either winding works).</summary>
    public static double PolygonArea(IReadOnlyList<PixelPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var twice = 0.0;
        for (var i = 0; i < points.Count; i++)
        {
            var a = points[i];
            var b = points[(i + 1) % points.Count];
            twice += (a.X * b.Y) - (b.X * a.Y);
        }

        return Math.Abs(twice) / 2;
    }
}
