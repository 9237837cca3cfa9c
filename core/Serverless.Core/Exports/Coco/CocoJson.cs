using System.Globalization;
using System.Text.Json;

namespace Serverless.Core.Exports.Coco;

/// <summary>
/// The COCO JSON of each element, shared by the one-pass <see cref="CocoWriter"/> and the page-by-page
/// <see cref="CocoParts"/>, so both produce the same bytes for the same input.
/// </summary>
internal static class CocoJson
{
    public static void ValidateImage(CocoImage image)
    {
        if (image.Width <= 0 || image.Height <= 0)
        {
            throw new CocoExportException($"Image '{image.FileName}' has size {image.Width}x{image.Height}; width and height must be positive.");
        }

        if (string.IsNullOrEmpty(image.FileName))
        {
            throw new CocoExportException("An image has an empty file name.");
        }
    }

    public static void ValidateCategory(CocoCategory category)
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

    /// <summary>The categories by id; throws on an invalid category or a repeated id.</summary>
    public static Dictionary<int, CocoCategory> Index(IReadOnlyList<CocoCategory> categories)
    {
        var byId = new Dictionary<int, CocoCategory>();
        foreach (var category in categories)
        {
            ValidateCategory(category);
            if (!byId.TryAdd(category.Id, category))
            {
                throw new CocoExportException($"Category id {category.Id} appears twice.");
            }
        }

        return byId;
    }

    public static void WriteInfoAndLicenses(Utf8JsonWriter json, CocoHeader header)
    {
        var info = header.Info;
        json.WritePropertyName("info");
        json.WriteStartObject();
        json.WriteString("description", info.Description);
        json.WriteString("version", info.Version);
        json.WriteNumber("year", info.Year);
        json.WriteString("contributor", info.Contributor);
        json.WriteString("url", info.Url);
        json.WriteString("date_created", info.DateCreated.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        json.WriteEndObject();
        json.WritePropertyName("licenses");
        json.WriteStartArray();
        foreach (var license in header.Licenses)
        {
            json.WriteStartObject();
            json.WriteNumber("id", license.Id);
            json.WriteString("name", license.Name);
            json.WriteString("url", license.Url);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    public static void WriteImage(Utf8JsonWriter json, long imageId, CocoImage image)
    {
        json.WriteStartObject();
        json.WriteNumber("id", imageId);
        json.WriteNumber("width", image.Width);
        json.WriteNumber("height", image.Height);
        json.WriteString("file_name", image.FileName);
        if (image.CocoUrl is not null)
        {
            json.WriteString("coco_url", image.CocoUrl);
        }

        json.WriteEndObject();
    }

    public static void WriteCategory(Utf8JsonWriter json, CocoCategory category)
    {
        json.WriteStartObject();
        json.WriteNumber("id", category.Id);
        json.WriteString("name", category.Name);
        json.WriteString("supercategory", category.Supercategory ?? string.Empty);
        if (category.Keypoints is { } keypoints)
        {
            json.WritePropertyName("keypoints");
            json.WriteStartArray();
            foreach (var name in keypoints)
            {
                json.WriteStringValue(name);
            }

            json.WriteEndArray();
            json.WritePropertyName("skeleton");
            json.WriteStartArray();
            foreach (var edge in category.Skeleton ?? [])
            {
                json.WriteStartArray();
                json.WriteNumberValue(edge.From);
                json.WriteNumberValue(edge.To);
                json.WriteEndArray();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    /// <summary>Writes one annotation with id <paramref name="annotationId"/>; false (nothing written) for shapes COCO cannot hold.</summary>
    public static bool WriteAnnotation(Utf8JsonWriter w, IReadOnlyDictionary<int, CocoCategory> categories, long annotationId, long imageId, string fileName, CocoAnnotationInput annotation)
    {
        if (!categories.TryGetValue(annotation.CategoryId, out var category))
        {
            throw new CocoExportException($"Image '{fileName}' has an annotation of category {annotation.CategoryId}, which the recipe does not declare.");
        }

        var geometry = CocoGeometry.From(annotation.Shape, category, fileName);
        if (geometry is null)
        {
            return false;
        }

        w.WriteStartObject();
        w.WriteNumber("id", annotationId);
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
        if (geometry.Mask is { } mask)
        {
            // Uncompressed RLE, as COCO writes crowd regions: {"size":[h,w],"counts":[...]}.
            w.WriteStartObject();
            w.WritePropertyName("size");
            w.WriteStartArray();
            w.WriteNumberValue(mask.Height);
            w.WriteNumberValue(mask.Width);
            w.WriteEndArray();
            w.WritePropertyName("counts");
            w.WriteStartArray();
            foreach (var run in mask.Counts)
            {
                w.WriteNumberValue(run);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }
        else
        {
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
        }

        w.WriteNumber("area", geometry.Area);
        w.WriteNumber("iscrowd", geometry.Mask is null ? 0 : 1);
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
        return true;
    }
}
