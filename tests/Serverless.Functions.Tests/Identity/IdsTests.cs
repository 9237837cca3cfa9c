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

    [Fact]
    public void NewTimeOrdered_ManyInOneMillisecondOnManyThreads_AllDistinct()
    {
        // Across several refills of each thread's random buffer (512 ids per 4 KB).
        var now = DateTimeOffset.UtcNow;
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 2000; i++)
            {
                ids.Add(Ids.NewTimeOrdered("i", now));
            }
        });

        Assert.Equal(16_000, ids.Distinct(StringComparer.Ordinal).Count());
    }
}
