using Serverless.Core.Storage.Blobs;

namespace Serverless.Functions.RawZips;

/// <summary>
/// A write-only stream that stages what is written as blocks of one block blob and commits them only in
/// <see cref="CommitAsync"/>: until then readers see the blob as it was (or absent), so a build that fails
/// half-way publishes nothing. Up to <see cref="MaxInFlight"/> blocks are staged while the next fills, so
/// reading the sources and uploading overlap.
/// </summary>
/// <remarks>
/// Block ids carry a per-attempt prefix: a retried build stages fresh blocks and commits only its own list;
/// blocks a failed attempt left uncommitted are discarded by the service on the next commit (or after a week).
/// Azure requires every block id of a blob to have the same length, which the fixed format guarantees.
/// </remarks>
public sealed class BlockStagingStream : Stream
{
    private readonly IBlobStore _blobs;
    private readonly string _container;
    private readonly string _name;
    private readonly string _attempt;
    /// <summary>Blocks being staged at once (each holds one block-sized buffer).</summary>
    public const int MaxInFlight = 3;

    private readonly List<string> _blockIds = [];
    private readonly Queue<(Task Staging, byte[] Buffer)> _inFlight = new();
    private readonly Stack<byte[]> _free = new();
    private readonly int _blockSize;
    private byte[] _filling;
    private int _filled;
    private long _length;
    private bool _committed;

    /// <param name="blobs">The store.</param>
    /// <param name="container">The blob's container.</param>
    /// <param name="name">The blob's name.</param>
    /// <param name="blockSize">Bytes per staged block.</param>
    /// <param name="attempt">32 hex characters unique to this build attempt.</param>
    public BlockStagingStream(IBlobStore blobs, string container, string name, int blockSize, string attempt)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        if (attempt is not { Length: 32 })
        {
            throw new ArgumentException("The attempt id must be 32 characters.", nameof(attempt));
        }

        (_blobs, _container, _name, _attempt, _blockSize) = (blobs, container, name, attempt, blockSize);
        _filling = new byte[blockSize];
    }

    /// <summary>Blocks staged so far.</summary>
    public int BlockCount => _blockIds.Count;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => !_committed;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    /// <summary>Stages the last partial block and commits every block, in order, as the blob's content.</summary>
    public async Task<BlobProperties> CommitAsync(BlobUploadOptions? options, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        if (_filled > 0)
        {
            await StageFilledAsync(cancellationToken);
        }

        while (_inFlight.Count > 0)
        {
            await _inFlight.Dequeue().Staging;
        }

        var properties = await _blobs.CommitBlocksAsync(_container, _name, _blockIds, options, cancellationToken);
        _committed = true;
        return properties;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        while (buffer.Length > 0)
        {
            var take = Math.Min(buffer.Length, _filling.Length - _filled);
            buffer.Span[..take].CopyTo(_filling.AsSpan(_filled));
            _filled += take;
            _length += take;
            buffer = buffer[take..];
            if (_filled == _filling.Length)
            {
                await StageFilledAsync(cancellationToken);
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <remarks>Synchronous callers (a compression stream's final flush) are served by blocking on the async path.</remarks>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
        // Blocks are staged when full; the rest waits for CommitAsync.
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>The id of block <paramref name="index"/> of attempt <paramref name="attempt"/> (base64 of a fixed-length text).</summary>
    public static string BlockId(string attempt, int index) =>
        Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"{attempt}-{index:D6}"));

    private async Task StageFilledAsync(CancellationToken cancellationToken)
    {
        // Send this block in the background; when MaxInFlight are under way, wait for the oldest and reuse its buffer.
        var id = BlockId(_attempt, _blockIds.Count);
        _blockIds.Add(id);
        var content = new MemoryStream(_filling, 0, _filled, writable: false);
        _inFlight.Enqueue((StageAsync(id, content, cancellationToken), _filling));
        if (_inFlight.Count >= MaxInFlight)
        {
            var (staging, buffer) = _inFlight.Dequeue();
            await staging;
            _free.Push(buffer);
        }

        _filling = _free.Count > 0 ? _free.Pop() : new byte[_blockSize];
        _filled = 0;
    }

    private async Task StageAsync(string id, MemoryStream content, CancellationToken cancellationToken)
    {
        await using (content)
        {
            await _blobs.StageBlockAsync(_container, _name, id, content, cancellationToken);
        }
    }
}
