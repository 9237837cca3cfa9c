using System.Diagnostics.CodeAnalysis;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Filters;

/// <summary>The value type of a filterable field; it decides which operators and values a filter may use.</summary>
[SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The members name the JSON value types they describe.")]
public enum FieldType
{
    /// <summary>A string: every operator, including <c>$glob</c> and ordering.</summary>
    String,

    /// <summary>A string from a fixed set (<see cref="FieldDefinition.AllowedValues"/>): equality, lists and <c>$exists</c>.</summary>
    Keyword,

    /// <summary>A number: equality, ordering, lists, <c>$exists</c>.</summary>
    Number,

    /// <summary>true or false: equality, lists, <c>$exists</c>.</summary>
    Boolean,

    /// <summary>An instant, given as ISO-8601 and stored as <see cref="StoredTimestamp"/>: equality, ordering, lists, <c>$exists</c>.</summary>
    Timestamp,

    /// <summary>An array of strings such as tags: <c>$eq</c> (has the element), <c>$in</c> (has any), <c>$exists</c>.</summary>
    StringList,

    /// <summary>User data of any scalar type (metadata): every operator; the value's JSON type picks what it matches.</summary>
    Any,
}

/// <summary>
/// One filterable field of a target: the name filters use, where it lives in the stored document, and its
/// value type. A field with <see cref="MaxSubpathSegments"/> &gt; 0 is a prefix: <c>metadata</c> accepts
/// <c>metadata.user.camera</c>, mapped below the same document path.
/// </summary>
/// <param name="Name">Name in filters and sort keys.</param>
/// <param name="DocumentPath">Dotted path in the stored document.</param>
/// <param name="Type">Value type.</param>
/// <param name="Sortable">Whether <c>sort</c> may name it.</param>
/// <param name="AllowedValues">For <see cref="FieldType.Keyword"/>: the accepted values.</param>
/// <param name="MaxSubpathSegments">0 for a plain field; otherwise how many dotted segments may follow the name.</param>
/// <param name="SubpathHint">How error messages and docs show the subpath, e.g. <c>&lt;taskId&gt;</c>.</param>
/// <param name="InEveryDocument">Every document of the target holds a value of <paramref name="Type"/> here (never
/// missing, never null), as an item holds its name: a sort on it then tells the store so (see
/// <see cref="FilterCompiler"/>).</param>
public sealed record FieldDefinition(
    string Name,
    string DocumentPath,
    FieldType Type,
    bool Sortable = true,
    IReadOnlyList<string>? AllowedValues = null,
    int MaxSubpathSegments = 0,
    string SubpathHint = "<path>",
    bool InEveryDocument = false)
{
    /// <summary>How the field is shown to users: <c>name</c>, or <c>metadata.&lt;path&gt;</c> for a prefix.</summary>
    public string DisplayName => MaxSubpathSegments > 0 ? $"{Name}.{SubpathHint}" : Name;
}

/// <summary>A field name from a filter resolved against a catalog: its definition and concrete document path.</summary>
public sealed record ResolvedField(FieldDefinition Definition, string Name, string DocumentPath)
{
    public FieldType Type => Definition.Type;
}

/// <summary>
/// The whitelist of fields one target (items; later annotations and tasks) can be filtered and sorted by.
/// Adding a target or a field is data: a new list of <see cref="FieldDefinition"/>s.
/// </summary>
public sealed class FieldCatalog
{
    private readonly Dictionary<string, FieldDefinition> _byName;

    /// <param name="target">What the catalog describes, plural (<c>items</c>), for error messages.</param>
    /// <param name="fields">The fields; names must be unique.</param>
    public FieldCatalog(string target, IReadOnlyList<FieldDefinition> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        Target = target;
        Fields = fields;
        _byName = new Dictionary<string, FieldDefinition>(StringComparer.Ordinal);
        foreach (var field in fields)
        {
            DocumentRules.ValidatePath(field.DocumentPath);
            if (field.Type == FieldType.Keyword && (field.AllowedValues is null || field.AllowedValues.Count == 0))
            {
                throw new ArgumentException($"Keyword field '{field.Name}' needs allowed values.", nameof(fields));
            }

            if (!_byName.TryAdd(field.Name, field))
            {
                throw new ArgumentException($"Field '{field.Name}' is declared twice.", nameof(fields));
            }
        }
    }

    public string Target { get; }

    public IReadOnlyList<FieldDefinition> Fields { get; }

    /// <summary>The field names as users write them, for error messages.</summary>
    public string Describe() => string.Join(", ", Fields.Select(f => f.DisplayName));

    /// <summary>Resolves a field name, or returns null when the catalog has no such field.</summary>
    /// <exception cref="FilterException">A prefix field's subpath is malformed.</exception>
    public ResolvedField? Resolve(string name, string location)
    {
        if (_byName.TryGetValue(name, out var exact))
        {
            if (exact.MaxSubpathSegments > 0)
            {
                throw new FilterException(location, $"Field '{name}' needs a path below it: write {exact.DisplayName}, e.g. '{Example(exact)}'.");
            }

            return new ResolvedField(exact, name, exact.DocumentPath);
        }

        var dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !_byName.TryGetValue(name[..dot], out var prefix) || prefix.MaxSubpathSegments == 0)
        {
            return null;
        }

        var subpath = name[(dot + 1)..];
        var segments = subpath.Split('.');
        if (segments.Length > prefix.MaxSubpathSegments)
        {
            throw new FilterException(location, $"Field '{name}' has {segments.Length} segments after '{prefix.Name}.'; at most {prefix.MaxSubpathSegments} are allowed.");
        }

        foreach (var segment in segments)
        {
            if (segment.Length == 0 || segment.Length > 128 || char.IsAsciiDigit(segment[0]) ||
                !segment.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new FilterException(location, $"Field '{name}' is not a valid {prefix.DisplayName}: each segment after '{prefix.Name}.' must be 1 to 128 letters, digits or '_', not starting with a digit.");
            }
        }

        return new ResolvedField(prefix, name, prefix.DocumentPath + "." + subpath);
    }

    private static string Example(FieldDefinition prefix) =>
        prefix.Name + "." + (prefix.MaxSubpathSegments > 1 ? "user.camera" : "t1");
}

/// <summary>The field catalogs of the platform's filter targets.</summary>
public static class FieldCatalogs
{
    /// <summary>Item types as stored in an item's <c>type</c>.</summary>
    public static readonly IReadOnlyList<string> ItemTypes = ["image", "video", "text", "other"];

    /// <summary>
    /// Items. The item document stores these paths: <c>name</c>, <c>dir</c> (folder path), <c>type</c>,
    /// <c>createdAt</c>/<c>updatedAt</c> (<see cref="StoredTimestamp"/>), <c>size</c> (bytes), <c>annotated</c>,
    /// <c>tags</c> (array of strings), <c>metadata</c> (<c>metadata.system.*</c> written by the platform,
    /// <c>metadata.user.*</c> by clients) and <c>status.&lt;taskId&gt;</c> (the item's status in that task).
    /// </summary>
    public static readonly FieldCatalog Items = new("items",
    [
        new("id", "id", FieldType.String),
        new("name", "name", FieldType.String, InEveryDocument: true),
        new("dir", "dir", FieldType.String, InEveryDocument: true),
        new("type", "type", FieldType.Keyword, AllowedValues: ItemTypes, InEveryDocument: true),
        new("createdAt", "createdAt", FieldType.Timestamp, InEveryDocument: true),
        new("updatedAt", "updatedAt", FieldType.Timestamp, InEveryDocument: true),
        new("size", "size", FieldType.Number, InEveryDocument: true),
        new("annotated", "annotated", FieldType.Boolean),
        new("tags", "tags", FieldType.StringList, Sortable: false),
        new("metadata", "metadata", FieldType.Any, MaxSubpathSegments: 8),
        new("status", "status", FieldType.String, MaxSubpathSegments: 1, SubpathHint: "<taskId>"),
    ]);
}
