using Serverless.Core.Filters;

namespace Serverless.Core.Tests.Filters;

public sealed class FieldCatalogTests
{
    [Theory]
    [InlineData("name", "name", FieldType.String)]
    [InlineData("dir", "dir", FieldType.String)]
    [InlineData("type", "type", FieldType.Keyword)]
    [InlineData("createdAt", "createdAt", FieldType.Timestamp)]
    [InlineData("updatedAt", "updatedAt", FieldType.Timestamp)]
    [InlineData("size", "size", FieldType.Number)]
    [InlineData("annotated", "annotated", FieldType.Boolean)]
    [InlineData("tags", "tags", FieldType.StringList)]
    [InlineData("metadata.system.mimetype", "metadata.system.mimetype", FieldType.Any)]
    [InlineData("metadata.a.b.c.d.e.f.g.h", "metadata.a.b.c.d.e.f.g.h", FieldType.Any)]
    [InlineData("status.task_1", "status.task_1", FieldType.String)]
    public void Resolve_ItemField_MapsToDocumentPathAndType(string name, string path, FieldType type)
    {
        // Act
        var field = FieldCatalogs.Items.Resolve(name, "/x");

        // Assert
        Assert.NotNull(field);
        Assert.Equal(path, field.DocumentPath);
        Assert.Equal(type, field.Type);
    }

    [Theory]
    [InlineData("Name")]
    [InlineData("folder")]
    [InlineData("name.x")]
    [InlineData("")]
    public void Resolve_UnknownField_ReturnsNull(string name)
    {
        // Act
        var field = FieldCatalogs.Items.Resolve(name, "/x");

        // Assert
        Assert.Null(field);
    }

    [Theory]
    [InlineData("metadata.a.b.c.d.e.f.g.h.i", "at most 8")]
    [InlineData("metadata.1st", "not starting with a digit")]
    [InlineData("metadata.a..b", "each segment")]
    [InlineData("status", "needs a path below it")]
    public void Resolve_BadPrefixPath_Throws(string name, string expected)
    {
        // Act
        var error = Assert.Throws<FilterException>(() => FieldCatalogs.Items.Resolve(name, "/filter/f"));

        // Assert
        Assert.Equal("/filter/f", error.Path);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_Items_ListsFieldsAsUsersWriteThem()
    {
        // Act
        var text = FieldCatalogs.Items.Describe();

        // Assert
        Assert.Equal("id, name, dir, type, createdAt, updatedAt, size, annotated, tags, metadata.<path>, status.<taskId>", text);
    }

    [Fact]
    public void Constructor_DuplicateName_Throws()
    {
        // Act
        var error = Assert.Throws<ArgumentException>(() => new FieldCatalog("things",
            [new FieldDefinition("a", "a", FieldType.String), new FieldDefinition("a", "b", FieldType.Number)]));

        // Assert
        Assert.Contains("declared twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_KeywordWithoutValues_Throws()
    {
        // Act
        var error = Assert.Throws<ArgumentException>(() => new FieldCatalog("things", [new FieldDefinition("k", "k", FieldType.Keyword)]));

        // Assert
        Assert.Contains("allowed values", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NewCatalog_AsData_FiltersItsOwnFields()
    {
        // Arrange: a future target is only a list of definitions.
        var annotations = new FieldCatalog("annotations",
        [
            new FieldDefinition("label", "label", FieldType.String),
            new FieldDefinition("kind", "shape.kind", FieldType.Keyword, AllowedValues: ["box", "polygon"]),
        ]);

        // Act
        var filter = FilterCompiler.CompileFilter("""{"label": {"$glob": "car*"}, "kind": "box"}""", annotations);
        var error = Assert.Throws<FilterException>(() => FilterCompiler.CompileFilter("""{"name": "x"}""", annotations));

        // Assert
        Assert.Equal("""and(startsWith(label,"car"), eq(shape.kind,"box"))""", FilterText.Render(filter));
        Assert.Contains("annotations can be filtered by label, kind", error.Message, StringComparison.Ordinal);
    }
}
