using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Cosmos;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>Golden tests: the exact Cosmos SQL and parameters each query compiles to.</summary>
public sealed class CosmosQueryCompilerTests
{
    private const string Select = "SELECT * FROM c WHERE ";
    private const string ById = " ORDER BY c.id ASC";

    public static TheoryData<string, Filter, string, object?[]> Operators => new()
    {
        { "eq string", Filter.Eq("status", "open"), "c[\"status\"] = @p0", ["open"] },
        { "eq null", Filter.Eq("status", null), "c[\"status\"] = @p0", [null] },
        { "eq bool", Filter.Eq("done", true), "c[\"done\"] = @p0", [true] },
        { "gt int", Filter.Gt("meta.size", 10), "c[\"meta\"][\"size\"] > @p0", [10L] },
        { "gte double", Filter.Gte("score", 0.5), "c[\"score\"] >= @p0", [0.5] },
        { "lt string", Filter.Lt("name", "m"), "c[\"name\"] < @p0", ["m"] },
        { "lte int", Filter.Lte("n", -3), "c[\"n\"] <= @p0", [-3L] },
        { "ne string", Filter.Ne("status", "done"), "(IS_DEFINED(c[\"status\"]) AND (NOT IS_STRING(c[\"status\"]) OR c[\"status\"] != @p0))", ["done"] },
        { "ne number", Filter.Ne("n", 1), "(IS_DEFINED(c[\"n\"]) AND (NOT IS_NUMBER(c[\"n\"]) OR c[\"n\"] != @p0))", [1L] },
        { "ne bool", Filter.Ne("done", false), "(IS_DEFINED(c[\"done\"]) AND (NOT IS_BOOL(c[\"done\"]) OR c[\"done\"] != @p0))", [false] },
        { "ne null", Filter.Ne("owner", null), "(IS_DEFINED(c[\"owner\"]) AND NOT IS_NULL(c[\"owner\"]))", [] },
        { "contains", Filter.Contains("tags", "cat"), "((IS_STRING(c[\"tags\"]) AND CONTAINS(c[\"tags\"], @p0)) OR (IS_ARRAY(c[\"tags\"]) AND ARRAY_CONTAINS(c[\"tags\"], @p0)))", ["cat"] },
        { "hasElement", Filter.HasElement("tags", "cat"), "(IS_ARRAY(c[\"tags\"]) AND ARRAY_CONTAINS(c[\"tags\"], @p0))", ["cat"] },
        { "starts with", Filter.StartsWith("path", "a/b"), "STARTSWITH(c[\"path\"], @p0)", ["a/b"] },
        { "ends with", Filter.EndsWith("name", ".png"), "ENDSWITH(c[\"name\"], @p0)", [".png"] },
        { "in", Filter.In("status", "a", 2, null), "c[\"status\"] IN (@p0, @p1, @p2)", ["a", 2L, null] },
        { "not in", Filter.NotIn("status", "a", "b"), "(IS_DEFINED(c[\"status\"]) AND NOT ARRAY_CONTAINS([@p0, @p1], c[\"status\"]))", ["a", "b"] },
        { "exists", Filter.Exists("meta.width"), "IS_DEFINED(c[\"meta\"][\"width\"])", [] },
        { "not exists", Filter.Exists("deletedAt", exists: false), "NOT IS_DEFINED(c[\"deletedAt\"])", [] },
        { "reserved word path", Filter.Eq("value", 1), "c[\"value\"] = @p0", [1L] },
    };

    [Theory]
    [MemberData(nameof(Operators))]
    public void CompileSelect_EachOperator_ProducesExpectedSqlAndParameters(string name, Filter filter, string expectedWhere, object?[] expectedValues)
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery(Where: filter));

        // Assert
        Assert.False(string.IsNullOrEmpty(name));
        Assert.Equal(Select + expectedWhere + ById, definition.QueryText);
        AssertParameters(definition, expectedValues.Select((v, i) => ($"@p{i}", v)).ToArray());
    }

    [Fact]
    public void CompileSelect_PartitionKey_AddsPartitionCondition()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery("project:1", Filter.Eq("status", "open")));

        // Assert
        Assert.Equal("SELECT * FROM c WHERE c.pk = @pk AND c[\"status\"] = @p0 ORDER BY c.id ASC", definition.QueryText);
        AssertParameters(definition, ("@pk", "project:1"), ("@p0", "open"));
    }

    [Fact]
    public void CompileSelect_NoFilter_SortsByIdOnly()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery());

        // Assert
        Assert.Equal("SELECT * FROM c ORDER BY c.id ASC", definition.QueryText);
        AssertParameters(definition);
    }

    [Fact]
    public void CompileSelect_NestedAndOr_ParenthesizesGroupsAndNumbersParametersInOrder()
    {
        // Arrange
        var filter = Filter.And(
            Filter.Eq("a", 1),
            Filter.Or(Filter.Eq("b", "x"), Filter.And(Filter.Gt("c", 2), Filter.Exists("d"))));

        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery("p", filter));

        // Assert
        Assert.Equal(
            "SELECT * FROM c WHERE c.pk = @pk AND (c[\"a\"] = @p0 AND (c[\"b\"] = @p1 OR (c[\"c\"] > @p2 AND IS_DEFINED(c[\"d\"])))) ORDER BY c.id ASC",
            definition.QueryText);
        AssertParameters(definition, ("@pk", "p"), ("@p0", 1L), ("@p1", "x"), ("@p2", 2L));
    }

    [Fact]
    public void CompileSelect_TopLevelOr_StaysParenthesizedAfterPartitionCondition()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery("p", Filter.Or(Filter.Eq("a", 1), Filter.Eq("b", 2))));

        // Assert
        Assert.Equal("SELECT * FROM c WHERE c.pk = @pk AND (c[\"a\"] = @p0 OR c[\"b\"] = @p1) ORDER BY c.id ASC", definition.QueryText);
    }

    [Fact]
    public void CompileSelect_SingleFilterGroup_IsNotWrapped()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery(Where: Filter.And(Filter.Eq("a", 1))));

        // Assert
        Assert.Equal("SELECT * FROM c WHERE c[\"a\"] = @p0 ORDER BY c.id ASC", definition.QueryText);
    }

    [Fact]
    public void CompileSelect_SortFields_AppendsIdTieBreaker()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery(
            OrderBy: [new SortField("createdAt", Descending: true), new SortField("meta.name")]));

        // Assert
        Assert.Equal("SELECT * FROM c ORDER BY c[\"createdAt\"] DESC, c[\"meta\"][\"name\"] ASC, c.id ASC", definition.QueryText);
    }

    [Fact]
    public void CompileSelect_ExplicitIdSort_UsesItsDirectionAndDropsLaterKeys()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery(
            OrderBy: [new SortField("status"), new SortField("id", Descending: true), new SortField("name")]));

        // Assert
        Assert.Equal("SELECT * FROM c ORDER BY c[\"status\"] ASC, c.id DESC", definition.QueryText);
    }

    [Fact]
    public void CompileCount_WithPartitionAndFilter_SelectsValueCount()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileCount("dataset:7", Filter.In("status", "a", "b"));

        // Assert
        Assert.Equal("SELECT VALUE COUNT(1) FROM c WHERE c.pk = @pk AND c[\"status\"] IN (@p0, @p1)", definition.QueryText);
        AssertParameters(definition, ("@pk", "dataset:7"), ("@p0", "a"), ("@p1", "b"));
    }

    [Fact]
    public void CompileCount_NoPartitionNoFilter_CountsEverything()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileCount(null, null);

        // Assert
        Assert.Equal("SELECT VALUE COUNT(1) FROM c", definition.QueryText);
        AssertParameters(definition);
    }

    [Fact]
    public void CompileCountBy_GroupsByPath()
    {
        // Act
        var definition = CosmosQueryCompiler.CompileCountBy("project:1", Filter.Exists("assignee"), "meta.status");

        // Assert
        Assert.Equal(
            "SELECT c[\"meta\"][\"status\"] AS v, COUNT(1) AS n FROM c WHERE c.pk = @pk AND IS_DEFINED(c[\"assignee\"]) GROUP BY c[\"meta\"][\"status\"]",
            definition.QueryText);
        AssertParameters(definition, ("@pk", "project:1"));
    }

    [Theory]
    [InlineData("a\"] OR 1=1 --")]
    [InlineData("a..b")]
    [InlineData("1abc")]
    [InlineData("")]
    public void CompileSelect_InvalidPath_ThrowsInvalidQueryException(string path)
    {
        // Act
        var ex = Assert.Throws<InvalidQueryException>(() => CosmosQueryCompiler.CompileSelect(new DocumentQuery(Where: Filter.Eq(path, 1))));

        // Assert
        Assert.Equal(path, ex.Path);
    }

    [Fact]
    public void CompileCountBy_InvalidGroupPath_ThrowsInvalidQueryException()
    {
        // Act and Assert
        Assert.Throws<InvalidQueryException>(() => CosmosQueryCompiler.CompileCountBy(null, null, "a-b"));
    }

    [Fact]
    public void CompileSelect_ObjectValue_ThrowsInvalidQueryException()
    {
        // Act and Assert
        Assert.Throws<InvalidQueryException>(() => CosmosQueryCompiler.CompileSelect(new DocumentQuery(Where: Filter.Eq("a", new JsonObject { ["b"] = 1 }))));
    }

    [Fact]
    public void CompileSelect_StringValueWithQuotes_TravelsOnlyAsParameter()
    {
        // Arrange
        const string hostile = "x\" OR 1=1 --";

        // Act
        var definition = CosmosQueryCompiler.CompileSelect(new DocumentQuery(Where: Filter.Eq("name", hostile)));

        // Assert
        Assert.DoesNotContain("OR 1=1", definition.QueryText, StringComparison.Ordinal);
        AssertParameters(definition, ("@p0", hostile));
    }

    private static void AssertParameters(QueryDefinition definition, params (string Name, object? Value)[] expected)
    {
        var actual = definition.GetQueryParameters().Select(p => (p.Name, (object?)p.Value)).ToArray();
        Assert.Equal(expected, actual);
    }
}
