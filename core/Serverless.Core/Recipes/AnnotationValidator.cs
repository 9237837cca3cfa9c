using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serverless.Core.Recipes;

/// <summary>
/// Checks one annotation against a recipe: its class exists, its shape is the class's shape, and its
/// attribute values answer the class's attributes. Pure, so the annotations feature (and bulk
/// imports) can run it without HTTP. Paths: <c>/label</c>, <c>/shape</c>, <c>/attributes/{key}</c>.
/// </summary>
public static class AnnotationValidator
{
    /// <summary>Tolerance for the step grid, so that 0.1 + 0.2 still counts as a multiple of 0.1.</summary>
    private const double StepTolerance = 1e-9;

    /// <summary>Every error of the annotation (empty when it fits the recipe).</summary>
    /// <param name="recipe">The recipe of the annotation's dataset.</param>
    /// <param name="label">The annotation's class name (compared case-insensitively).</param>
    /// <param name="shape">The annotation's geometry.</param>
    /// <param name="attributes">Attribute key → value (array of strings, string, number or boolean per the attribute's kind); null when none.</param>
    public static IReadOnlyList<RecipeError> Validate(Ontology recipe, string? label, ShapeKind shape, IReadOnlyDictionary<string, JsonNode?>? attributes)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        var errors = new List<RecipeError>();
        var labelClass = recipe.FindClass(label);
        if (labelClass is null)
        {
            errors.Add(new("/label", $"The recipe has no class '{label}'; its classes are: {string.Join(", ", recipe.Classes.Select(c => c.Name))}."));
            return errors;
        }

        if (labelClass.Shape != shape)
        {
            errors.Add(new("/shape", $"Class '{labelClass.Name}' is annotated with a {labelClass.Shape.ToString().ToLowerInvariant()}, not a {shape.ToString().ToLowerInvariant()}."));
        }

        var values = attributes ?? new Dictionary<string, JsonNode?>();
        foreach (var key in values.Keys.Where(k => labelClass.FindAttribute(k) is null))
        {
            errors.Add(new(Path(key), $"Class '{labelClass.Name}' has no attribute '{key}'."));
        }

        foreach (var attribute in labelClass.Attributes)
        {
            var value = values.FirstOrDefault(p => string.Equals(p.Key, attribute.Key, StringComparison.OrdinalIgnoreCase)).Value;
            var error = Check(attribute, value);
            if (error is not null)
            {
                errors.Add(new(Path(attribute.Key), error));
            }
        }

        return errors;
    }

    private static string? Check(AttributeSpec attribute, JsonNode? value)
    {
        if (value is null)
        {
            return attribute.Required ? $"Attribute '{attribute.Key}' is required." : null;
        }

        return attribute.Kind switch
        {
            AttributeKind.Checkbox => Checkbox(attribute, value),
            AttributeKind.Radio => value.GetValueKind() == JsonValueKind.String
                ? Option(attribute, value.GetValue<string>())
                : $"Attribute '{attribute.Key}' takes one option as a string.",
            AttributeKind.Text => value.GetValueKind() != JsonValueKind.String
                ? $"Attribute '{attribute.Key}' takes text."
                : value.GetValue<string>().Length > attribute.MaxLength
                    ? $"Attribute '{attribute.Key}' is {value.GetValue<string>().Length} characters long; the limit is {attribute.MaxLength}."
                    : attribute.Required && value.GetValue<string>().Trim().Length == 0 ? $"Attribute '{attribute.Key}' is required and must not be blank." : null,
            AttributeKind.Number => Number(attribute, value),
            AttributeKind.Boolean => value.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? null : $"Attribute '{attribute.Key}' takes true or false.",
            _ => $"Attribute '{attribute.Key}' has an unknown kind.",
        };
    }

    private static string? Checkbox(AttributeSpec attribute, JsonNode value)
    {
        if (value is not JsonArray array || array.Any(v => v is null || v.GetValueKind() != JsonValueKind.String))
        {
            return $"Attribute '{attribute.Key}' takes a list of options as strings.";
        }

        var chosen = array.Select(v => v!.GetValue<string>()).ToList();
        if (attribute.Required && chosen.Count == 0)
        {
            return $"Attribute '{attribute.Key}' is required: choose at least one option.";
        }

        if (chosen.Count != chosen.Distinct(StringComparer.OrdinalIgnoreCase).Count())
        {
            return $"Attribute '{attribute.Key}' lists an option twice.";
        }

        return chosen.Select(c => Option(attribute, c)).FirstOrDefault(e => e is not null);
    }

    private static string? Option(AttributeSpec attribute, string chosen) =>
        attribute.Options!.Contains(chosen, StringComparer.OrdinalIgnoreCase)
            ? null
            : $"'{chosen}' is not an option of attribute '{attribute.Key}'; the options are: {string.Join(", ", attribute.Options!)}.";

    private static string? Number(AttributeSpec attribute, JsonNode value)
    {
        if (value.GetValueKind() != JsonValueKind.Number)
        {
            return $"Attribute '{attribute.Key}' takes a number.";
        }

        var number = value.GetValue<double>();
        var (min, max) = (attribute.Min!.Value, attribute.Max!.Value);
        if (number < min || number > max)
        {
            return string.Create(CultureInfo.InvariantCulture, $"Attribute '{attribute.Key}' must be from {min} to {max}; it is {number}.");
        }

        if (attribute.Step is { } step)
        {
            var steps = (number - min) / step;
            if (Math.Abs(steps - Math.Round(steps)) > StepTolerance * Math.Max(1, Math.Abs(steps)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"Attribute '{attribute.Key}' must be {min} plus a multiple of {step}; it is {number}.");
            }
        }

        return null;
    }

    // RFC 6901: '~' and '/' inside a key are escaped so that the pointer stays unambiguous.
    private static string Path(string key) => "/attributes/" + key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
