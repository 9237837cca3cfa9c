using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Serverless.Core.Recipes;

/// <summary>The outcome of validating a <see cref="RecipeDraft"/>: the recipe when valid, and every error found.</summary>
public sealed record RecipeValidation(Ontology? Recipe, IReadOnlyList<RecipeError> Errors)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// Validates a recipe draft and normalizes it (names trimmed, colors lower case, kinds parsed).
/// It reports every error, not only the first, each with a JSON pointer into the draft, so a client
/// can mark all offending fields at once.
/// </summary>
public static partial class RecipeValidator
{
    public static RecipeValidation Validate(RecipeDraft draft)
    {
        ArgumentNullException.ThrowIfNull(draft);
        var errors = new List<RecipeError>();
        var name = Text(errors, "/name", draft.Name, RecipeLimits.MaxNameLength, required: true);
        var instructions = Instructions(errors, draft.Instructions);
        var classes = new List<LabelClass>();
        if (draft.Classes is null)
        {
            errors.Add(new("/classes", "'classes' is required: a list of label classes (it may be empty)."));
        }
        else if (draft.Classes.Count > RecipeLimits.MaxClasses)
        {
            errors.Add(new("/classes", $"A recipe has at most {RecipeLimits.MaxClasses} label classes; this one has {draft.Classes.Count}."));
        }
        else
        {
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < draft.Classes.Count; i++)
            {
                var path = Pointer("/classes", i);
                var labelClass = Class(errors, path, draft.Classes[i]);
                if (labelClass is null)
                {
                    continue;
                }

                if (seen.TryGetValue(labelClass.Name, out var first))
                {
                    errors.Add(new(path + "/name", $"Class name '{labelClass.Name}' is already used by /classes/{first} (names are compared case-insensitively)."));
                    continue;
                }

                seen[labelClass.Name] = i;
                classes.Add(labelClass);
            }
        }

        if (errors.Count > 0)
        {
            return new RecipeValidation(null, errors);
        }

        // Each limit alone allows more than a document may hold (1000 classes × 50 attributes × 100 options),
        // so the whole recipe is measured too, and refused here instead of failing in the store.
        var recipe = new Ontology(name!, classes, instructions ?? "");
        var size = JsonSerializer.SerializeToUtf8Bytes(recipe).Length;
        return size > RecipeLimits.MaxRecipeBytes
            ? new RecipeValidation(null, [new("/classes", $"The recipe is {size} bytes as JSON; the limit is {RecipeLimits.MaxRecipeBytes}. Use fewer classes, attributes or options.")])
            : new RecipeValidation(recipe, []);
    }

    private static LabelClass? Class(List<RecipeError> errors, string path, LabelClassDraft? draft)
    {
        if (draft is null)
        {
            errors.Add(new(path, "A label class must be an object with 'name', 'color' and 'shape'."));
            return null;
        }

        var before = errors.Count;
        var name = Text(errors, path + "/name", draft.Name, RecipeLimits.MaxClassNameLength, required: true);
        string? color = null;
        if (draft.Color is null)
        {
            errors.Add(new(path + "/color", "'color' is required: '#rrggbb' in hexadecimal."));
        }
        else if (!HexColor().IsMatch(draft.Color))
        {
            errors.Add(new(path + "/color", $"'color' must be '#rrggbb' in hexadecimal, e.g. '#ff8800'; it is '{Shorten(draft.Color)}'."));
        }
        else
        {
            color = draft.Color.ToLowerInvariant();
        }

        var shape = ParseEnum<ShapeKind>(errors, path + "/shape", "shape", draft.Shape);
        var attributes = new List<AttributeSpec>();
        var list = draft.Attributes ?? [];
        if (list.Count > RecipeLimits.MaxAttributesPerClass)
        {
            errors.Add(new(path + "/attributes", $"A class has at most {RecipeLimits.MaxAttributesPerClass} attributes; this one has {list.Count}."));
        }
        else
        {
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < list.Count; i++)
            {
                var attributePath = Pointer(path + "/attributes", i);
                var attribute = Attribute(errors, attributePath, list[i]);
                if (attribute is null)
                {
                    continue;
                }

                if (seen.TryGetValue(attribute.Key, out var first))
                {
                    errors.Add(new(attributePath + "/key", $"Attribute key '{attribute.Key}' is already used by {path}/attributes/{first} (keys are compared case-insensitively)."));
                    continue;
                }

                seen[attribute.Key] = i;
                attributes.Add(attribute);
            }
        }

        return errors.Count == before ? new LabelClass(name!, color!, shape!.Value, attributes) : null;
    }

    private static AttributeSpec? Attribute(List<RecipeError> errors, string path, AttributeSpecDraft? draft)
    {
        if (draft is null)
        {
            errors.Add(new(path, "An attribute must be an object with 'key' and 'kind'."));
            return null;
        }

        var before = errors.Count;
        string? key = null;
        if (draft.Key is null)
        {
            errors.Add(new(path + "/key", "'key' is required."));
        }
        else if (!AttributeKey().IsMatch(draft.Key))
        {
            errors.Add(new(path + "/key", $"'key' must be 1 to {RecipeLimits.MaxAttributeKeyLength} letters, digits, '_', '-' or '.', starting with a letter or digit; it is '{Shorten(draft.Key)}'."));
        }
        else
        {
            key = draft.Key;
        }

        var kind = ParseEnum<AttributeKind>(errors, path + "/kind", "kind", draft.Kind);
        if (kind is null)
        {
            return null;
        }

        var hasOptions = kind is AttributeKind.Checkbox or AttributeKind.Radio;
        NotAllowed(errors, path, "options", draft.Options is not null && !hasOptions, kind.Value);
        NotAllowed(errors, path, "maxLength", draft.MaxLength is not null && kind != AttributeKind.Text, kind.Value);
        NotAllowed(errors, path, "min", draft.Min is not null && kind != AttributeKind.Number, kind.Value);
        NotAllowed(errors, path, "max", draft.Max is not null && kind != AttributeKind.Number, kind.Value);
        NotAllowed(errors, path, "step", draft.Step is not null && kind != AttributeKind.Number, kind.Value);

        IReadOnlyList<string>? options = hasOptions ? Options(errors, path + "/options", draft.Options) : null;
        int? maxLength = null;
        if (kind == AttributeKind.Text)
        {
            maxLength = draft.MaxLength ?? RecipeLimits.DefaultTextMaxLength;
            if (maxLength is < 1 or > RecipeLimits.MaxTextMaxLength)
            {
                errors.Add(new(path + "/maxLength", $"'maxLength' must be from 1 to {RecipeLimits.MaxTextMaxLength}; it is {maxLength}."));
            }
        }

        if (kind == AttributeKind.Number)
        {
            NumberRange(errors, path, draft);
        }

        return errors.Count == before
            ? new AttributeSpec(key!, kind.Value, draft.Required ?? false, options, maxLength, draft.Min, draft.Max, draft.Step)
            : null;
    }

    private static List<string>? Options(List<RecipeError> errors, string path, IReadOnlyList<string?>? options)
    {
        if (options is null || options.Count == 0)
        {
            errors.Add(new(path, "Checkbox and radio attributes need 'options': a list of 1 or more choices."));
            return null;
        }

        if (options.Count > RecipeLimits.MaxOptions)
        {
            errors.Add(new(path, $"An attribute has at most {RecipeLimits.MaxOptions} options; this one has {options.Count}."));
            return null;
        }

        var result = new List<string>(options.Count);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Count; i++)
        {
            var option = Text(errors, Pointer(path, i), options[i], RecipeLimits.MaxOptionLength, required: true);
            if (option is null)
            {
                continue;
            }

            if (!seen.Add(option))
            {
                errors.Add(new(Pointer(path, i), $"Option '{option}' appears twice (options are compared case-insensitively)."));
                continue;
            }

            result.Add(option);
        }

        return result;
    }

    private static void NumberRange(List<RecipeError> errors, string path, AttributeSpecDraft draft)
    {
        if (draft.Min is not { } min || !double.IsFinite(min))
        {
            errors.Add(new(path + "/min", "Number attributes need a finite 'min'."));
        }

        if (draft.Max is not { } max || !double.IsFinite(max))
        {
            errors.Add(new(path + "/max", "Number attributes need a finite 'max'."));
        }
        else if (draft.Min is { } low && double.IsFinite(low) && max < low)
        {
            errors.Add(new(path + "/max", $"'max' ({max.ToString(CultureInfo.InvariantCulture)}) must not be below 'min' ({low.ToString(CultureInfo.InvariantCulture)})."));
        }

        if (draft.Step is { } step && (!double.IsFinite(step) || step <= 0))
        {
            errors.Add(new(path + "/step", $"'step' must be a positive number; it is {step.ToString(CultureInfo.InvariantCulture)}."));
        }
    }

    private static void NotAllowed(List<RecipeError> errors, string path, string field, bool present, AttributeKind kind)
    {
        if (present)
        {
            errors.Add(new($"{path}/{field}", $"'{field}' does not apply to a {kind} attribute; leave it out."));
        }
    }

    private static T? ParseEnum<T>(List<RecipeError> errors, string path, string field, string? value)
        where T : struct, Enum
    {
        // Enum.TryParse also accepts digits ("3"), which would let a client depend on declaration order.
        if (value is not null && value.Length > 0 && char.IsAsciiLetter(value[0]) && Enum.TryParse<T>(value, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
        {
            return parsed;
        }

        var allowed = string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
        errors.Add(new(path, value is null ? $"'{field}' is required: one of {allowed}." : $"'{field}' must be one of {allowed}; it is '{Shorten(value)}'."));
        return null;
    }

    private static string? Text(List<RecipeError> errors, string path, string? value, int maxLength, bool required)
    {
        var field = path[(path.LastIndexOf('/') + 1)..];
        if (value is null)
        {
            if (required)
            {
                errors.Add(new(path, $"'{field}' is required."));
            }

            return null;
        }

        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            errors.Add(new(path, $"'{field}' must not be empty or blank."));
            return null;
        }

        if (trimmed.Length > maxLength)
        {
            errors.Add(new(path, $"'{field}' is {trimmed.Length} characters long; the limit is {maxLength}."));
            return null;
        }

        if (trimmed.Any(char.IsControl))
        {
            errors.Add(new(path, $"'{field}' must not contain control characters."));
            return null;
        }

        return trimmed;
    }

    private static string? Instructions(List<RecipeError> errors, string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length > RecipeLimits.MaxInstructionsLength)
        {
            errors.Add(new("/instructions", $"'instructions' is {value.Length} characters long; the limit is {RecipeLimits.MaxInstructionsLength} (attach a PDF for longer guidelines)."));
            return null;
        }

        // Line breaks and tabs format instructions; other control characters only hide text.
        if (value.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')))
        {
            errors.Add(new("/instructions", "'instructions' must not contain control characters other than line breaks and tabs."));
            return null;
        }

        return value;
    }

    private static string Pointer(string path, int index) => string.Create(CultureInfo.InvariantCulture, $"{path}/{index}");

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    [GeneratedRegex("^#[0-9a-fA-F]{6}$")]
    private static partial Regex HexColor();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex AttributeKey();
}
