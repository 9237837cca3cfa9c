namespace Serverless.Core.Recipes;

/// <summary>The geometry an annotation of a label class has.</summary>
public enum ShapeKind
{
    Box,
    Polygon,
    Polyline,
    Point,
    Mask,
    Classification,
}

/// <summary>How an attribute of a label class is answered.</summary>
public enum AttributeKind
{
    /// <summary>Any subset of <see cref="AttributeSpec.Options"/> (multi-select).</summary>
    Checkbox,

    /// <summary>Exactly one of <see cref="AttributeSpec.Options"/>.</summary>
    Radio,

    /// <summary>Free text up to <see cref="AttributeSpec.MaxLength"/> characters.</summary>
    Text,

    /// <summary>A number from <see cref="AttributeSpec.Min"/> to <see cref="AttributeSpec.Max"/>, on the <see cref="AttributeSpec.Step"/> grid when one is set.</summary>
    Number,

    /// <summary>True or false.</summary>
    Boolean,
}

/// <summary>A validated recipe (ontology): what annotators may draw and what they must answer about it.</summary>
/// <param name="Name">Display name, 1 to <see cref="RecipeLimits.MaxNameLength"/> characters.</param>
/// <param name="Classes">Label classes; names unique case-insensitively.</param>
/// <param name="Instructions">Labeling instructions as text (empty when none); the PDF guideline is stored beside the recipe.</param>
public sealed record Ontology(string Name, IReadOnlyList<LabelClass> Classes, string Instructions)
{
    /// <summary>The class named <paramref name="name"/>, compared case-insensitively, or null.</summary>
    public LabelClass? FindClass(string? name) =>
        name is null ? null : Classes.FirstOrDefault(c => string.Equals(c.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>A label class: its name, display color (<c>#rrggbb</c>, lower case) and the one shape its annotations have.</summary>
public sealed record LabelClass(string Name, string Color, ShapeKind Shape, IReadOnlyList<AttributeSpec> Attributes)
{
    /// <summary>The attribute with key <paramref name="key"/>, compared case-insensitively, or null.</summary>
    public AttributeSpec? FindAttribute(string key) =>
        Attributes.FirstOrDefault(a => string.Equals(a.Key, key, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// An attribute of a label class. Only the fields of its <see cref="Kind"/> are set: options for
/// checkbox and radio, <see cref="MaxLength"/> for text, <see cref="Min"/>/<see cref="Max"/>/<see cref="Step"/> for number.
/// </summary>
public sealed record AttributeSpec(
    string Key,
    AttributeKind Kind,
    bool Required,
    IReadOnlyList<string>? Options = null,
    int? MaxLength = null,
    double? Min = null,
    double? Max = null,
    double? Step = null);

/// <summary>A recipe as sent by a client, before validation: every field may be missing or malformed.</summary>
public sealed record RecipeDraft(string? Name, IReadOnlyList<LabelClassDraft?>? Classes, string? Instructions);

/// <summary>A label class as sent; <c>Shape</c> is a <see cref="ShapeKind"/> name (case-insensitive).</summary>
public sealed record LabelClassDraft(string? Name, string? Color, string? Shape, IReadOnlyList<AttributeSpecDraft?>? Attributes);

/// <summary>An attribute as sent; <c>Kind</c> is an <see cref="AttributeKind"/> name (case-insensitive).</summary>
public sealed record AttributeSpecDraft(
    string? Key,
    string? Kind,
    bool? Required,
    IReadOnlyList<string?>? Options,
    int? MaxLength,
    double? Min,
    double? Max,
    double? Step);

/// <summary>One validation error: a JSON pointer into the input (<c>/classes/1/name</c>) and what to fix.</summary>
public sealed record RecipeError(string Path, string Message);

/// <summary>The size limits of a recipe; they keep a recipe document far below the store's 2 MB.</summary>
public static class RecipeLimits
{
    public const int MaxNameLength = 200;
    public const int MaxClasses = 1000;
    public const int MaxClassNameLength = 100;
    public const int MaxAttributesPerClass = 50;
    public const int MaxAttributeKeyLength = 64;
    public const int MaxOptions = 100;
    public const int MaxOptionLength = 100;
    public const int DefaultTextMaxLength = 1000;
    public const int MaxTextMaxLength = 10_000;
    public const int MaxInstructionsLength = 20_000;

    /// <summary>Largest recipe as JSON; half the store's 2 MB document limit, leaving room for what the store adds.</summary>
    public const int MaxRecipeBytes = 1024 * 1024;
}
