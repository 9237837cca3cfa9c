using Serverless.Core.Items;
using Serverless.Functions.Http;

namespace Serverless.Functions.Tests.Uploads;

/// <summary>The stream that stops an upload at the cap, whatever the declared length, sniffed header included.</summary>
public sealed class LimitedReadStreamTests
{
    private static byte[] Bytes(int count) => [.. Enumerable.Range(0, count).Select(i => (byte)i)];

    [Fact]
    public async Task ReadAsync_SniffedThenStreamed_YieldsEveryByteInOrder()
    {
        // Arrange: the upload path: cap first, then sniff (which replays what it read).
        var all = Bytes(10_000);
        await using var limited = new LimitedReadStream(new MemoryStream(all), limit: all.Length);
        var (_, content) = await ContentSniffer.SniffAsync(limited);
        using var copy = new MemoryStream();

        // Act
        await content.CopyToAsync(copy, 333);

        // Assert
        Assert.Equal(all, copy.ToArray());
        Assert.Equal(all.Length, limited.Position);
    }

    [Fact]
    public async Task ReadAsync_PastTheLimit_ThrowsUploadTooLarge()
    {
        // Arrange
        var all = Bytes(10_001);
        await using var limited = new LimitedReadStream(new MemoryStream(all), limit: 10_000);
        var (_, content) = await ContentSniffer.SniffAsync(limited);
        using var copy = new MemoryStream();

        // Act
        var error = await Assert.ThrowsAsync<UploadTooLargeException>(() => content.CopyToAsync(copy, 4096));

        // Assert
        Assert.Equal(10_000, error.Limit);
        Assert.True(copy.Length <= 10_000);
    }

    [Fact]
    public void Read_Synchronous_SameAsAsync()
    {
        // Arrange
        var all = Bytes(100);
        using var stream = new LimitedReadStream(new MemoryStream(all), limit: 99);
        var buffer = new byte[64];

        // Act
        var first = stream.Read(buffer, 0, buffer.Length);

        // Assert: reads pass through until the cap trips.
        Assert.Equal(64, first);
        Assert.Throws<UploadTooLargeException>(() => stream.Read(buffer, 0, buffer.Length));
    }
}
