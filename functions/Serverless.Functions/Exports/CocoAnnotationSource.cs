using System.Text.Json;
using Serverless.Core.Exports;
using Serverless.Core.Exports.Coco;

namespace Serverless.Functions.Exports;

/// <summary>
/// What a COCO page needs of one stored annotation, read from the document's bytes: its order keys, its category
/// (null when the plan lacks the label) and its shape, or why the shape cannot be written.
/// </summary>
/// <param name="ItemId">The item it belongs to.</param>
/// <param name="Id">Its id (second sort key).</param>
/// <param name="CreatedAt">When it was created (first sort key).</param>
/// <param name="Category">The plan's category of its label; null when the plan lacks the label (counted as skipped).</param>
/// <param name="Shape">Its shape for the COCO writer.</param>
/// <param name="Problem">Set instead of <paramref name="Shape"/> when the geometry does not fit; the page fails with it (worded with the image's name).</param>
internal sealed record CocoAnnotationSource(string ItemId, string? Id, string? CreatedAt, ExportCategory? Category, AnnotationShape? Shape, CocoShapeProblem? Problem)
{
    /// <summary>Oldest first, then by id, as the annotations endpoint lists them.</summary>
    public static int Compare(CocoAnnotationSource a, CocoAnnotationSource b)
    {
        var byTime = string.CompareOrdinal(a.CreatedAt, b.CreatedAt);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.Id, b.Id);
    }

    /// <summary>
    /// Reads one stored document; null when it is not an annotation of a selected item with a wanted label.
    /// The shape is only built for a known category, so an annotation the export skips cannot fail it.
    /// </summary>
    public static CocoAnnotationSource? Read(
        ReadOnlyMemory<byte> utf8, HashSet<string> selected, HashSet<string>? wanted, Dictionary<string, ExportCategory> categories)
    {
        using var document = JsonDocument.Parse(utf8);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || String(root, "kind") != "annotation" || String(root, "itemId") is not { } itemId || !selected.Contains(itemId))
        {
            return null;
        }

        var label = String(root, "label") ?? string.Empty;
        if (wanted is not null && !wanted.Contains(label))
        {
            return null;
        }

        var id = String(root, "id");
        var createdAt = String(root, "createdAt");
        if (!categories.TryGetValue(label, out var category))
        {
            return new CocoAnnotationSource(itemId, id, createdAt, null, null, null);
        }

        var shape = String(root, "shape");
        try
        {
            return new CocoAnnotationSource(itemId, id, createdAt, category, ReadShape(root, shape), null);
        }
        catch (FormatException)
        {
            return new CocoAnnotationSource(itemId, id, createdAt, category, null, new CocoShapeProblem(shape, id, UnknownShape: false));
        }
        catch (NotSupportedException)
        {
            return new CocoAnnotationSource(itemId, id, createdAt, category, null, new CocoShapeProblem(shape, id, UnknownShape: true));
        }
    }

    private static AnnotationShape ReadShape(JsonElement root, string? shape)
    {
        if (shape == "classification")
        {
            return new ClassificationShape();
        }

        if (shape is not ("box" or "polygon" or "polyline" or "point" or "mask"))
        {
            throw new NotSupportedException(shape);
        }

        var g = Object(root, "geometry");
        return shape switch
        {
            "box" => new BoxShape(Num(g, "x"), Num(g, "y"), Num(g, "width"), Num(g, "height")),
            "polygon" => new PolygonShape(Points(g)),
            "polyline" => new PolylineShape(Points(g)),
            "point" => new PointShape(Num(g, "x"), Num(g, "y")),
            _ => Mask(Object(g, "rle")),
        };
    }

    private static MaskShape Mask(JsonElement rle)
    {
        var size = Array(rle, "size");
        var counts = Array(rle, "counts");
        var values = new long[counts.GetArrayLength()];
        var i = 0;
        foreach (var c in counts.EnumerateArray())
        {
            values[i++] = (long)Num(c);
        }

        return new MaskShape((int)Num(At(size, 0)), (int)Num(At(size, 1)), values);
    }

    private static List<PixelPoint> Points(JsonElement geometry)
    {
        var points = Array(geometry, "points");
        var list = new List<PixelPoint>(points.GetArrayLength());
        foreach (var p in points.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("a point is not an array");
            }

            list.Add(new PixelPoint(Num(At(p, 0)), Num(At(p, 1))));
        }

        return list;
    }

    private static JsonElement At(JsonElement array, int index) =>
        array.GetArrayLength() > index ? array[index] : throw new FormatException("array too short");

    private static JsonElement Object(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : throw new FormatException($"'{name}' is not an object");

    private static JsonElement Array(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array ? value : throw new FormatException($"'{name}' is not an array");

    private static double Num(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) ? Num(value) : throw new FormatException($"'{name}' is missing");

    private static double Num(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw new FormatException("not a number");

    private static string? String(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>Why an annotation's shape cannot be written: a shape COCO does not know, or a geometry that does not match it.</summary>
internal sealed record CocoShapeProblem(string? Shape, string? AnnotationId, bool UnknownShape)
{
    public CocoExportException ToException(string fileName) => UnknownShape
        ? new CocoExportException($"Image '{fileName}' has an annotation of shape '{Shape}', which COCO export does not know.")
        : new CocoExportException($"Image '{fileName}' has annotation '{AnnotationId}' whose geometry does not match its shape.");
}
