using Serverless.Core.Exports;

namespace Serverless.Core.Tests.Exports;

public sealed class PooledBufferStreamTests
{
    [Fact]
    public void Write_AcrossChunkBoundaries_ReadsBackTheSameBytes()
    {
        // Arrange: writes of uneven sizes that straddle chunk boundaries.
        var expected = new byte[(PooledBufferStream.ChunkSize * 3) + 123];
        new Random(7).NextBytes(expected);
        using var stream = new PooledBufferStream();

        // Act
        var offset = 0;
        foreach (var size in new[] { 1, 1000, PooledBufferStream.ChunkSize, 77, PooledBufferStream.ChunkSize * 2 })
        {
            var n = Math.Min(size, expected.Length - offset);
            stream.Write(expected, offset, n);
            offset += n;
        }

        stream.Write(expected.AsSpan(offset));
        stream.Position = 0;
        using var copy = new MemoryStream();
        stream.CopyTo(copy, 4096);

        // Assert
        Assert.Equal(expected.Length, stream.Length);
        Assert.Equal(expected, copy.ToArray());
    }

    [Fact]
    public void CopyTo_RangeSpanningChunks_CopiesOnlyThatRange()
    {
        // Arrange
        var bytes = Enumerable.Range(0, (PooledBufferStream.ChunkSize * 2) + 10).Select(i => (byte)(i % 251)).ToArray();
        using var stream = new PooledBufferStream();
        stream.Write(bytes);
        using var range = new MemoryStream();

        // Act
        stream.CopyTo(range, 1, bytes.Length - 2);

        // Assert
        Assert.Equal(bytes[1..^1], range.ToArray());
        Assert.Equal(bytes.Length, stream.Position);
        Assert.Equal(bytes[PooledBufferStream.ChunkSize], stream[PooledBufferStream.ChunkSize]);
    }

    [Fact]
    public void Write_AfterSeekingBack_Throws()
    {
        // Arrange
        using var stream = new PooledBufferStream();
        stream.Write([1, 2, 3]);
        stream.Position = 1;

        // Act
        var error = Record.Exception(() => stream.WriteByte(4));

        // Assert
        Assert.IsType<InvalidOperationException>(error);
        Assert.Equal(3, stream.Length);
    }

    [Fact]
    public void Read_Empty_ReturnsZero()
    {
        // Arrange
        using var stream = new PooledBufferStream();

        // Act
        var read = stream.Read(new byte[10], 0, 10);

        // Assert
        Assert.Equal(0, read);
        Assert.Equal(0, stream.Length);
    }
}
