using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Serverless.Core.Exports.Zip;

/// <summary>
/// Writes a ZIP archive front to back to any stream, including non-seekable ones (a blob upload, an
/// HTTP response): each entry is a local header without sizes, the data, then a data descriptor with
/// the CRC-32 and sizes computed while streaming; the central directory follows the last entry.
/// ZIP64 records appear exactly where a size, an offset or the entry count needs them.
/// </summary>
/// <remarks>
/// We write our own instead of <see cref="ZipArchive"/> because over a non-seekable stream it writes the
/// local header with no ZIP64 signal and then, for an entry of 4 GiB or more, an 8-byte data descriptor
/// (dotnet/runtime#127389, open): readers that walk local headers misparse every later entry. It also
/// has no caps or name policy. Here an entry whose length is unknown or near 4 GiB gets a ZIP64 local
/// extra (sizes 0xFFFFFFFF) and a 64-bit descriptor; a known small one keeps 32-bit fields. Memory holds one central
/// directory record per entry (name plus 40 bytes), bounded by <see cref="ZipWriterOptions.MaxEntries"/>.
/// Reading back through <see cref="ZipArchive"/> is how the tests check our output.
/// </remarks>
public sealed class ZipStreamWriter : IAsyncDisposable
{
    private const uint LocalHeaderSignature = 0x04034b50;
    private const uint DataDescriptorSignature = 0x08074b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint Zip64EndSignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const uint EndSignature = 0x06054b50;
    private const ushort FlagDataDescriptor = 0x0008;
    private const ushort FlagUtf8 = 0x0800;
    private const ushort VersionDefault = 20;
    private const ushort VersionZip64 = 45;
    private const int CopyBufferSize = 1024 * 1024;

    // Below this a known length cannot turn into a >4 GiB deflate stream (deflate's worst case growth is tiny).
    private const long SmallEntryLimit = 0xF000_0000;

    private static readonly HashSet<string> CompressedExtensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic", ".jp2", ".mp4", ".m4v", ".mov", ".webm",
        ".mkv", ".avi", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac", ".zip", ".gz", ".tgz", ".bz2", ".xz",
        ".7z", ".rar", ".zst", ".br",
    };

    private readonly CountingStream _output;
    private readonly ZipWriterOptions _options;
    private readonly List<CentralRecord> _central = [];
    private readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase);
    private long _totalBytes;
    private bool _faulted;
    private bool _completed;

    /// <summary>Starts an archive on <paramref name="output"/> (left open on dispose).</summary>
    public ZipStreamWriter(Stream output, ZipWriterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite)
        {
            throw new ArgumentException("The output stream must be writable.", nameof(output));
        }

        _output = new CountingStream(output);
        _options = options ?? new ZipWriterOptions();
    }

    /// <summary>Entries written so far.</summary>
    public int EntryCount => _central.Count;

    /// <summary>Copies <paramref name="content"/> (from its position to its end) into a new entry.</summary>
    public async Task<ZipEntryResult> AddEntryAsync(
        string name,
        Stream content,
        ZipEntryOptions? entry = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        EnsureWritable();
        entry ??= new ZipEntryOptions();
        var safeName = ZipEntryNames.MakeUnique(ZipEntryNames.Sanitize(name, _options.NamePolicy), _names.Contains);
        if (_central.Count >= _options.MaxEntries)
        {
            throw Fault(new ZipLimitExceededException(ZipLimit.Entries, _options.MaxEntries));
        }

        var compression = entry.Compression switch
        {
            ZipCompression.Auto => CompressedExtensions.Contains(Path.GetExtension(safeName)) ? ZipCompression.Stored : ZipCompression.Deflate,
            var explicitChoice => explicitChoice,
        };
        long? knownLength = entry.ExpectedLength ?? (content.CanSeek ? content.Length - content.Position : null);
        var zip64Local = knownLength is null || knownLength >= SmallEntryLimit;
        var nameBytes = Encoding.UTF8.GetBytes(safeName);
        var (time, date) = ToDos(entry.LastModified ?? _options.DefaultLastModified ?? new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var method = compression == ZipCompression.Stored ? (ushort)0 : (ushort)8;
        var offset = _output.Position;
        _faulted = true; // until the entry is complete: a half-written entry spoils the archive
        await WriteLocalHeaderAsync(nameBytes, method, time, date, zip64Local, cancellationToken);

        var dataStart = _output.Position;
        var (crc, length) = compression == ZipCompression.Stored
            ? await CopyAsync(content, _output, cancellationToken)
            : await DeflateAsync(content, cancellationToken);
        var compressedLength = _output.Position - dataStart;
        if (!zip64Local && (length >= uint.MaxValue || compressedLength >= uint.MaxValue))
        {
            throw Fault(new ZipWriterException($"Entry '{safeName}' grew past 4 GiB although its length was given as {knownLength}."));
        }

        await WriteDataDescriptorAsync(crc, compressedLength, length, zip64Local, cancellationToken);
        _names.Add(safeName);
        _central.Add(new CentralRecord(nameBytes, method, time, date, crc, compressedLength, length, offset, zip64Local));
        _faulted = false;
        return new ZipEntryResult(safeName, compression, crc, length, compressedLength);
    }

    /// <summary>Writes the central directory and end records, and flushes. The output stays open.</summary>
    public async Task<ZipSummary> CompleteAsync(CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        _faulted = true;
        var directoryStart = _output.Position;
        foreach (var record in _central)
        {
            await WriteCentralHeaderAsync(record, cancellationToken);
        }

        var directorySize = _output.Position - directoryStart;
        var count = _central.Count;
        var zip64 = count >= ushort.MaxValue || directorySize >= uint.MaxValue || directoryStart >= uint.MaxValue;
        if (zip64)
        {
            var zip64EndOffset = _output.Position;
            var buffer = new byte[56 + 20];
            var s = buffer.AsSpan();
            BinaryPrimitives.WriteUInt32LittleEndian(s, Zip64EndSignature);
            BinaryPrimitives.WriteUInt64LittleEndian(s[4..], 44); // size of the rest of this record
            BinaryPrimitives.WriteUInt16LittleEndian(s[12..], VersionZip64);
            BinaryPrimitives.WriteUInt16LittleEndian(s[14..], VersionZip64);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], 0); // this disk
            BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 0); // disk with the directory
            BinaryPrimitives.WriteUInt64LittleEndian(s[24..], (ulong)count);
            BinaryPrimitives.WriteUInt64LittleEndian(s[32..], (ulong)count);
            BinaryPrimitives.WriteUInt64LittleEndian(s[40..], (ulong)directorySize);
            BinaryPrimitives.WriteUInt64LittleEndian(s[48..], (ulong)directoryStart);
            var locator = s[56..];
            BinaryPrimitives.WriteUInt32LittleEndian(locator, Zip64LocatorSignature);
            BinaryPrimitives.WriteUInt32LittleEndian(locator[4..], 0);
            BinaryPrimitives.WriteUInt64LittleEndian(locator[8..], (ulong)zip64EndOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(locator[16..], 1); // total disks
            await _output.WriteAsync(buffer, cancellationToken);
        }

        var end = new byte[22];
        var e = end.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(e, EndSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)Math.Min(count, ushort.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(e[10..], (ushort)Math.Min(count, ushort.MaxValue));
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], Clamp32(directorySize));
        BinaryPrimitives.WriteUInt32LittleEndian(e[16..], Clamp32(directoryStart));
        await _output.WriteAsync(end, cancellationToken);
        await _output.FlushAsync(cancellationToken);
        _completed = true;
        _faulted = false;
        return new ZipSummary(count, _totalBytes, _output.Position, zip64);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _completed = true;
        return ValueTask.CompletedTask;
    }

    private static uint Clamp32(long value) => value >= uint.MaxValue ? uint.MaxValue : (uint)value;

    private static (ushort Time, ushort Date) ToDos(DateTimeOffset when)
    {
        var t = when.UtcDateTime;
        if (t.Year < 1980)
        {
            t = new DateTime(1980, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        }
        else if (t.Year > 2107)
        {
            t = new DateTime(2107, 12, 31, 23, 59, 58, DateTimeKind.Utc);
        }

        var time = (ushort)((t.Hour << 11) | (t.Minute << 5) | (t.Second / 2));
        var date = (ushort)(((t.Year - 1980) << 9) | (t.Month << 5) | t.Day);
        return (time, date);
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_faulted)
        {
            throw new InvalidOperationException("An earlier write failed; this archive is incomplete and must be discarded.");
        }
    }

    private ZipWriterException Fault(ZipWriterException error)
    {
        _faulted = true;
        return error;
    }

    private void CountBytes(int count)
    {
        _totalBytes += count;
        if (_totalBytes > _options.MaxTotalBytes)
        {
            throw Fault(new ZipLimitExceededException(ZipLimit.TotalBytes, _options.MaxTotalBytes));
        }
    }

    private async Task<(uint Crc, long Length)> CopyAsync(Stream source, Stream destination, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            uint crc = 0;
            long length = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken)) > 0)
            {
                CountBytes(read);
                length += read;

                // The write and the CRC only read the buffer: run them side by side, so a stored
                // entry costs max(CRC, I/O) rather than their sum.
                var write = destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                crc = Crc32.Update(crc, buffer.AsSpan(0, read));
                await write;
            }

            return (crc, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<(uint Crc, long Length)> DeflateAsync(Stream source, CancellationToken cancellationToken)
    {
        var deflate = new DeflateStream(_output, CompressionLevel.Fastest, leaveOpen: true);
        await using (deflate.ConfigureAwait(false))
        {
            return await CopyAsync(source, deflate, cancellationToken);
        }
    }

    private async Task WriteLocalHeaderAsync(byte[] name, ushort method, ushort time, ushort date, bool zip64, CancellationToken cancellationToken)
    {
        var extraLength = zip64 ? 20 : 0;
        var buffer = new byte[30 + name.Length + extraLength];
        var s = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, LocalHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], zip64 ? VersionZip64 : VersionDefault);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], FlagDataDescriptor | FlagUtf8);
        BinaryPrimitives.WriteUInt16LittleEndian(s[8..], method);
        BinaryPrimitives.WriteUInt16LittleEndian(s[10..], time);
        BinaryPrimitives.WriteUInt16LittleEndian(s[12..], date);
        BinaryPrimitives.WriteUInt32LittleEndian(s[14..], 0); // CRC: in the data descriptor
        BinaryPrimitives.WriteUInt32LittleEndian(s[18..], zip64 ? uint.MaxValue : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(s[22..], zip64 ? uint.MaxValue : 0);
        BinaryPrimitives.WriteUInt16LittleEndian(s[26..], (ushort)name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s[28..], (ushort)extraLength);
        name.CopyTo(s[30..]);
        if (zip64)
        {
            // Sizes are unknown when the header goes out; the ZIP64 extra says the descriptor's are 64-bit.
            var extra = s[(30 + name.Length)..];
            BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x0001);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], 16);
        }

        await _output.WriteAsync(buffer, cancellationToken);
    }

    private async Task WriteDataDescriptorAsync(uint crc, long compressed, long length, bool zip64, CancellationToken cancellationToken)
    {
        var buffer = new byte[zip64 ? 24 : 16];
        var s = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, DataDescriptorSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], crc);
        if (zip64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], (ulong)compressed);
            BinaryPrimitives.WriteUInt64LittleEndian(s[16..], (ulong)length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[8..], (uint)compressed);
            BinaryPrimitives.WriteUInt32LittleEndian(s[12..], (uint)length);
        }

        await _output.WriteAsync(buffer, cancellationToken);
    }

    private async Task WriteCentralHeaderAsync(CentralRecord r, CancellationToken cancellationToken)
    {
        // The ZIP64 extra holds, in this order, only the fields whose 32-bit slot says 0xFFFFFFFF.
        var bigLength = r.Length >= uint.MaxValue;
        var bigCompressed = r.CompressedLength >= uint.MaxValue;
        var bigOffset = r.Offset >= uint.MaxValue;
        var extraData = (bigLength ? 8 : 0) + (bigCompressed ? 8 : 0) + (bigOffset ? 8 : 0);
        var extraLength = extraData > 0 ? 4 + extraData : 0;
        var needs64 = extraData > 0 || r.Zip64Local;
        var buffer = new byte[46 + r.Name.Length + extraLength];
        var s = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, CentralHeaderSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], VersionZip64); // made by
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], needs64 ? VersionZip64 : VersionDefault);
        BinaryPrimitives.WriteUInt16LittleEndian(s[8..], FlagDataDescriptor | FlagUtf8);
        BinaryPrimitives.WriteUInt16LittleEndian(s[10..], r.Method);
        BinaryPrimitives.WriteUInt16LittleEndian(s[12..], r.Time);
        BinaryPrimitives.WriteUInt16LittleEndian(s[14..], r.Date);
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], r.Crc);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], Clamp32(r.CompressedLength));
        BinaryPrimitives.WriteUInt32LittleEndian(s[24..], Clamp32(r.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s[28..], (ushort)r.Name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(s[30..], (ushort)extraLength);
        BinaryPrimitives.WriteUInt32LittleEndian(s[42..], Clamp32(r.Offset));
        r.Name.CopyTo(s[46..]);
        if (extraLength > 0)
        {
            var extra = s[(46 + r.Name.Length)..];
            BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x0001);
            BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)extraData);
            var at = 4;
            if (bigLength)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)r.Length);
                at += 8;
            }

            if (bigCompressed)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)r.CompressedLength);
                at += 8;
            }

            if (bigOffset)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(extra[at..], (ulong)r.Offset);
            }
        }

        await _output.WriteAsync(buffer, cancellationToken);
    }

    private sealed record CentralRecord(
        byte[] Name,
        ushort Method,
        ushort Time,
        ushort Date,
        uint Crc,
        long CompressedLength,
        long Length,
        long Offset,
        bool Zip64Local);

    /// <summary>Tracks the position of a stream that may not report one.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _position;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            _position += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _position += buffer.Length;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken);
            _position += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
