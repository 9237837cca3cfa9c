using Serverless.Core.Items;

namespace Serverless.Core.Tests.Items;

public sealed class ItemPathTests
{
    [Theory]
    [InlineData("cat.png", "cat.png")]
    [InlineData("a b.png", "a b.png")]
    [InlineData("what?.png", "what?.png")]
    [InlineData("...", "...")]
    [InlineData(".hidden", ".hidden")]
    [InlineData("日本.jpg", "日本.jpg")]
    [InlineData("😀.txt", "😀.txt")]
    public void NormalizeName_ValidName_ReturnsNfc(string name, string expected)
    {
        // Act
        var normalized = ItemPath.NormalizeName(name);

        // Assert
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("", ItemPathProblem.Empty, "must not be empty")]
    [InlineData(".", ItemPathProblem.DotSegment, "must not be '.'")]
    [InlineData("..", ItemPathProblem.DotSegment, "must not be '..'")]
    [InlineData("a/b.png", ItemPathProblem.SlashInName, "contains '/'")]
    [InlineData("a\\b.png", ItemPathProblem.Backslash, "backslash")]
    [InlineData("a\u0000b", ItemPathProblem.ControlCharacter, "U+0000")]
    [InlineData("a\nb", ItemPathProblem.ControlCharacter, "U+000A")]
    [InlineData("a\u2028b", ItemPathProblem.ControlCharacter, "U+2028")]
    [InlineData("C:evil.exe", ItemPathProblem.DriveLetter, "drive letter")]
    [InlineData(" cat.png", ItemPathProblem.SurroundingWhitespace, "whitespace")]
    [InlineData("cat.png ", ItemPathProblem.SurroundingWhitespace, "whitespace")]
    public void NormalizeName_BadName_ThrowsNamingTheProblem(string name, ItemPathProblem problem, string message)
    {
        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.NormalizeName(name));

        // Assert
        Assert.Equal(problem, error.Problem);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NormalizeName_DecomposedAccent_IsNfc()
    {
        // Act
        var name = ItemPath.NormalizeName("cafe\u0301.png");
        var folder = ItemPath.NormalizeFolder("/cafe\u0301");

        // Assert: the platform runs with ICU (InvariantGlobalization is off), so names are composed.
        Assert.Equal("caf\u00e9.png", name);
        Assert.Equal("/caf\u00e9", folder);
    }

    [Fact]
    public void NormalizeName_LoneSurrogate_ThrowsInvalidUnicode()
    {
        // Arrange
        var name = "a" + (char)0xD800 + "b";

        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.NormalizeName(name));

        // Assert
        Assert.Equal(ItemPathProblem.InvalidUnicode, error.Problem);
        Assert.Contains("unpaired UTF-16 surrogate at position 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NormalizeName_Over255Utf8Bytes_Throws()
    {
        // Arrange: 128 two-byte characters = 256 bytes, only 128 chars.
        var name = new string('é', 128);

        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.NormalizeName(name));

        // Assert
        Assert.Equal(ItemPathProblem.NameTooLong, error.Problem);
        Assert.Contains("256 UTF-8 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NormalizeName_Exactly255Bytes_Passes()
    {
        // Act
        var name = ItemPath.NormalizeName(new string('a', 255));

        // Assert
        Assert.Equal(255, name.Length);
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("/cats", "/cats")]
    [InlineData("/animals/cats", "/animals/cats")]
    public void NormalizeFolder_ValidPath_ReturnsNfc(string folder, string expected)
    {
        // Act
        var normalized = ItemPath.NormalizeFolder(folder);

        // Assert
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("", ItemPathProblem.Empty)]
    [InlineData("cats", ItemPathProblem.NotAbsolute)]
    [InlineData("/cats/", ItemPathProblem.TrailingSlash)]
    [InlineData("//cats", ItemPathProblem.EmptySegment)]
    [InlineData("/a//b", ItemPathProblem.EmptySegment)]
    [InlineData("/a/../b", ItemPathProblem.DotSegment)]
    [InlineData("/a/./b", ItemPathProblem.DotSegment)]
    [InlineData("/..", ItemPathProblem.DotSegment)]
    [InlineData("C:/data", ItemPathProblem.DriveLetter)]
    [InlineData("c:\\data", ItemPathProblem.DriveLetter)]
    [InlineData("\\\\server\\share", ItemPathProblem.Backslash)]
    [InlineData("/a\\b", ItemPathProblem.Backslash)]
    [InlineData("/a\tb", ItemPathProblem.ControlCharacter)]
    [InlineData("/a /b", ItemPathProblem.SurroundingWhitespace)]
    public void NormalizeFolder_BadPath_ThrowsNamingTheProblem(string folder, ItemPathProblem problem)
    {
        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.NormalizeFolder(folder));

        // Assert
        Assert.Equal(problem, error.Problem);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void NormalizeFolder_Over1024Characters_Throws()
    {
        // Arrange: 10 segments of 102 characters plus slashes = 1030 characters.
        var folder = string.Concat(Enumerable.Repeat("/" + new string('a', 102), 10));

        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.NormalizeFolder(folder));

        // Assert
        Assert.Equal(ItemPathProblem.PathTooLong, error.Problem);
        Assert.Contains("1030 characters", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/cat.png", "/", "cat.png")]
    [InlineData("/a/b/cat.png", "/a/b", "cat.png")]
    public void SplitFullPath_ValidPath_ReturnsFolderAndName(string path, string folder, string name)
    {
        // Act
        var (f, n) = ItemPath.SplitFullPath(path);

        // Assert
        Assert.Equal(folder, f);
        Assert.Equal(name, n);
    }

    [Theory]
    [InlineData("/a/", ItemPathProblem.TrailingSlash)]
    [InlineData("/a/..", ItemPathProblem.DotSegment)]
    [InlineData("/../x.png", ItemPathProblem.DotSegment)]
    [InlineData("x.png", ItemPathProblem.NotAbsolute)]
    public void SplitFullPath_BadPath_Throws(string path, ItemPathProblem problem)
    {
        // Act
        var error = Assert.Throws<ItemPathException>(() => ItemPath.SplitFullPath(path));

        // Assert
        Assert.Equal(problem, error.Problem);
    }

    [Theory]
    [InlineData("/", "a.png", "/a.png")]
    [InlineData("/x/y", "a.png", "/x/y/a.png")]
    public void Combine_FolderAndName_JoinsWithOneSlash(string folder, string name, string expected)
    {
        // Act
        var full = ItemPath.Combine(folder, name);

        // Assert
        Assert.Equal(expected, full);
    }
}
