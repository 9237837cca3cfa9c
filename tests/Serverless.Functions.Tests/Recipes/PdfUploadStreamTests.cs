using Serverless.Functions.Recipes;

namespace Serverless.Functions.Tests.Recipes;

/// <summary>The stream that replays the sniffed header and stops an upload at the cap, whatever the declared length.</summary>
public sealed class PdfUploadStreamTests
{
    private static byte[] Bytes(int count) => [.. Enumerable.Range(0, count).Select(i => (byte)i)];

    [Fact]
    public async Task ReadAsync_HeadThenSource_YieldsEveryByteInOrder()
    {
        // Arrange
        var all = Bytes(10_000);
        await using var stream = new PdfUploadStream(all.AsMemory(0, 5), new MemoryStream(all[5..]), limit: all.Length);
        using var copy = new MemoryStream();

        // Act
        await stream.CopyToAsync(copy, 333);

        // Assert
        Assert.Equal(all, copy.ToArray());
        Assert.Equal(all.Length, stream.Position);
    }

    [Fact]
    public async Task ReadAsync_PastTheLimit_ThrowsUploadTooLarge()
    {
        // Arrange
        var all = Bytes(10_001);
        await using var stream = new PdfUploadStream(all.AsMemory(0, 5), new MemoryStream(all[5..]), limit: 10_000);
        using var copy = new MemoryStream();

        // Act
        var error = await Assert.ThrowsAsync<UploadTooLargeException>(() => stream.CopyToAsync(copy, 4096));

        // Assert
        Assert.Equal(10_000, error.Limit);
        Assert.True(copy.Length <= 10_000);
    }

    [Fact]
    public void Read_Synchronous_SameAsAsync()
    {
        // Arrange
        var all = Bytes(100);
        using var stream = new PdfUploadStream(all.AsMemory(0, 5), new MemoryStream(all[5..]), limit: 99);
        var buffer = new byte[64];

        // Act
        var first = stream.Read(buffer, 0, buffer.Length);
        var second = stream.Read(buffer, 0, buffer.Length);

        // Assert: the head comes alone first, then the source until the cap trips.
        Assert.Equal(5, first);
        Assert.Equal(64, second);
        Assert.Throws<UploadTooLargeException>(() => stream.Read(buffer, 0, buffer.Length));
    }
}
