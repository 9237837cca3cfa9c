using System.Text.Json.Nodes;
using Serverless.Core.Recipes;

namespace Serverless.Core.Tests.Recipes;

public sealed class AnnotationValidatorTests
{
    private static readonly Ontology Recipe = RecipeValidator.Validate(new RecipeDraft("Vehicles",
    [
        new LabelClassDraft("Car", "#ff0000", "box",
        [
            new AttributeSpecDraft("occluded", "boolean", true, null, null, null, null, null),
            new AttributeSpecDraft("color", "radio", true, ["red", "blue"], null, null, null, null),
            new AttributeSpecDraft("parts", "checkbox", false, ["door", "wheel", "roof"], null, null, null, null),
            new AttributeSpecDraft("note", "text", false, null, 5, null, null, null),
            new AttributeSpecDraft("speed", "number", false, null, null, 0, 10, 0.1),
        ]),
        new LabelClassDraft("road", "#00ff00", "polygon", null),
    ], null)).Recipe!;

    private static Dictionary<string, JsonNode?> Valid() => new()
    {
        ["occluded"] = false,
        ["color"] = "red",
        ["parts"] = new JsonArray("door", "wheel"),
        ["note"] = "short",
        ["speed"] = 0.3,
    };

    private static IReadOnlyList<RecipeError> Check(Dictionary<string, JsonNode?> values, string label = "Car", ShapeKind shape = ShapeKind.Box) =>
        AnnotationValidator.Validate(Recipe, label, shape, values);

    private static void AssertSingle(IReadOnlyList<RecipeError> errors, string path)
    {
        var error = Assert.Single(errors);
        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void Validate_EveryAttributeAnsweredCorrectly_NoErrors()
    {
        Assert.Empty(Check(Valid()));
    }

    [Fact]
    public void Validate_ClassNameDifferentCaseOptionalAttributesMissing_NoErrors()
    {
        // Arrange
        var values = new Dictionary<string, JsonNode?> { ["OCCLUDED"] = true, ["color"] = "BLUE" };

        // Act / Assert
        Assert.Empty(Check(values, label: "car"));
        Assert.Empty(AnnotationValidator.Validate(Recipe, "road", ShapeKind.Polygon, null));
    }

    [Fact]
    public void Validate_UnknownClass_ErrorAtLabelListingClasses()
    {
        // Act
        var errors = Check(Valid(), label: "bike");

        // Assert
        AssertSingle(errors, "/label");
        Assert.Contains("Car, road", errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WrongShapeForClass_ErrorAtShape()
    {
        AssertSingle(Check(Valid(), shape: ShapeKind.Polygon), "/shape");
    }

    [Fact]
    public void Validate_MissingRequiredAttribute_ErrorAtThatAttribute()
    {
        // Arrange
        var values = Valid();
        values.Remove("color");

        // Act / Assert
        AssertSingle(Check(values), "/attributes/color");
    }

    [Fact]
    public void Validate_RequiredAttributeNull_ErrorAtThatAttribute()
    {
        var values = Valid();
        values["occluded"] = null;
        AssertSingle(Check(values), "/attributes/occluded");
    }

    [Fact]
    public void Validate_UnknownAttribute_EscapedPointer()
    {
        var values = Valid();
        values["a/b~c"] = 1;
        AssertSingle(Check(values), "/attributes/a~1b~0c");
    }

    [Fact]
    public void Validate_RadioOptionNotAllowed_ErrorListsOptions()
    {
        // Arrange
        var values = Valid();
        values["color"] = "green";

        // Act
        var errors = Check(values);

        // Assert
        AssertSingle(errors, "/attributes/color");
        Assert.Contains("red, blue", errors[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RadioNotAString_Error()
    {
        var values = Valid();
        values["color"] = new JsonArray("red");
        AssertSingle(Check(values), "/attributes/color");
    }

    [Fact]
    public void Validate_CheckboxOptionNotAllowed_Error()
    {
        var values = Valid();
        values["parts"] = new JsonArray("door", "engine");
        AssertSingle(Check(values), "/attributes/parts");
    }

    [Fact]
    public void Validate_CheckboxDuplicateOrNotAList_Error()
    {
        var duplicate = Valid();
        duplicate["parts"] = new JsonArray("door", "DOOR");
        var scalar = Valid();
        scalar["parts"] = "door";
        var numbers = Valid();
        numbers["parts"] = new JsonArray(1, 2);

        AssertSingle(Check(duplicate), "/attributes/parts");
        AssertSingle(Check(scalar), "/attributes/parts");
        AssertSingle(Check(numbers), "/attributes/parts");
    }

    [Fact]
    public void Validate_CheckboxEmptyWhenOptional_NoError()
    {
        var values = Valid();
        values["parts"] = new JsonArray();
        Assert.Empty(Check(values));
    }

    [Fact]
    public void Validate_TextTooLong_ErrorAtText()
    {
        var values = Valid();
        values["note"] = "sixsix";
        AssertSingle(Check(values), "/attributes/note");
    }

    [Fact]
    public void Validate_TextNotAString_Error()
    {
        var values = Valid();
        values["note"] = 12;
        AssertSingle(Check(values), "/attributes/note");
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(10.1)]
    [InlineData(0.25)]
    public void Validate_NumberOutOfRangeOrOffStep_Error(double speed)
    {
        var values = Valid();
        values["speed"] = speed;
        AssertSingle(Check(values), "/attributes/speed");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(7.3)]
    public void Validate_NumberOnGridWithinRange_NoError(double speed)
    {
        var values = Valid();
        values["speed"] = speed;
        Assert.Empty(Check(values));
    }

    [Fact]
    public void Validate_NumberAsString_Error()
    {
        var values = Valid();
        values["speed"] = "5";
        AssertSingle(Check(values), "/attributes/speed");
    }

    [Fact]
    public void Validate_BooleanAsString_Error()
    {
        var values = Valid();
        values["occluded"] = "true";
        AssertSingle(Check(values), "/attributes/occluded");
    }

    [Fact]
    public void Validate_SeveralProblems_ReportsEach()
    {
        // Arrange
        var values = Valid();
        values.Remove("occluded");
        values["color"] = "green";
        values["note"] = "far too long";

        // Act
        var paths = Check(values, shape: ShapeKind.Point).Select(e => e.Path).ToList();

        // Assert
        Assert.Equal(["/shape", "/attributes/occluded", "/attributes/color", "/attributes/note"], paths);
    }
}
