using Serverless.Core.Recipes;

namespace Serverless.Core.Tests.Recipes;

public sealed class RecipeValidatorTests
{
    private static LabelClassDraft Class(string? name = "car", string? color = "#FF8800", string? shape = "box", params AttributeSpecDraft?[] attributes) =>
        new(name, color, shape, attributes);

    private static AttributeSpecDraft Attr(string? key = "k", string? kind = "boolean", bool? required = null, IReadOnlyList<string?>? options = null, int? maxLength = null, double? min = null, double? max = null, double? step = null) =>
        new(key, kind, required, options, maxLength, min, max, step);

    private static RecipeDraft Draft(params LabelClassDraft?[] classes) => new("Vehicles", classes, "Draw tight boxes.");

    private static IReadOnlyList<RecipeError> Errors(RecipeDraft draft) => RecipeValidator.Validate(draft).Errors;

    private static void AssertSingleError(RecipeDraft draft, string path)
    {
        var errors = Errors(draft);
        var error = Assert.Single(errors);
        Assert.Equal(path, error.Path);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Validate_FullValidRecipe_NormalizesAndKeepsEverything()
    {
        // Arrange
        var draft = new RecipeDraft("  Vehicles ", [
            Class(" Car ", "#FF8800", "BOX",
                Attr("occluded", "boolean"),
                Attr("color", "radio", true, ["red", "blue"]),
                Attr("parts", "checkbox", false, ["door", "wheel"]),
                Attr("note", "text", maxLength: 50),
                Attr("speed", "number", min: 0, max: 200, step: 0.5)),
            Class("road", "#00ff00", "polygon"),
            Class("lane", "#0000ff", "polyline"),
            Class("light", "#123456", "point"),
            Class("sky", "#abcdef", "mask"),
            Class("weather", "#fedcba", "classification"),
        ], "Line one\nLine two\ttabbed");

        // Act
        var result = RecipeValidator.Validate(draft);

        // Assert
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        var recipe = result.Recipe!;
        Assert.Equal("Vehicles", recipe.Name);
        Assert.Equal(6, recipe.Classes.Count);
        var car = recipe.Classes[0];
        Assert.Equal(("Car", "#ff8800", ShapeKind.Box), (car.Name, car.Color, car.Shape));
        Assert.Equal([AttributeKind.Boolean, AttributeKind.Radio, AttributeKind.Checkbox, AttributeKind.Text, AttributeKind.Number], car.Attributes.Select(a => a.Kind));
        Assert.True(car.Attributes[1].Required);
        Assert.False(car.Attributes[0].Required);
        Assert.Equal(50, car.Attributes[3].MaxLength);
        Assert.Equal((0d, 200d, 0.5), (car.Attributes[4].Min!.Value, car.Attributes[4].Max!.Value, car.Attributes[4].Step!.Value));
        Assert.Equal(Enum.GetValues<ShapeKind>(), recipe.Classes.Select(c => c.Shape));
        Assert.Equal("Line one\nLine two\ttabbed", recipe.Instructions);
    }

    [Fact]
    public void Validate_NoInstructionsNoClassesList_EmptyInstructionsAndClassesRequired()
    {
        // Arrange
        var valid = new RecipeDraft("r", [], null);
        var missing = new RecipeDraft("r", null, null);

        // Act
        var ok = RecipeValidator.Validate(valid);

        // Assert
        Assert.True(ok.IsValid);
        Assert.Equal("", ok.Recipe!.Instructions);
        AssertSingleError(missing, "/classes");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("   ")]
    [InlineData("a\u0001b")]
    public void Validate_BadRecipeName_ErrorAtName(string? name)
    {
        AssertSingleError(new RecipeDraft(name, [], null), "/name");
    }

    [Fact]
    public void Validate_NameTooLong_ErrorAtName()
    {
        AssertSingleError(new RecipeDraft(new string('n', RecipeLimits.MaxNameLength + 1), [], null), "/name");
    }

    [Fact]
    public void Validate_DuplicateClassNameDifferentCase_ErrorNamesTheSecond()
    {
        // Arrange
        var draft = Draft(Class("Car"), Class("CAR "));

        // Act
        var error = Assert.Single(Errors(draft));

        // Assert
        Assert.Equal("/classes/1/name", error.Path);
        Assert.Contains("/classes/0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ff8800")]
    [InlineData("#ff880")]
    [InlineData("#gg8800")]
    [InlineData("#ff88001")]
    [InlineData(null)]
    public void Validate_BadColor_ErrorAtColor(string? color)
    {
        AssertSingleError(Draft(Class(color: color)), "/classes/0/color");
    }

    [Theory]
    [InlineData("circle")]
    [InlineData("0")]
    [InlineData("")]
    [InlineData(null)]
    public void Validate_BadShape_ErrorListsShapes(string? shape)
    {
        // Act
        var error = Assert.Single(Errors(Draft(Class(shape: shape))));

        // Assert
        Assert.Equal("/classes/0/shape", error.Path);
        Assert.Contains("polyline", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NullClassEntry_ErrorAtTheEntry()
    {
        AssertSingleError(Draft(Class(), null), "/classes/1");
    }

    [Fact]
    public void Validate_TooManyClasses_ErrorAtClasses()
    {
        var classes = Enumerable.Range(0, RecipeLimits.MaxClasses + 1).Select(i => (LabelClassDraft?)Class($"c{i}")).ToArray();
        AssertSingleError(Draft(classes), "/classes");
    }

    [Fact]
    public void Validate_SeveralErrors_ReportsEveryOne()
    {
        // Arrange
        var draft = new RecipeDraft("", [Class("a", "red", "circle"), Class("b", "#000000", "box", Attr("", "radio"))], new string('x', RecipeLimits.MaxInstructionsLength + 1));

        // Act
        var paths = Errors(draft).Select(e => e.Path).ToList();

        // Assert
        Assert.Equal(
            ["/name", "/instructions", "/classes/0/color", "/classes/0/shape", "/classes/1/attributes/0/key", "/classes/1/attributes/0/options"],
            paths);
    }

    [Fact]
    public void Validate_InstructionsWithControlCharacter_Error()
    {
        AssertSingleError(new RecipeDraft("r", [], "bell\u0007"), "/instructions");
    }

    [Fact]
    public void Validate_DuplicateAttributeKeyDifferentCase_ErrorAtSecondKey()
    {
        AssertSingleError(Draft(Class(attributes: [Attr("Occluded"), Attr("occluded")])), "/classes/0/attributes/1/key");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-lead")]
    [InlineData("has space")]
    public void Validate_BadAttributeKey_ErrorAtKey(string? key)
    {
        AssertSingleError(Draft(Class(attributes: Attr(key))), "/classes/0/attributes/0/key");
    }

    [Theory]
    [InlineData("slider")]
    [InlineData(null)]
    public void Validate_BadAttributeKind_ErrorAtKind(string? kind)
    {
        AssertSingleError(Draft(Class(attributes: Attr(kind: kind))), "/classes/0/attributes/0/kind");
    }

    [Fact]
    public void Validate_TooManyAttributes_ErrorAtAttributes()
    {
        var attributes = Enumerable.Range(0, RecipeLimits.MaxAttributesPerClass + 1).Select(i => (AttributeSpecDraft?)Attr($"a{i}")).ToArray();
        AssertSingleError(Draft(Class(attributes: attributes)), "/classes/0/attributes");
    }

    [Theory]
    [InlineData("radio")]
    [InlineData("checkbox")]
    public void Validate_ChoiceWithoutOptions_ErrorAtOptions(string kind)
    {
        AssertSingleError(Draft(Class(attributes: Attr(kind: kind))), "/classes/0/attributes/0/options");
        AssertSingleError(Draft(Class(attributes: Attr(kind: kind, options: []))), "/classes/0/attributes/0/options");
    }

    [Fact]
    public void Validate_DuplicateOrBlankOption_ErrorAtThatOption()
    {
        AssertSingleError(Draft(Class(attributes: Attr(kind: "radio", options: ["Red", "red"]))), "/classes/0/attributes/0/options/1");
        AssertSingleError(Draft(Class(attributes: Attr(kind: "checkbox", options: ["a", " ", "b"]))), "/classes/0/attributes/0/options/1");
    }

    [Fact]
    public void Validate_TooManyOptions_ErrorAtOptions()
    {
        var options = Enumerable.Range(0, RecipeLimits.MaxOptions + 1).Select(i => (string?)$"o{i}").ToList();
        AssertSingleError(Draft(Class(attributes: Attr(kind: "radio", options: options))), "/classes/0/attributes/0/options");
    }

    [Theory]
    [InlineData("boolean", "options")]
    [InlineData("text", "min")]
    [InlineData("radio", "maxLength")]
    [InlineData("checkbox", "step")]
    [InlineData("boolean", "max")]
    public void Validate_FieldOfAnotherKind_ErrorAtThatField(string kind, string field)
    {
        // Arrange: a valid attribute of the kind plus one field that belongs to another kind.
        var attribute = Attr(kind: kind, options: kind is "radio" or "checkbox" ? ["a"] : null, min: kind == "number" ? 0 : null, max: kind == "number" ? 1 : null);
        attribute = field switch
        {
            "options" => attribute with { Options = ["x"] },
            "min" => attribute with { Min = 1 },
            "max" => attribute with { Max = 1 },
            "step" => attribute with { Step = 1 },
            _ => attribute with { MaxLength = 5 },
        };

        // Act / Assert
        AssertSingleError(Draft(Class(attributes: attribute)), $"/classes/0/attributes/0/{field}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(RecipeLimits.MaxTextMaxLength + 1)]
    public void Validate_TextMaxLengthOutOfRange_ErrorAtMaxLength(int maxLength)
    {
        AssertSingleError(Draft(Class(attributes: Attr(kind: "text", maxLength: maxLength))), "/classes/0/attributes/0/maxLength");
    }

    [Fact]
    public void Validate_TextWithoutMaxLength_GetsTheDefault()
    {
        var recipe = RecipeValidator.Validate(Draft(Class(attributes: Attr(kind: "text")))).Recipe!;
        Assert.Equal(RecipeLimits.DefaultTextMaxLength, recipe.Classes[0].Attributes[0].MaxLength);
    }

    [Theory]
    [InlineData(null, 1d, null, "min")]
    [InlineData(0d, null, null, "max")]
    [InlineData(double.NaN, 1d, null, "min")]
    [InlineData(0d, double.PositiveInfinity, null, "max")]
    [InlineData(5d, 1d, null, "max")]
    [InlineData(0d, 1d, 0d, "step")]
    [InlineData(0d, 1d, -0.5, "step")]
    public void Validate_BadNumberRange_ErrorAtField(double? min, double? max, double? step, string field)
    {
        AssertSingleError(Draft(Class(attributes: Attr(kind: "number", min: min, max: max, step: step))), $"/classes/0/attributes/0/{field}");
    }

    [Fact]
    public void Validate_NullAttributeEntry_ErrorAtTheEntry()
    {
        AssertSingleError(Draft(Class(attributes: [Attr(), null])), "/classes/0/attributes/1");
    }

    [Fact]
    public void Validate_EachLimitKeptButWholeRecipeTooLarge_ErrorAtClasses()
    {
        // Arrange: 20 classes × 50 attributes × 100 options of 20 characters ≈ 2 MB of options.
        var options = Enumerable.Range(0, RecipeLimits.MaxOptions).Select(i => (string?)$"option-{i:D13}").ToList();
        var attributes = Enumerable.Range(0, RecipeLimits.MaxAttributesPerClass).Select(i => (AttributeSpecDraft?)Attr($"a{i}", "checkbox", options: options)).ToArray();
        var classes = Enumerable.Range(0, 20).Select(i => (LabelClassDraft?)Class($"c{i}", attributes: attributes)).ToArray();

        // Act / Assert
        AssertSingleError(Draft(classes), "/classes");
    }
}
