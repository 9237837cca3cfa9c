namespace Serverless.Functions.Recipes;

/// <summary>The upload went past the size cap; nothing was committed.</summary>
public sealed class UploadTooLargeException(long limit)
    : Exception($"The file is larger than the limit of {limit} bytes.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// A forward-only stream over an upload: first the bytes already read to sniff the header, then the
/// rest of the request body. It throws <see cref="UploadTooLargeException"/> as soon as more than
/// the limit has passed, so an oversized upload stops mid-way instead of being stored.
/// </summary>
public sealed class PdfUploadStream(ReadOnlyMemory<byte> head, Stream source, long limit) : Stream
{
    private ReadOnlyMemory<byte> _head = head;
    private long _total;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _total;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        if (!_head.IsEmpty)
        {
            read = Math.Min(buffer.Length, _head.Length);
            _head[..read].CopyTo(buffer);
            _head = _head[read..];
        }
        else
        {
            read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        _total += read;
        return _total > limit ? throw new UploadTooLargeException(limit) : read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
