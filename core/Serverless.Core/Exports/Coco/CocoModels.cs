using Serverless.Core.Exports;

namespace Serverless.Core.Exports.Coco;

/// <summary>A COCO category, taken from a recipe's label class.</summary>
/// <param name="Id">The category id that annotations refer to (unique within the file).</param>
/// <param name="Name">The label class's name.</param>
/// <param name="Supercategory">The parent class's name; written as an empty string when null.</param>
/// <param name="Keypoints">Keypoint names for skeleton classes; null for other classes.</param>
/// <param name="Skeleton">Edges between keypoints, 1-based as COCO has them; only with <paramref name="Keypoints"/>.</param>
public sealed record CocoCategory(
    int Id,
    string Name,
    string? Supercategory = null,
    IReadOnlyList<string>? Keypoints = null,
    IReadOnlyList<CocoSkeletonEdge>? Skeleton = null);

/// <summary>An edge of a keypoint skeleton between two 1-based keypoint indices.</summary>
public readonly record struct CocoSkeletonEdge(int From, int To);

/// <summary>The file's <c>info</c> block.</summary>
public sealed record CocoInfo(
    string Description,
    string Version,
    int Year,
    string Contributor,
    string Url,
    DateTimeOffset DateCreated);

/// <summary>An entry of the file's <c>licenses</c> block.</summary>
public sealed record CocoLicense(int Id, string Name, string Url);

/// <summary>Everything that precedes and follows the images: written once per file.</summary>
public sealed record CocoHeader(
    CocoInfo Info,
    IReadOnlyList<CocoLicense> Licenses,
    IReadOnlyList<CocoCategory> Categories);

/// <summary>One image and its annotations, as the writer consumes them.</summary>
/// <param name="FileName">Written as <c>file_name</c> (the item's path in the dataset).</param>
/// <param name="Width">Pixels; must be positive.</param>
/// <param name="Height">Pixels; must be positive.</param>
/// <param name="Annotations">The image's annotations; only these are held in memory at a time.</param>
/// <param name="CocoUrl">A signed download link, written as <c>coco_url</c> when present.</param>
public sealed record CocoImage(
    string FileName,
    int Width,
    int Height,
    IReadOnlyList<CocoAnnotationInput> Annotations,
    string? CocoUrl = null);

/// <summary>One annotation of an image: its category and its geometry in pixels.</summary>
public sealed record CocoAnnotationInput(int CategoryId, AnnotationShape Shape);

/// <summary>What a finished export wrote.</summary>
/// <param name="Images">Images written.</param>
/// <param name="Annotations">Annotations written.</param>
/// <param name="SkippedClassifications">Image-level labels, which COCO detection cannot hold.</param>
public sealed record CocoExportResult(long Images, long Annotations, long SkippedClassifications);

/// <summary>Where the writer numbers from and where it buffers the annotations array.</summary>
/// <param name="FirstImageId">Images are numbered in the order they arrive from this id.</param>
/// <param name="FirstAnnotationId">Annotations are numbered in the order they arrive from this id.</param>
/// <param name="AnnotationBuffer">
/// Creates the read/write, seekable stream that holds the annotations until the images are written;
/// by default a temporary file deleted on close.
/// </param>
public sealed record CocoWriterOptions(
    long FirstImageId = 1,
    long FirstAnnotationId = 1,
    Func<Stream>? AnnotationBuffer = null);

/// <summary>The input cannot be written as COCO (unknown category, keypoint count mismatch, bad numbers ...).</summary>
public sealed class CocoExportException(string message) : Exception(message);
