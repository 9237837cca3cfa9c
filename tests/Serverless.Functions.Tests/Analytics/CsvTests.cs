using Serverless.Functions.Analytics;

namespace Serverless.Functions.Tests.Analytics;

public sealed class CsvTests
{
    [Theory]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("+1", "'+1")]
    [InlineData("-cmd", "'-cmd")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("line\nbreak", "\"line\nbreak\"")]
    [InlineData("plain", "plain")]
    public void Field_Text_QuotedAndGuardedAgainstFormulas(string value, string expected)
    {
        // Act
        var field = Csv.Field(value);

        // Assert
        Assert.Equal(expected, field);
    }

    [Fact]
    public void Field_NegativeNumberAndRate_NotGuardedInvariantCulture()
    {
        // Act
        var fields = new[] { Csv.Field(-3L), Csv.Field(0.3333), Csv.Field(null) };

        // Assert
        Assert.Equal(["-3", "0.3333", ""], fields);
    }
}
