using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Tests.Storage;

public sealed class QueryRulesTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void Validate_PageSizeOutOfRange_Throws(int pageSize)
    {
        var error = Assert.Throws<InvalidQueryException>(() => QueryRules.Validate(new DocumentQuery(PageSize: pageSize)));

        Assert.Equal("pageSize", error.Path);
    }

    [Fact]
    public void Validate_NestingDeeperThanLimit_ThrowsNamingLocation()
    {
        Filter filter = Filter.Eq("a", 1);
        for (var i = 0; i < DocumentLimits.MaxFilterDepth; i++)
        {
            filter = Filter.And(filter);
        }

        var error = Assert.Throws<InvalidQueryException>(() => QueryRules.ValidateFilter(filter));

        Assert.StartsWith("where.and[0]", error.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NestingAtLimit_Passes()
    {
        Filter filter = Filter.Eq("a", 1);
        for (var i = 0; i < DocumentLimits.MaxFilterDepth - 1; i++)
        {
            filter = Filter.Or(filter);
        }

        QueryRules.ValidateFilter(filter);
    }

    [Fact]
    public void Validate_ObjectValue_ThrowsNamingField()
    {
        var error = Assert.Throws<InvalidQueryException>(() =>
            QueryRules.ValidateFilter(Filter.Eq("meta.size", new JsonObject { ["x"] = 1 })));

        Assert.Equal("meta.size", error.Path);
    }

    [Fact]
    public void Validate_ContainsWithNumber_Throws() =>
        Assert.Throws<InvalidQueryException>(() =>
            QueryRules.ValidateFilter(new Comparison("name", ComparisonOperator.Contains, 5)));

    [Fact]
    public void Validate_EmptyGroup_Throws() =>
        Assert.Throws<InvalidQueryException>(() => QueryRules.ValidateFilter(Filter.And()));

    [Fact]
    public void Validate_EmptyInList_Throws() =>
        Assert.Throws<InvalidQueryException>(() => QueryRules.ValidateFilter(Filter.In("status")));

    [Fact]
    public void Validate_BadSortPath_Throws() =>
        Assert.Throws<InvalidQueryException>(() =>
            QueryRules.Validate(new DocumentQuery(OrderBy: [new SortField("name;drop")])));

    [Fact]
    public void Validate_WellFormedQuery_Passes() =>
        QueryRules.Validate(new DocumentQuery(
            PartitionKey: "project:1",
            Where: Filter.And(Filter.Eq("type", "image"), Filter.Or(Filter.Gt("meta.size", 10), Filter.Exists("tags"))),
            OrderBy: [new SortField("name"), new SortField("createdAt", Descending: true)],
            PageSize: 50));
}
