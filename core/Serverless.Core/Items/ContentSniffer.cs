using System.Text;
using System.Text.Json;

namespace Serverless.Core.Items;

/// <summary>The kind of an item, as stored in its <c>type</c> field.</summary>
public enum ItemType
{
    Image,
    Video,
    Text,
    Other,
}

/// <summary>What the first bytes of a file say it is.</summary>
/// <param name="Type">Item type.</param>
/// <param name="MimeType">Detected content type; <c>application/octet-stream</c> when unknown.</param>
public sealed record SniffResult(ItemType Type, string MimeType)
{
    /// <summary>The item type as stored and filtered on: <c>image</c>, <c>video</c>, <c>text</c>, <c>other</c>.</summary>
    public string TypeName => Type switch
    {
        ItemType.Image => "image",
        ItemType.Video => "video",
        ItemType.Text => "text",
        _ => "other",
    };
}

/// <summary>
/// Detects an upload's type from its first bytes (at most <see cref="HeadLength"/>), never from the
/// client's content type, which is only a claim. Recognizes PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF/HEIC;
/// MP4/MOV (ISO <c>ftyp</c>), WebM/Matroska (EBML), AVI (RIFF); PDF; UTF-8 text and JSON. Anything else
/// is <c>application/octet-stream</c>.
/// </summary>
public static class ContentSniffer
{
    /// <summary>Most bytes inspected.</summary>
    public const int HeadLength = 4096;

    private static readonly SniffResult Unknown = new(ItemType.Other, "application/octet-stream");

    /// <summary>
    /// Reads up to <see cref="HeadLength"/> bytes from <paramref name="content"/>, detects the type and returns a
    /// stream that replays those bytes followed by the rest, so a non-seekable upload can still be stored whole.
    /// </summary>
    public static async Task<(SniffResult Result, Stream Content)> SniffAsync(Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var head = new byte[HeadLength];
        var filled = 0;
        while (filled < head.Length)
        {
            var read = await content.ReadAsync(head.AsMemory(filled), cancellationToken);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        // A full head may have more behind it; a short one is the whole file.
        var result = Sniff(head.AsSpan(0, filled), complete: filled < head.Length);
        return (result, new ReplayStream(head.AsMemory(0, filled), content));
    }

    /// <summary>Detects the type of a file from its first bytes.</summary>
    /// <param name="head">The first bytes (up to <see cref="HeadLength"/> are used).</param>
    /// <param name="complete">True when <paramref name="head"/> is the whole file, so text must end cleanly.</param>
    public static SniffResult Sniff(ReadOnlySpan<byte> head, bool complete)
    {
        if (head.Length > HeadLength)
        {
            head = head[..HeadLength];
            complete = false;
        }

        return Image(head) ?? Video(head) ?? Document(head) ?? Text(head, complete) ?? Unknown;
    }

    private static SniffResult? Image(ReadOnlySpan<byte> b)
    {
        if (Has(b, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return new(ItemType.Image, "image/png");
        }

        if (Has(b, [0xFF, 0xD8, 0xFF]))
        {
            return new(ItemType.Image, "image/jpeg");
        }

        if (b.StartsWith("GIF87a"u8) || b.StartsWith("GIF89a"u8))
        {
            return new(ItemType.Image, "image/gif");
        }

        if (b.Length >= 12 && b.StartsWith("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8))
        {
            return new(ItemType.Image, "image/webp");
        }

        // "BM" alone is too weak (plain text can start with it): also require a known DIB header size.
        if (b.Length >= 18 && b.StartsWith("BM"u8) && BitConverter.ToUInt32(b[14..18]) is 12 or 40 or 52 or 56 or 64 or 108 or 124)
        {
            return new(ItemType.Image, "image/bmp");
        }

        if (Has(b, [0x49, 0x49, 0x2A, 0x00]) || Has(b, [0x4D, 0x4D, 0x00, 0x2A]))
        {
            return new(ItemType.Image, "image/tiff");
        }

        return null;
    }

    private static SniffResult? Video(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 12 && b[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = Encoding.ASCII.GetString(b[8..12]);
            return brand switch
            {
                "qt  " => new(ItemType.Video, "video/quicktime"),
                "avif" or "avis" => new(ItemType.Image, "image/avif"),
                "heic" or "heix" or "mif1" or "msf1" => new(ItemType.Image, "image/heic"),
                "M4A " or "M4B " => new(ItemType.Other, "audio/mp4"),
                _ => new(ItemType.Video, "video/mp4"),
            };
        }

        if (Has(b, [0x1A, 0x45, 0xDF, 0xA3]))
        {
            // The EBML header's DocType element (id 0x4282) names the flavour.
            var docType = b.IndexOf((ReadOnlySpan<byte>)[0x42, 0x82]);
            if (docType >= 0 && docType + 3 <= b.Length)
            {
                var rest = b[(docType + 3)..];
                if (rest.StartsWith("webm"u8))
                {
                    return new(ItemType.Video, "video/webm");
                }

                if (rest.StartsWith("matroska"u8))
                {
                    return new(ItemType.Video, "video/x-matroska");
                }
            }

            return null;
        }

        if (b.Length >= 12 && b.StartsWith("RIFF"u8) && b[8..12].SequenceEqual("AVI "u8))
        {
            return new(ItemType.Video, "video/x-msvideo");
        }

        return null;
    }

    private static bool Has(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> magic) => bytes.StartsWith(magic);

    private static SniffResult? Document(ReadOnlySpan<byte> b) =>
        b.StartsWith("%PDF-"u8) ? new(ItemType.Other, "application/pdf") : null;

    private static SniffResult? Text(ReadOnlySpan<byte> b, bool complete)
    {
        if (b.Length == 0)
        {
            return null;
        }

        if (Has(b, [0xEF, 0xBB, 0xBF]))
        {
            b = b[3..];
        }

        if (!complete)
        {
            // The head may cut a multi-byte character: drop an incomplete sequence at the end.
            b = b[..CompleteUtf8Length(b)];
        }

        if (!System.Text.Unicode.Utf8.IsValid(b))
        {
            return null;
        }

        foreach (var c in b)
        {
            // NUL and other C0 controls (but tab, newlines, form feed, escape) mean binary.
            if (c < 0x20 && c is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0C or 0x1B) || c == 0x7F)
            {
                return null;
            }
        }

        return LooksLikeJson(b, complete) ? new(ItemType.Text, "application/json") : new(ItemType.Text, "text/plain");
    }

    private static int CompleteUtf8Length(ReadOnlySpan<byte> b)
    {
        // Walk back over at most 3 continuation bytes to the lead byte of the last character.
        for (var back = 1; back <= Math.Min(4, b.Length); back++)
        {
            var c = b[^back];
            if ((c & 0xC0) == 0x80)
            {
                continue;
            }

            var needed = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
            return needed > back ? b.Length - back : b.Length;
        }

        return b.Length;
    }

    private static bool LooksLikeJson(ReadOnlySpan<byte> b, bool complete)
    {
        var start = 0;
        while (start < b.Length && b[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        if (start == b.Length || b[start] is not ((byte)'{' or (byte)'['))
        {
            return false;
        }

        var reader = new Utf8JsonReader(b[start..], isFinalBlock: complete, default);
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth == 0 && reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    // One complete value; anything after it but whitespace makes it not JSON.
                    return !reader.Read();
                }
            }

            // Ran out of a partial head with no error: a JSON start.
            return !complete;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Replays the sniffed head, then reads on from the source. Read-only, forward-only.</summary>
    private sealed class ReplayStream(ReadOnlyMemory<byte> head, Stream source) : Stream
    {
        private ReadOnlyMemory<byte> _head = head;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_head.IsEmpty)
            {
                return source.Read(buffer);
            }

            var n = Math.Min(buffer.Length, _head.Length);
            _head.Span[..n].CopyTo(buffer);
            _head = _head[n..];
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_head.IsEmpty)
            {
                return source.ReadAsync(buffer, cancellationToken);
            }

            var n = Math.Min(buffer.Length, _head.Length);
            _head.Span[..n].CopyTo(buffer.Span);
            _head = _head[n..];
            return ValueTask.FromResult(n);
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                source.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
