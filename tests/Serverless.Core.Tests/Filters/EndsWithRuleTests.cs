using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Tests.Filters;

/// <summary>The EndsWith operator that globs compile to is checked like StartsWith by the store's query rules.</summary>
public sealed class EndsWithRuleTests
{
    [Fact]
    public void ValidateFilter_EndsWithNonString_Throws()
    {
        // Act
        var error = Assert.Throws<InvalidQueryException>(() => QueryRules.ValidateFilter(new Comparison("name", ComparisonOperator.EndsWith, JsonValue.Create(5))));

        // Assert
        Assert.Contains("EndsWith on 'name' needs a string value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EndsWith_Helper_BuildsStringComparison()
    {
        // Act
        var filter = Assert.IsType<Comparison>(Filter.EndsWith("name", ".png"));

        // Assert
        Assert.Equal(ComparisonOperator.EndsWith, filter.Operator);
        Assert.Equal(".png", filter.Value!.GetValue<string>());
        QueryRules.ValidateFilter(filter);
    }
}
