using System.Buffers.Binary;

namespace Serverless.Core.Media;

/// <summary>Image formats whose size <see cref="ImageDimensions"/> reads.</summary>
public enum ImageFormat
{
    Png,
    Jpeg,
    Gif,
    WebP,
    Bmp,
    Tiff,
}

/// <summary>An image's format and pixel size.</summary>
public sealed record ImageSize(ImageFormat Format, int Width, int Height);

/// <summary>The bytes are not an image we recognise, or its header is damaged.</summary>
public sealed class UnsupportedImageException(string message) : Exception(message);

/// <summary>
/// Reads width and height from an image's header, reading only as far as the header goes: a few dozen
/// bytes for PNG, GIF, WebP and BMP; for JPEG the segments before the frame header (skipped by seeking
/// when the stream can, read and dropped when it cannot); for TIFF the first directory. A cap on how
/// far it reads keeps a hostile file from making it scan gigabytes.
/// </summary>
public static class ImageDimensions
{
    /// <summary>Default cap on how far into the stream a header may lie (JPEG EXIF/ICC segments can be large).</summary>
    public const long DefaultMaxHeaderBytes = 16 * 1024 * 1024;

    /// <summary>Reads the size from the stream's current position.</summary>
    public static async Task<ImageSize> ReadAsync(Stream stream, long maxHeaderBytes = DefaultMaxHeaderBytes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = new HeaderReader(stream, maxHeaderBytes);
        var head = await reader.ReadAsync(12, cancellationToken);
        ImageSize size;
        if (head.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            size = await ReadPngAsync(reader, head, cancellationToken);
        }
        else if (head[0] == 0xFF && head[1] == 0xD8)
        {
            size = await ReadJpegAsync(reader, head, cancellationToken);
        }
        else if (head.AsSpan().StartsWith("GIF87a"u8) || head.AsSpan().StartsWith("GIF89a"u8))
        {
            size = new ImageSize(ImageFormat.Gif, BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(6)), BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(8)));
        }
        else if (head.AsSpan().StartsWith("RIFF"u8) && head.AsSpan(8).StartsWith("WEBP"u8))
        {
            size = await ReadWebPAsync(reader, cancellationToken);
        }
        else if (head[0] == 'B' && head[1] == 'M')
        {
            size = await ReadBmpAsync(reader, head, cancellationToken);
        }
        else if (head.AsSpan().StartsWith("II*\0"u8) || head.AsSpan().StartsWith("MM\0*"u8))
        {
            size = await ReadTiffAsync(reader, head, cancellationToken);
        }
        else
        {
            throw new UnsupportedImageException("The bytes are not a PNG, JPEG, GIF, WebP, BMP or TIFF image.");
        }

        if (size.Width <= 0 || size.Height <= 0)
        {
            throw new UnsupportedImageException($"The {size.Format} header gives a size of {size.Width}x{size.Height}.");
        }

        return size;
    }

    /// <summary>Reads the size of a file.</summary>
    public static async Task<ImageSize> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            return await ReadAsync(file, DefaultMaxHeaderBytes, cancellationToken);
        }
    }

    private static async Task<ImageSize> ReadPngAsync(HeaderReader reader, byte[] head, CancellationToken cancellationToken)
    {
        // Signature (8), then the IHDR chunk: length (4), "IHDR", width (4, BE), height (4, BE).
        var rest = await reader.ReadAsync(12, cancellationToken);
        if (!head.AsSpan(8).StartsWith((ReadOnlySpan<byte>)[0, 0, 0, 13]) || !rest.AsSpan().StartsWith("IHDR"u8))
        {
            throw new UnsupportedImageException("The PNG does not start with an IHDR chunk.");
        }

        return new ImageSize(ImageFormat.Png, ReadInt32BigEndian(rest, 4), ReadInt32BigEndian(rest, 8));
    }

    private static async Task<ImageSize> ReadJpegAsync(HeaderReader reader, byte[] head, CancellationToken cancellationToken)
    {
        // After SOI, segments: 0xFF, marker, then (for most markers) a 2-byte length including itself.
        var pending = new Queue<byte>(head.AsSpan(2).ToArray());
        async ValueTask<byte> NextAsync() => pending.Count > 0 ? pending.Dequeue() : (await reader.ReadAsync(1, cancellationToken))[0];

        while (true)
        {
            var b = await NextAsync();
            if (b != 0xFF)
            {
                throw new UnsupportedImageException($"The JPEG has 0x{b:X2} where a marker should start.");
            }

            byte marker;
            do
            {
                marker = await NextAsync(); // 0xFF fill bytes may precede a marker
            }
            while (marker == 0xFF);

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // TEM and RSTn have no length
            }

            if (marker is 0xD9 or 0xDA)
            {
                throw new UnsupportedImageException("The JPEG reaches its scan or end before any frame header.");
            }

            var lengthBytes = new[] { await NextAsync(), await NextAsync() };
            var length = BinaryPrimitives.ReadUInt16BigEndian(lengthBytes);
            if (length < 2)
            {
                throw new UnsupportedImageException("The JPEG has a segment of impossible length.");
            }

            var isFrameHeader = marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
            if (isFrameHeader)
            {
                // Precision (1), height (2), width (2).
                var sof = new byte[5];
                for (var i = 0; i < 5; i++)
                {
                    sof[i] = await NextAsync();
                }

                return new ImageSize(ImageFormat.Jpeg, BinaryPrimitives.ReadUInt16BigEndian(sof.AsSpan(3)), BinaryPrimitives.ReadUInt16BigEndian(sof.AsSpan(1)));
            }

            var skip = length - 2;
            while (skip > 0 && pending.Count > 0)
            {
                pending.Dequeue();
                skip--;
            }

            await reader.SkipAsync(skip, cancellationToken);
        }
    }

    private static async Task<ImageSize> ReadWebPAsync(HeaderReader reader, CancellationToken cancellationToken)
    {
        // RIFF header (12) was read; then a chunk header (fourcc, size) and its first bytes.
        var chunk = await reader.ReadAsync(18, cancellationToken);
        var data = chunk.AsSpan(8);
        if (chunk.AsSpan().StartsWith("VP8 "u8))
        {
            // Frame tag (3), start code 9D 01 2A, then 14-bit width and height (top 2 bits: scale).
            if (data[3] != 0x9D || data[4] != 0x01 || data[5] != 0x2A)
            {
                throw new UnsupportedImageException("The WebP VP8 chunk lacks its start code.");
            }

            return new ImageSize(ImageFormat.WebP, BinaryPrimitives.ReadUInt16LittleEndian(data[6..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(data[8..]) & 0x3FFF);
        }

        if (chunk.AsSpan().StartsWith("VP8L"u8))
        {
            // Signature 0x2F, then width-1 and height-1 in 14 bits each, little-endian bit order.
            if (data[0] != 0x2F)
            {
                throw new UnsupportedImageException("The WebP VP8L chunk lacks its signature.");
            }

            var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[1..]);
            return new ImageSize(ImageFormat.WebP, (int)(bits & 0x3FFF) + 1, (int)((bits >> 14) & 0x3FFF) + 1);
        }

        if (chunk.AsSpan().StartsWith("VP8X"u8))
        {
            // Flags (1), reserved (3), canvas width-1 (24-bit LE), canvas height-1 (24-bit LE).
            var width = data[4] | (data[5] << 8) | (data[6] << 16);
            var height = data[7] | (data[8] << 8) | (data[9] << 16);
            return new ImageSize(ImageFormat.WebP, width + 1, height + 1);
        }

        throw new UnsupportedImageException("The WebP has no VP8, VP8L or VP8X chunk first.");
    }

    private static async Task<ImageSize> ReadBmpAsync(HeaderReader reader, byte[] head, CancellationToken cancellationToken)
    {
        // File header (14), then the DIB header whose size (4) says which layout follows.
        var rest = await reader.ReadAsync(14, cancellationToken);
        var all = head.Concat(rest).ToArray().AsSpan();
        var dibSize = BinaryPrimitives.ReadUInt32LittleEndian(all[14..]);
        if (dibSize == 12)
        {
            return new ImageSize(ImageFormat.Bmp, BinaryPrimitives.ReadUInt16LittleEndian(all[18..]), BinaryPrimitives.ReadUInt16LittleEndian(all[20..]));
        }

        if (dibSize < 40)
        {
            throw new UnsupportedImageException($"The BMP has a DIB header of {dibSize} bytes.");
        }

        // Height is negative for top-down bitmaps.
        var height = BinaryPrimitives.ReadInt32LittleEndian(all[22..]);
        return new ImageSize(ImageFormat.Bmp, BinaryPrimitives.ReadInt32LittleEndian(all[18..]), height == int.MinValue ? 0 : Math.Abs(height));
    }

    private static async Task<ImageSize> ReadTiffAsync(HeaderReader reader, byte[] head, CancellationToken cancellationToken)
    {
        var little = head[0] == 'I';
        uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        ushort U16(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);

        var ifdOffset = U32(head.AsSpan(4));
        if (ifdOffset < 8)
        {
            throw new UnsupportedImageException("The TIFF's first directory offset points into its header.");
        }

        if (ifdOffset < head.Length)
        {
            reader.Unread(head[(int)ifdOffset..]);
        }
        else
        {
            await reader.SkipAsync(ifdOffset - head.Length, cancellationToken);
        }

        var count = U16(await reader.ReadAsync(2, cancellationToken));
        int? width = null, height = null;
        for (var i = 0; i < count && (width is null || height is null); i++)
        {
            var entry = await reader.ReadAsync(12, cancellationToken);
            var tag = U16(entry);
            var type = U16(entry.AsSpan(2));
            if (tag is not (256 or 257))
            {
                continue;
            }

            // SHORT values sit in the first two bytes of the value field; LONG fills it.
            int value = type switch
            {
                3 => U16(entry.AsSpan(8)),
                4 => (int)Math.Min(U32(entry.AsSpan(8)), int.MaxValue),
                _ => throw new UnsupportedImageException($"The TIFF gives its size with field type {type}."),
            };
            if (tag == 256)
            {
                width = value;
            }
            else
            {
                height = value;
            }
        }

        return width is { } w && height is { } h
            ? new ImageSize(ImageFormat.Tiff, w, h)
            : throw new UnsupportedImageException("The TIFF's first directory has no ImageWidth and ImageLength.");
    }

    private static int ReadInt32BigEndian(byte[] bytes, int at) => (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at)), int.MaxValue);

    /// <summary>Reads forward only, seeking to skip when it can, and never past the cap.</summary>
    private sealed class HeaderReader(Stream stream, long max)
    {
        private long _position;
        private byte[] _pending = [];

        /// <summary>Puts bytes already read back in front of the stream.</summary>
        public void Unread(byte[] bytes)
        {
            _pending = [.. bytes, .. _pending];
            _position -= bytes.Length;
        }

        public async ValueTask<byte[]> ReadAsync(int count, CancellationToken cancellationToken)
        {
            Advance(count);
            var buffer = new byte[count];
            var fromPending = Math.Min(count, _pending.Length);
            _pending.AsSpan(0, fromPending).CopyTo(buffer);
            _pending = _pending[fromPending..];
            var rest = count - fromPending;
            var read = rest == 0 ? 0 : await stream.ReadAtLeastAsync(buffer.AsMemory(fromPending), rest, throwOnEndOfStream: false, cancellationToken);
            return read == rest ? buffer : throw new UnsupportedImageException("The image ends inside its header.");
        }

        public async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
        {
            if (count <= 0)
            {
                return;
            }

            Advance(count);
            var fromPending = (int)Math.Min(count, _pending.Length);
            _pending = _pending[fromPending..];
            count -= fromPending;
            if (count == 0)
            {
                return;
            }

            if (stream.CanSeek)
            {
                if (stream.Position + count > stream.Length)
                {
                    throw new UnsupportedImageException("The image ends inside its header.");
                }

                stream.Seek(count, SeekOrigin.Current);
                return;
            }

            var buffer = new byte[(int)Math.Min(count, 64 * 1024)];
            while (count > 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(count, buffer.Length)), cancellationToken);
                if (read == 0)
                {
                    throw new UnsupportedImageException("The image ends inside its header.");
                }

                count -= read;
            }
        }

        private void Advance(long count)
        {
            _position += count;
            if (_position > max)
            {
                throw new UnsupportedImageException($"The image's header goes past {max} bytes.");
            }
        }
    }
}
