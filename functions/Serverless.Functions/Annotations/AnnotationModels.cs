using System.Text.Json.Nodes;

namespace Serverless.Functions.Annotations;

/// <summary>
/// An annotation as stored and returned. It lives beside its item in the dataset's partition of the items
/// container (<c>kind</c> = "annotation"), so creating one, the item's annotation count and the dataset's
/// counter commit in one atomic batch.
/// </summary>
/// <remarks><list type="bullet">
/// <item><c>Label</c>: The label class, spelled as in the recipe.</item>
/// <item><c>Shape</c>: The class's shape kind in lower case (box, polygon, polyline, point, mask, classification).</item>
/// <item><c>Geometry</c>: Pixels, origin top-left; see <c>Serverless.Core.Annotations.GeometryValidator</c> for each shape's form.</item>
/// <item><c>Frame</c>: For a video: the one frame the annotation is on.</item>
/// <item><c>Frames</c>: For a video: the inclusive frame range it spans.</item>
/// </list></remarks>
public sealed record Annotation(
    string Id,
    string ProjectId,
    string DatasetId,
    string ItemId,
    string Label,
    string Shape,
    JsonNode? Geometry,
    JsonObject Attributes,
    long? Frame,
    FrameRange? Frames,
    string CreatedBy,
    string CreatedAt,
    string UpdatedBy,
    string UpdatedAt);

/// <summary>An inclusive range of video frames.</summary>
public sealed record FrameRange(long Start, long End);

/// <summary>What a client sends to create or replace an annotation.</summary>
public sealed record AnnotationDraft(string? Label, JsonNode? Geometry, JsonObject? Attributes, JsonNode? Frame, JsonNode? Frames);

/// <summary>Body of <c>POST .../annotations</c>: up to <see cref="AnnotationStore.MaxPerRequest"/> annotations, created together or not at all.</summary>
public sealed record CreateAnnotationsRequest(IReadOnlyList<AnnotationDraft?>? Annotations);

/// <summary>Answer of <c>POST .../annotations</c>.</summary>
public sealed record CreatedAnnotations(IReadOnlyList<Annotation> Annotations);

/// <summary>An annotation and its version (sent as the <c>ETag</c> header).</summary>
public sealed record VersionedAnnotation(Annotation Annotation, string ETag);

/// <summary>Who is writing: the user and the API key, for the audit fields and the activity log.</summary>
public sealed record AnnotationActor(string UserId, string KeyId);

/// <summary>The item holds a status in a task and the project requires clearing it before its annotations change.</summary>
public sealed class ItemStatusLockedException(string itemId, string taskId, string status)
    : Exception($"Item '{itemId}' holds status {status} in task '{taskId}', and this project requires clearing an item's status before editing its annotations: clear the status first.");

/// <summary>The annotation changed since the version the client sent in If-Match.</summary>
public sealed class AnnotationChangedException(string annotationId)
    : Exception($"Annotation '{annotationId}' was changed by someone else; read it again and re-apply your change.");
