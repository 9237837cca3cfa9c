using System.Buffers.Binary;
using System.Text;
using Serverless.Core.Items;
using Serverless.Testing;

namespace Serverless.Core.Tests.Items;

public sealed class ContentSnifferTests
{
    private static byte[] Png() => TestImages.Png(1, 1);


    /// <summary>A valid 1x1 24-bit BMP (BITMAPINFOHEADER).</summary>
    private static byte[] Bmp()
    {
        var b = new byte[58];
        b[0] = (byte)'B';
        b[1] = (byte)'M';
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2), 58);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), 1);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(28), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(34), 4);
        return b;
    }

    /// <summary>A valid 1x1 GIF89a.</summary>
    private static byte[] Gif() =>
    [
        .."GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF,
        0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B,
    ];

    private static byte[] Riff(string form, string firstChunk) =>
        [.."RIFF"u8, 26, 0, 0, 0, ..Encoding.ASCII.GetBytes(form), ..Encoding.ASCII.GetBytes(firstChunk), 10, 0, 0, 0, .. new byte[10]];

    private static byte[] Ftyp(string brand) =>
        [0, 0, 0, 0x18, .."ftyp"u8, ..Encoding.ASCII.GetBytes(brand), 0, 0, 2, 0, ..Encoding.ASCII.GetBytes(brand), .."mp41"u8, 0, 0, 0, 8, .."mdat"u8];

    /// <summary>EBML header: EBMLVersion 1, DocType (0x4282) of the given name.</summary>
    private static byte[] Ebml(string docType)
    {
        var name = Encoding.ASCII.GetBytes(docType);
        byte[] body = [0x42, 0x86, 0x81, 0x01, 0x42, 0x82, (byte)(0x80 | name.Length), .. name];
        return [0x1A, 0x45, 0xDF, 0xA3, (byte)(0x80 | body.Length), .. body, 0x18, 0x53, 0x80, 0x67];
    }

    public static TheoryData<string, byte[], ItemType, string> Samples => new()
    {
        { "png", Png(), ItemType.Image, "image/png" },
        { "jpeg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, .."JFIF"u8, 0x00, 0x01, 0x01, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9], ItemType.Image, "image/jpeg" },
        { "gif", Gif(), ItemType.Image, "image/gif" },
        { "webp", Riff("WEBP", "VP8L"), ItemType.Image, "image/webp" },
        { "bmp", Bmp(), ItemType.Image, "image/bmp" },
        { "tiff le", [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0], ItemType.Image, "image/tiff" },
        { "tiff be", [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8], ItemType.Image, "image/tiff" },
        { "avif", Ftyp("avif"), ItemType.Image, "image/avif" },
        { "heic", Ftyp("heic"), ItemType.Image, "image/heic" },
        { "mp4", Ftyp("isom"), ItemType.Video, "video/mp4" },
        { "mov", Ftyp("qt  "), ItemType.Video, "video/quicktime" },
        { "m4a", Ftyp("M4A "), ItemType.Other, "audio/mp4" },
        { "webm", Ebml("webm"), ItemType.Video, "video/webm" },
        { "mkv", Ebml("matroska"), ItemType.Video, "video/x-matroska" },
        { "avi", Riff("AVI ", "LIST"), ItemType.Video, "video/x-msvideo" },
        { "wav", Riff("WAVE", "fmt "), ItemType.Other, "application/octet-stream" },
        { "pdf", [.."%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"u8], ItemType.Other, "application/pdf" },
        { "text", [.."hello world\r\n\ttabbed\n"u8], ItemType.Text, "text/plain" },
        { "utf-8 text with bom", [0xEF, 0xBB, 0xBF, .."héllo 日本"u8], ItemType.Text, "text/plain" },
        { "json object", [.."  {\"a\": [1, 2, {\"b\": null}]}\n"u8], ItemType.Text, "application/json" },
        { "json array", [.."[1,2,3]"u8], ItemType.Text, "application/json" },
        { "broken json is text", [.."{\"a\": }"u8], ItemType.Text, "text/plain" },
        { "json then junk is text", [.."{} trailing"u8], ItemType.Text, "text/plain" },
        { "BM text is not bmp", [.."BMW is a car brand"u8], ItemType.Text, "text/plain" },
        { "nul byte is binary", [.."abc\0def"u8], ItemType.Other, "application/octet-stream" },
        { "invalid utf-8", [0x61, 0xC3, 0x28], ItemType.Other, "application/octet-stream" },
        { "empty", [], ItemType.Other, "application/octet-stream" },
        { "ebml without doctype", [0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x86, 0x81, 0x01], ItemType.Other, "application/octet-stream" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sniff_KnownHeader_DetectsTypeAndMime(string name, byte[] bytes, ItemType type, string mime)
    {
        // Act
        var result = ContentSniffer.Sniff(bytes, complete: true);

        // Assert
        Assert.False(string.IsNullOrEmpty(name));
        Assert.Equal(type, result.Type);
        Assert.Equal(mime, result.MimeType);
    }

    [Fact]
    public void Sniff_PartialJsonHead_IsJson()
    {
        // Arrange: a large JSON document whose first 4 KB end mid-value.
        var json = "{\"items\": [" + string.Join(",", Enumerable.Range(0, 2000).Select(i => $"{{\"id\": {i}}}")) + "]}";

        // Act
        var result = ContentSniffer.Sniff(Encoding.UTF8.GetBytes(json), complete: false);

        // Assert
        Assert.Equal("application/json", result.MimeType);
        Assert.Equal("text", result.TypeName);
    }

    [Fact]
    public void Sniff_HeadCutInsideMultiByteCharacter_IsStillText()
    {
        // Arrange: 4095 ASCII bytes then a 3-byte character, so byte 4096 splits it.
        var bytes = Encoding.UTF8.GetBytes(new string('a', 4095) + "日本語");

        // Act
        var result = ContentSniffer.Sniff(bytes, complete: false);

        // Assert
        Assert.Equal("text/plain", result.MimeType);
    }

    [Fact]
    public void Sniff_TruncatedMultiByteCharacterAtEndOfWholeFile_IsBinary()
    {
        // Act
        var result = ContentSniffer.Sniff([0x61, 0xE6, 0x97], complete: true);

        // Assert
        Assert.Equal(ItemType.Other, result.Type);
    }

    [Fact]
    public async Task SniffAsync_NonSeekableStream_ReadsAtMostHeadAndReplaysWholeContent()
    {
        // Arrange: a PNG followed by 10 KB more, behind a stream that cannot seek.
        var png = Png();
        var original = png.Concat(Enumerable.Range(0, 10_000).Select(i => (byte)i)).ToArray();
        await using var source = new ForwardOnlyStream(original);

        // Act
        var (result, content) = await ContentSniffer.SniffAsync(source);
        var readBeforeReplay = source.BytesRead;
        await using var copy = new MemoryStream();
        await using (content)
        {
            await content.CopyToAsync(copy);
        }

        // Assert
        Assert.Equal("image/png", result.MimeType);
        Assert.Equal(ContentSniffer.HeadLength, readBeforeReplay);
        Assert.Equal(original, copy.ToArray());
    }

    [Fact]
    public async Task SniffAsync_ShortText_TreatsHeadAsWholeFile()
    {
        // Arrange
        await using var source = new ForwardOnlyStream("{\"a\":1}"u8.ToArray());

        // Act
        var (result, content) = await ContentSniffer.SniffAsync(source);
        using var reader = new StreamReader(content);
        var text = await reader.ReadToEndAsync();

        // Assert
        Assert.Equal("application/json", result.MimeType);
        Assert.Equal("{\"a\":1}", text);
    }

    /// <summary>A read-only stream that cannot seek and hands out small chunks, like a network upload.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        private int _position;

        public int BytesRead => _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, 1000), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
