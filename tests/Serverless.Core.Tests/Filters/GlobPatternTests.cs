using Serverless.Core.Filters;

namespace Serverless.Core.Tests.Filters;

public sealed class GlobPatternTests
{
    [Theory]
    [InlineData("cat.png", """eq(name,"cat.png")""")]
    [InlineData("cat*", """startsWith(name,"cat")""")]
    [InlineData("*.png", """endsWith(name,".png")""")]
    [InlineData("*cat*", """contains(name,"cat")""")]
    [InlineData("*", """startsWith(name,"")""")]
    [InlineData("**", """contains(name,"")""")]
    [InlineData("", """eq(name,"")""")]
    [InlineData(@"what\?.png", """eq(name,"what?.png")""")]
    [InlineData(@"\[1\]*", """startsWith(name,"[1]")""")]
    [InlineData(@"*\*", """endsWith(name,"*")""")]
    [InlineData(@"a\\b*", """startsWith(name,"a\\b")""")]
    [InlineData("100%_done*", """startsWith(name,"100%_done")""")]
    public void Compile_SupportedShape_MapsToStringOperator(string pattern, string expected)
    {
        // Act
        var filter = GlobPattern.Compile("name", pattern, "/filter/name/$glob");

        // Assert
        Assert.Equal(expected, FilterText.Render(filter));
    }

    [Theory]
    [InlineData("a*b")]
    [InlineData("*a*b*")]
    [InlineData("a?")]
    [InlineData("[ab]*")]
    [InlineData("a]")]
    [InlineData("***")]
    public void Compile_UnsupportedShape_ThrowsNamingSupportedShapes(string pattern)
    {
        // Act
        var error = Assert.Throws<FilterException>(() => GlobPattern.Compile("name", pattern, "/filter/name/$glob"));

        // Assert
        Assert.Equal("/filter/name/$glob", error.Path);
        Assert.Contains($"Unsupported glob '{pattern}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'text*' (starts with)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(@"a\")]
    [InlineData(@"a\b")]
    public void Compile_DanglingEscape_Throws(string pattern)
    {
        // Act
        var error = Assert.Throws<FilterException>(() => GlobPattern.Compile("name", pattern, "/g"));

        // Assert
        Assert.Contains("escapes nothing", error.Message, StringComparison.Ordinal);
    }
}
