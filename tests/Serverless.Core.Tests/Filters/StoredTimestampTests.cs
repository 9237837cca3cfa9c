using Serverless.Core.Filters;

namespace Serverless.Core.Tests.Filters;

public sealed class StoredTimestampTests
{
    [Theory]
    [InlineData("2024-05-01", "2024-05-01T00:00:00.0000000Z")]
    [InlineData("2024-05-01T12:00Z", "2024-05-01T12:00:00.0000000Z")]
    [InlineData("2024-05-01T12:00:01Z", "2024-05-01T12:00:01.0000000Z")]
    [InlineData("2024-05-01T12:00:01.1234567Z", "2024-05-01T12:00:01.1234567Z")]
    [InlineData("2024-05-01T01:00:00+02:00", "2024-04-30T23:00:00.0000000Z")]
    [InlineData("2024-05-01T23:00:00-05:30", "2024-05-02T04:30:00.0000000Z")]
    public void TryParse_Iso8601_FormatsAsStoredUtc(string text, string expected)
    {
        // Act
        var parsed = StoredTimestamp.TryParse(text, out var value);

        // Assert
        Assert.True(parsed);
        Assert.Equal(expected, StoredTimestamp.Format(value));
    }

    [Theory]
    [InlineData("2024-05-01T12:00:00")]
    [InlineData("2024-13-01")]
    [InlineData("2024-02-30")]
    [InlineData("01/05/2024")]
    [InlineData("2024-05-01 12:00:00Z")]
    [InlineData("2024-05-01T12:00:00.12345678Z")]
    [InlineData("١٢٣٤-05-01")]
    [InlineData("")]
    [InlineData("now")]
    public void TryParse_NotIso8601WithZone_ReturnsFalse(string text)
    {
        // Act
        var parsed = StoredTimestamp.TryParse(text, out _);

        // Assert
        Assert.False(parsed);
    }

    [Fact]
    public void Format_DifferentInstants_SortLexicallyInTimeOrder()
    {
        // Arrange
        var instants = new[]
        {
            new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(999, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero).AddTicks(1),
            new DateTimeOffset(2024, 5, 1, 13, 0, 0, TimeSpan.FromHours(2)),
        };

        // Act
        var lexical = instants.Select(StoredTimestamp.Format).Order(StringComparer.Ordinal).ToArray();
        var chronological = instants.Order().Select(StoredTimestamp.Format).ToArray();

        // Assert
        Assert.Equal(chronological, lexical);
        Assert.All(lexical, s => Assert.Equal(28, s.Length));
    }
}
