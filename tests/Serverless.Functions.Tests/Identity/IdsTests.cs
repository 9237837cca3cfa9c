using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Identity;

public sealed class IdsTests
{
    [Fact]
    public void NewTimeOrdered_LaterTime_SortsAfterAndIsWellFormed()
    {
        // Arrange
        var earlier = new DateTimeOffset(2026, 12, 3, 18, 0, 0, TimeSpan.Zero);
        var later = earlier.AddMilliseconds(1);

        // Act
        var first = Ids.NewTimeOrdered("i", earlier);
        var second = Ids.NewTimeOrdered("i", later);
        var sameTime = Ids.NewTimeOrdered("i", earlier);

        // Assert
        Assert.True(string.CompareOrdinal(first, second) < 0, $"{first} should sort before {second}");
        Assert.StartsWith("i_" + earlier.ToUnixTimeMilliseconds().ToString("x12", System.Globalization.CultureInfo.InvariantCulture), first, StringComparison.Ordinal);
        Assert.Equal(2 + 28, first.Length);
        Assert.NotEqual(first, sameTime);
        Assert.True(Ids.IsWellFormed(first));
    }
}
