namespace Serverless.Core.Exports.Zip;

/// <summary>How an entry's bytes are stored.</summary>
public enum ZipCompression
{
    /// <summary>Stored for already-compressed media (by file extension), deflate otherwise.</summary>
    Auto,

    /// <summary>No compression (method 0).</summary>
    Stored,

    /// <summary>Deflate (method 8), fastest level: throughput matters more than the last percent.</summary>
    Deflate,
}

/// <summary>What to do with an entry name that is unsafe to extract.</summary>
public enum ZipNamePolicy
{
    /// <summary>Rewrite it (drop <c>..</c>, roots and drive letters; replace backslashes and control characters).</summary>
    Sanitize,

    /// <summary>Refuse it with <see cref="ZipEntryNameException"/>.</summary>
    Reject,
}

/// <summary>Limits and defaults of one archive.</summary>
/// <param name="MaxEntries">More entries fail with <see cref="ZipLimitExceededException"/>.</param>
/// <param name="MaxTotalBytes">More uncompressed bytes in all entries fail with <see cref="ZipLimitExceededException"/>.</param>
/// <param name="NamePolicy">Sanitize or reject unsafe names; duplicates are always made unique.</param>
/// <param name="DefaultLastModified">Entries' time when they give none; a fixed default keeps output reproducible.</param>
public sealed record ZipWriterOptions(
    int MaxEntries = 200_000,
    long MaxTotalBytes = 256L * 1024 * 1024 * 1024,
    ZipNamePolicy NamePolicy = ZipNamePolicy.Sanitize,
    DateTimeOffset? DefaultLastModified = null);

/// <summary>Options of one entry.</summary>
/// <param name="Compression">Stored, deflate, or chosen by extension.</param>
/// <param name="LastModified">The entry's time (DOS precision: 2 seconds, 1980–2107).</param>
/// <param name="ExpectedLength">
/// The content's length when the stream cannot tell (e.g. a blob's length from its properties). Unknown
/// lengths get ZIP64 local headers, so a 5 GB entry never meets a 32-bit field.
/// </param>
public sealed record ZipEntryOptions(
    ZipCompression Compression = ZipCompression.Auto,
    DateTimeOffset? LastModified = null,
    long? ExpectedLength = null);

/// <summary>One written entry.</summary>
/// <param name="Name">The name as written (sanitized and made unique).</param>
/// <param name="Compression">Stored or Deflate: what was actually used.</param>
/// <param name="Crc32">CRC-32 of the uncompressed bytes.</param>
/// <param name="Length">Uncompressed bytes.</param>
/// <param name="CompressedLength">Bytes in the archive.</param>
public sealed record ZipEntryResult(string Name, ZipCompression Compression, uint Crc32, long Length, long CompressedLength);

/// <summary>A finished archive.</summary>
/// <param name="Entries">Entries written.</param>
/// <param name="TotalBytes">Uncompressed bytes of all entries.</param>
/// <param name="ArchiveBytes">Bytes written to the output.</param>
/// <param name="Zip64">Whether ZIP64 end records were needed.</param>
public sealed record ZipSummary(int Entries, long TotalBytes, long ArchiveBytes, bool Zip64);

/// <summary>Base of the ZIP writer's typed errors; the archive written so far must be discarded.</summary>
public class ZipWriterException(string message) : Exception(message);

/// <summary>An entry name that cannot be written (rejected by policy, empty after sanitizing, too long).</summary>
public sealed class ZipEntryNameException(string name, string reason)
    : ZipWriterException($"Zip entry name '{name}' is refused: {reason}.")
{
    public string EntryName { get; } = name;

    public string Reason { get; } = reason;
}

/// <summary>Which cap was hit.</summary>
public enum ZipLimit
{
    Entries,
    TotalBytes,
}

/// <summary>The archive would exceed a cap of <see cref="ZipWriterOptions"/>.</summary>
public sealed class ZipLimitExceededException(ZipLimit limit, long max)
    : ZipWriterException($"The zip exceeds its cap of {max} {(limit == ZipLimit.Entries ? "entries" : "bytes")}.")
{
    public ZipLimit Limit { get; } = limit;

    public long Max { get; } = max;
}
