using System.Buffers;

namespace Serverless.Core.Exports;

/// <summary>
/// An in-memory stream made of fixed-size chunks rented from <see cref="ArrayPool{T}.Shared"/> and returned on
/// dispose: written once (appending), then read from the start (an upload) or copied in part
/// (<see cref="CopyTo(Stream, long, long)"/>).
/// </summary>
/// <remarks>
/// Why not <see cref="MemoryStream"/>: an export page of ~1 MB grows a <see cref="MemoryStream"/> by doubling, and
/// every buffer past 85 KB lands on the large object heap, which only a full collection frees. Over the hundreds of
/// pages of a large export that garbage made most of the process's peak memory. Chunks of
/// <see cref="ChunkSize"/> stay below the large-object threshold and go back to the pool, so a page costs no new
/// memory once the pool is warm.
/// </remarks>
public sealed class PooledBufferStream : Stream
{
    /// <summary>Bytes per chunk: below the large-object threshold (85,000 bytes) and a power of two, as the pool rents them.</summary>
    public const int ChunkSize = 64 * 1024;

    private readonly List<byte[]> _chunks = [];
    private long _length;
    private long _position;
    private bool _disposed;

    /// <inheritdoc />
    public override bool CanRead => !_disposed;

    /// <inheritdoc />
    public override bool CanSeek => !_disposed;

    /// <inheritdoc />
    public override bool CanWrite => !_disposed;

    /// <inheritdoc />
    public override long Length => _length;

    /// <inheritdoc />
    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, _length);
            _position = value;
        }
    }

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var read = 0;
        while (read < buffer.Length && _position < _length)
        {
            var chunk = _chunks[(int)(_position / ChunkSize)];
            var offset = (int)(_position % ChunkSize);
            var n = (int)Math.Min(Math.Min(ChunkSize - offset, _length - _position), buffer.Length - read);
            chunk.AsSpan(offset, n).CopyTo(buffer[read..]);
            read += n;
            _position += n;
        }

        return read;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer, offset, count));

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    /// <summary>Only truncation to empty is supported (the buffer is reused for a new content).</summary>
    public override void SetLength(long value)
    {
        if (value != 0)
        {
            throw new NotSupportedException("A pooled buffer can only be emptied.");
        }

        _length = 0;
        _position = 0;
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Appends (writes always go to the end: the buffer is written once, then read).</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_position != _length)
        {
            throw new InvalidOperationException("A pooled buffer is written at its end only.");
        }

        while (!buffer.IsEmpty)
        {
            var offset = (int)(_length % ChunkSize);
            var index = (int)(_length / ChunkSize);
            if (index == _chunks.Count)
            {
                _chunks.Add(ArrayPool<byte>.Shared.Rent(ChunkSize));
            }

            var n = Math.Min(ChunkSize - offset, buffer.Length);
            buffer[..n].CopyTo(_chunks[index].AsSpan(offset));
            buffer = buffer[n..];
            _length += n;
        }

        _position = _length;
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write([value]);

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Copies <paramref name="count"/> bytes starting at <paramref name="start"/> to <paramref name="destination"/> (the position is unchanged).</summary>
    public void CopyTo(Stream destination, long start, long count)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, _length);
        while (count > 0)
        {
            var offset = (int)(start % ChunkSize);
            var n = (int)Math.Min(ChunkSize - offset, count);
            destination.Write(_chunks[(int)(start / ChunkSize)].AsSpan(offset, n));
            start += n;
            count -= n;
        }
    }

    /// <summary>The byte at <paramref name="index"/>.</summary>
    public byte this[long index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _length);
            return _chunks[(int)(index / ChunkSize)][index % ChunkSize];
        }
    }

    /// <summary>Gives the chunks back to the pool.</summary>
    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            foreach (var chunk in _chunks)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            _chunks.Clear();
            _length = 0;
            _position = 0;
        }

        base.Dispose(disposing);
    }
}
