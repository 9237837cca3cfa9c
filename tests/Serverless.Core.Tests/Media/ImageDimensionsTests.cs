using System.Buffers.Binary;
using Serverless.Core.Media;
using Serverless.Core.Tests.Exports;

namespace Serverless.Core.Tests.Media;

public sealed class ImageDimensionsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("x.png", ImageFormat.Png, new string[0])]
    [InlineData("x.jpg", ImageFormat.Jpeg, new string[0])]
    [InlineData("x.gif", ImageFormat.Gif, new string[0])]
    [InlineData("x.bmp", ImageFormat.Bmp, new string[0])]
    [InlineData("x.tiff", ImageFormat.Tiff, new string[0])]
    [InlineData("lossless.webp", ImageFormat.WebP, new[] { "-c:v", "libwebp", "-lossless", "1" })]
    [InlineData("lossy.webp", ImageFormat.WebP, new[] { "-c:v", "libwebp", "-lossless", "0" })]
    public async Task ReadAsync_FileMadeByFfmpeg_GivesItsSize(string name, ImageFormat format, string[] codec)
    {
        // Arrange: 38x23 (even width for lossy WebP's chroma, odd height for the rest).
        var path = _temp.File(name);
        Ffmpeg.Run(["-f", "lavfi", "-i", "color=c=red:s=38x23,format=rgb24", "-frames:v", "1", .. codec, path]);

        // Act
        await using var file = File.OpenRead(path);
        var size = await ImageDimensions.ReadAsync(new NonSeekableStream(file));

        // Assert
        Assert.Equal(new ImageSize(format, 38, 23), size);
    }

    [Fact]
    public async Task ReadAsync_JpegWithLargeSegmentsBeforeFrame_SkipsThem()
    {
        // Arrange: SOI, an APP1 of 60,000 bytes, a comment, then SOF2 (progressive) 1234x567.
        using var jpeg = new MemoryStream();
        jpeg.Write([0xFF, 0xD8]);
        WriteSegment(jpeg, 0xE1, new byte[60_000]);
        jpeg.WriteByte(0xFF); // a fill byte before the next marker
        WriteSegment(jpeg, 0xFE, "comment"u8.ToArray());
        WriteSegment(jpeg, 0xC2, [8, 0x02, 0x37, 0x04, 0xD2, 3]);
        jpeg.Position = 0;

        // Act
        var size = await ImageDimensions.ReadAsync(new NonSeekableStream(jpeg));

        // Assert
        Assert.Equal(new ImageSize(ImageFormat.Jpeg, 1234, 567), size);
    }

    [Fact]
    public async Task ReadAsync_WebPExtended_GivesCanvasSize()
    {
        // Arrange: RIFF, WEBP, VP8X chunk with canvas 4000x3000 (stored minus one, 24-bit).
        var bytes = new byte[30];
        "RIFF"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 22);
        "WEBPVP8X"u8.CopyTo(bytes.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 10);
        Write24(bytes, 24, 3999);
        Write24(bytes, 27, 2999);

        // Act
        var size = await ImageDimensions.ReadAsync(new MemoryStream(bytes));

        // Assert
        Assert.Equal(new ImageSize(ImageFormat.WebP, 4000, 3000), size);
    }

    [Fact]
    public async Task ReadAsync_BigEndianTiffWithDirectoryRightAfterHeader_GivesSize()
    {
        // Arrange: "MM", 42, IFD at 8 with ImageWidth (SHORT 640) and ImageLength (LONG 70000).
        var bytes = new byte[8 + 2 + (2 * 12) + 4];
        "MM\0*"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), 2);
        WriteTiffEntry(bytes.AsSpan(10), 256, 3, 640 << 16);
        WriteTiffEntry(bytes.AsSpan(22), 257, 4, 70_000);

        // Act
        var size = await ImageDimensions.ReadAsync(new MemoryStream(bytes));

        // Assert
        Assert.Equal(new ImageSize(ImageFormat.Tiff, 640, 70_000), size);
    }

    [Fact]
    public async Task ReadAsync_UnknownBytes_ThrowsUnsupportedImage()
    {
        // Act
        var error = await Assert.ThrowsAsync<UnsupportedImageException>(() => ImageDimensions.ReadAsync(new MemoryStream("not an image at all"u8.ToArray())));

        // Assert
        Assert.Contains("not a PNG", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_TruncatedPng_ThrowsUnsupportedImage()
    {
        // Arrange
        var path = _temp.File("t.png");
        Ffmpeg.Run("-f", "lavfi", "-i", "color=c=blue:s=10x10", "-frames:v", "1", path);
        var bytes = (await File.ReadAllBytesAsync(path))[..14];

        // Act
        var error = await Assert.ThrowsAsync<UnsupportedImageException>(() => ImageDimensions.ReadAsync(new MemoryStream(bytes)));

        // Assert
        Assert.Contains("ends inside its header", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_JpegSegmentsBeyondCap_ThrowsUnsupportedImage()
    {
        // Arrange: segments that would make the reader walk past its cap.
        using var jpeg = new MemoryStream();
        jpeg.Write([0xFF, 0xD8]);
        for (var i = 0; i < 20; i++)
        {
            WriteSegment(jpeg, 0xE2, new byte[60_000]);
        }

        jpeg.Position = 0;

        // Act
        var error = await Assert.ThrowsAsync<UnsupportedImageException>(() => ImageDimensions.ReadAsync(jpeg, maxHeaderBytes: 1_000_000));

        // Assert
        Assert.Contains("goes past 1000000 bytes", error.Message, StringComparison.Ordinal);
    }

    private static void WriteSegment(Stream stream, byte marker, byte[] payload)
    {
        stream.Write([0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2)]);
        stream.Write(payload);
    }

    private static void Write24(byte[] bytes, int at, int value)
    {
        bytes[at] = (byte)value;
        bytes[at + 1] = (byte)(value >> 8);
        bytes[at + 2] = (byte)(value >> 16);
    }

    private static void WriteTiffEntry(Span<byte> entry, ushort tag, ushort type, uint value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(entry, tag);
        BinaryPrimitives.WriteUInt16BigEndian(entry[2..], type);
        BinaryPrimitives.WriteUInt32BigEndian(entry[4..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(entry[8..], value);
    }
}
