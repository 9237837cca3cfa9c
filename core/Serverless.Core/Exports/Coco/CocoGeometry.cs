namespace Serverless.Core.Exports.Coco;

/// <summary>What one annotation contributes to COCO: bbox, optional polygon and keypoints, area.</summary>
internal sealed record CocoGeometry(
    BoxShape Box,
    double Area,
    IReadOnlyList<PixelPoint>? Polygon,
    IReadOnlyList<Keypoint>? Keypoints,
    MaskShape? Mask = null)
{
    /// <summary>Converts a shape; null for shapes COCO detection cannot hold (classifications).</summary>
    public static CocoGeometry? From(AnnotationShape shape, CocoCategory category, string fileName)
    {
        switch (shape)
        {
            case BoxShape box:
                RequireFinite(fileName, box.X, box.Y, box.Width, box.Height);
                if (box.Width < 0 || box.Height < 0)
                {
                    throw new CocoExportException($"Image '{fileName}' has a box of negative size {box.Width}x{box.Height}.");
                }

                return new CocoGeometry(box, box.Width * box.Height, null, null);
            case PolygonShape polygon:
                RequirePoints(fileName, polygon.Points, 3, "polygon");
                return new CocoGeometry(Bounds(polygon.Points), ShapeMath.PolygonArea(polygon.Points), polygon.Points, null);
            case PolylineShape line:
                RequirePoints(fileName, line.Points, 2, "polyline");
                var lineBox = Bounds(line.Points);
                return new CocoGeometry(lineBox, lineBox.Width * lineBox.Height, null, null);
            case PointShape point:
                RequireFinite(fileName, point.X, point.Y);
                return new CocoGeometry(new BoxShape(point.X, point.Y, 0, 0), 0, null, [new Keypoint(point.X, point.Y, KeypointVisibility.Visible)]);
            case KeypointsShape keypoints:
                return FromKeypoints(keypoints, category, fileName);
            case MaskShape mask:
                return FromMask(mask, fileName);
            case ClassificationShape:
                return null;
            default:
                throw new CocoExportException($"Image '{fileName}' has a shape of type {shape.GetType().Name}, which COCO export does not know.");
        }
    }

    private static CocoGeometry FromKeypoints(KeypointsShape shape, CocoCategory category, string fileName)
    {
        var declared = category.Keypoints?.Count ?? 0;
        if (declared == 0)
        {
            throw new CocoExportException($"Image '{fileName}' has keypoints of category '{category.Name}', which declares no keypoints.");
        }

        if (shape.Points.Count != declared)
        {
            throw new CocoExportException(
                $"Image '{fileName}' has {shape.Points.Count} keypoints of category '{category.Name}', which declares {declared}.");
        }

        var labeled = new List<PixelPoint>(shape.Points.Count);
        foreach (var k in shape.Points)
        {
            if (!Enum.IsDefined(k.Visibility))
            {
                throw new CocoExportException($"Image '{fileName}' has a keypoint with visibility {(int)k.Visibility} (0, 1 or 2 expected).");
            }

            if (k.Visibility != KeypointVisibility.NotLabeled)
            {
                RequireFinite(fileName, k.X, k.Y);
                labeled.Add(new PixelPoint(k.X, k.Y));
            }
        }

        var box = labeled.Count == 0 ? new BoxShape(0, 0, 0, 0) : Bounds(labeled);
        return new CocoGeometry(box, box.Width * box.Height, null, shape.Points);
    }

    /// <summary>
    /// Bbox and area of a column-major run-length mask (COCO's order: runs alternate background and
    /// foreground, starting with background, walking down each column).
    /// </summary>
    private static CocoGeometry FromMask(MaskShape mask, string fileName)
    {
        if (mask.Height <= 0 || mask.Width <= 0)
        {
            throw new CocoExportException($"Image '{fileName}' has a mask of size {mask.Width}x{mask.Height}.");
        }

        long position = 0, area = 0;
        long minCol = long.MaxValue, maxCol = -1, minRow = long.MaxValue, maxRow = -1;
        for (var i = 0; i < mask.Counts.Count; i++)
        {
            var run = mask.Counts[i];
            if (run < 0)
            {
                throw new CocoExportException($"Image '{fileName}' has a mask with a negative run.");
            }

            if (i % 2 == 1 && run > 0)
            {
                var first = position;
                var last = position + run - 1;
                area += run;
                long firstCol = first / mask.Height, lastCol = last / mask.Height;
                minCol = Math.Min(minCol, firstCol);
                maxCol = Math.Max(maxCol, lastCol);
                if (firstCol == lastCol)
                {
                    minRow = Math.Min(minRow, first % mask.Height);
                    maxRow = Math.Max(maxRow, last % mask.Height);
                }
                else
                {
                    // The run wraps past a column's bottom into the next column's top: both ends of the rows are covered.
                    minRow = 0;
                    maxRow = mask.Height - 1;
                }
            }

            position += run;
        }

        if ((long)mask.Height * mask.Width != position)
        {
            throw new CocoExportException($"Image '{fileName}' has a mask whose runs cover {position} pixels, not {(long)mask.Height * mask.Width}.");
        }

        var box = maxCol < 0 ? new BoxShape(0, 0, 0, 0) : new BoxShape(minCol, minRow, maxCol - minCol + 1, maxRow - minRow + 1);
        return new CocoGeometry(box, area, null, null, mask);
    }

    private static BoxShape Bounds(IReadOnlyList<PixelPoint> points)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        foreach (var p in points)
        {
            minX = Math.Min(minX, p.X);
            minY = Math.Min(minY, p.Y);
            maxX = Math.Max(maxX, p.X);
            maxY = Math.Max(maxY, p.Y);
        }

        return new BoxShape(minX, minY, maxX - minX, maxY - minY);
    }

    private static void RequirePoints(string fileName, IReadOnlyList<PixelPoint> points, int minimum, string kind)
    {
        if (points is null || points.Count < minimum)
        {
            throw new CocoExportException($"Image '{fileName}' has a {kind} with {points?.Count ?? 0} points; at least {minimum} are needed.");
        }

        foreach (var p in points)
        {
            RequireFinite(fileName, p.X, p.Y);
        }
    }

    private static void RequireFinite(string fileName, params ReadOnlySpan<double> values)
    {
        foreach (var v in values)
        {
            if (!double.IsFinite(v))
            {
                throw new CocoExportException($"Image '{fileName}' has a coordinate that is not a finite number.");
            }
        }
    }
}
