using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Serverless.Core.Exports.Zip;

namespace Serverless.Core.Tests.Exports.Zip;

public sealed class ZipStreamWriterTests
{
    [Fact]
    public void Crc32_StandardCheckValue_Matches()
    {
        // Arrange
        var data = "123456789"u8;

        // Act
        var crc = Crc32.Update(0, data);

        // Assert
        Assert.Equal(0xCBF43926u, crc);
    }

    [Fact]
    public void Crc32_InPieces_EqualsInOneGo()
    {
        // Arrange
        var data = new byte[100_003];
        new Random(7).NextBytes(data);

        // Act
        var whole = Crc32.Update(0, data);
        var pieces = Crc32.Update(Crc32.Update(Crc32.Update(0, data.AsSpan(0, 5)), data.AsSpan(5, 50_000)), data.AsSpan(50_005));

        // Assert
        Assert.Equal(whole, pieces);
    }

    [Fact]
    public async Task AddEntryAsync_MixedEntriesToNonSeekableStream_RoundTripThroughZipArchive()
    {
        // Arrange
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("the quick brown fox ", 5000)));
        var random = new byte[300_000];
        new Random(1).NextBytes(random);
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(new NonSeekableStream(output));

        // Act
        var deflated = await writer.AddEntryAsync("docs/readme.txt", new MemoryStream(text));
        var stored = await writer.AddEntryAsync("media/photo.jpg", new NonSeekableStream(new MemoryStream(random)));
        var empty = await writer.AddEntryAsync("empty.bin", new MemoryStream(), new ZipEntryOptions(ZipCompression.Stored));
        var summary = await writer.CompleteAsync();

        // Assert
        Assert.Equal(ZipCompression.Deflate, deflated.Compression);
        Assert.True(deflated.CompressedLength < text.Length / 10);
        Assert.Equal(ZipCompression.Stored, stored.Compression);
        Assert.Equal(random.Length, stored.CompressedLength);
        Assert.Equal(new ZipSummary(3, text.Length + random.Length, output.Length, false), summary);
        output.Position = 0;
        using var archive = new ZipArchive(output, ZipArchiveMode.Read);
        Assert.Equal(["docs/readme.txt", "media/photo.jpg", "empty.bin"], archive.Entries.Select(e => e.FullName));
        Assert.Equal(text, await ReadAllAsync(archive.GetEntry("docs/readme.txt")!));
        Assert.Equal(random, await ReadAllAsync(archive.GetEntry("media/photo.jpg")!));
        Assert.Empty(await ReadAllAsync(archive.GetEntry("empty.bin")!));
        Assert.Equal(stored.Crc32, archive.GetEntry("media/photo.jpg")!.Crc32);
        Assert.Equal(Crc32.Update(0, text), archive.GetEntry("docs/readme.txt")!.Crc32);
    }

    [Fact]
    public async Task CompleteAsync_MoreThan65535Entries_WritesZip64EndRecordsReadableByZipArchive()
    {
        // Arrange
        const int count = 70_000;
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(new NonSeekableStream(output), new ZipWriterOptions(MaxEntries: count));
        for (var i = 0; i < count; i++)
        {
            await writer.AddEntryAsync($"f/{i}.txt", Stream.Null, new ZipEntryOptions(ZipCompression.Stored));
        }

        // Act
        var summary = await writer.CompleteAsync();

        // Assert: the end records, byte by byte, then a real reader.
        Assert.True(summary.Zip64);
        var bytes = output.ToArray();
        var end = bytes.AsSpan(bytes.Length - 22);
        Assert.Equal(0x06054b50u, BinaryPrimitives.ReadUInt32LittleEndian(end));
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16LittleEndian(end[10..]));
        var locator = bytes.AsSpan(bytes.Length - 22 - 20, 20);
        Assert.Equal(0x07064b50u, BinaryPrimitives.ReadUInt32LittleEndian(locator));
        var zip64EndOffset = (int)BinaryPrimitives.ReadUInt64LittleEndian(locator[8..]);
        Assert.Equal(bytes.Length - 22 - 20 - 56, zip64EndOffset);
        var zip64End = bytes.AsSpan(zip64EndOffset, 56);
        Assert.Equal(0x06064b50u, BinaryPrimitives.ReadUInt32LittleEndian(zip64End));
        Assert.Equal((ulong)count, BinaryPrimitives.ReadUInt64LittleEndian(zip64End[32..]));
        output.Position = 0;
        using var archive = new ZipArchive(output, ZipArchiveMode.Read);
        Assert.Equal(count, archive.Entries.Count);
        Assert.Equal("f/69999.txt", archive.Entries[^1].FullName);
    }

    [Fact]
    public async Task AddEntryAsync_UnknownLength_WritesZip64LocalHeaderAndDescriptor()
    {
        // Arrange
        var data = Encoding.UTF8.GetBytes("streamed without a known length");
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(output);

        // Act
        await writer.AddEntryAsync("s.txt", new NonSeekableStream(new MemoryStream(data)), new ZipEntryOptions(ZipCompression.Stored));
        await writer.CompleteAsync();

        // Assert: version 4.5, sizes 0xFFFFFFFF, a ZIP64 extra (id 1), a 24-byte descriptor; readable.
        var bytes = output.ToArray();
        Assert.Equal(45, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(uint.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(18)));
        Assert.Equal(20, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(28)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(30 + 5)));
        var descriptor = bytes.AsSpan(30 + 5 + 20 + data.Length);
        Assert.Equal(0x08074b50u, BinaryPrimitives.ReadUInt32LittleEndian(descriptor));
        Assert.Equal((ulong)data.Length, BinaryPrimitives.ReadUInt64LittleEndian(descriptor[16..]));
        output.Position = 0;
        using var archive = new ZipArchive(output, ZipArchiveMode.Read);
        Assert.Equal(data, await ReadAllAsync(archive.Entries.Single()));
    }

    [Theory]
    [InlineData("../../etc/passwd", "etc/passwd")]
    [InlineData("/absolute/path.txt", "absolute/path.txt")]
    [InlineData("C:\\Windows\\System32\\x.dll", "Windows/System32/x.dll")]
    [InlineData("dir\\sub\\file.txt", "dir/sub/file.txt")]
    [InlineData("a/./b/../c.txt", "a/b/c.txt")]
    [InlineData("bad\u0001name\n.txt", "bad_name_.txt")]
    [InlineData("file.txt:stream", "file.txt_stream")]
    [InlineData("trailing. /dots...", "trailing/dots")]
    [InlineData("ok/name.txt", "ok/name.txt")]
    [InlineData("données/été.jpg", "données/été.jpg")]
    public void Sanitize_HostileName_IsMadeSafe(string name, string expected)
    {
        // Act
        var safe = ZipEntryNames.Sanitize(name);

        // Assert
        Assert.Equal(expected, safe);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("/")]
    [InlineData("../..//./")]
    [InlineData("")]
    public void Sanitize_NothingLeft_ThrowsZipEntryNameException(string name)
    {
        // Act
        var error = Assert.Throws<ZipEntryNameException>(() => ZipEntryNames.Sanitize(name));

        // Assert
        Assert.Equal(name, error.EntryName);
    }

    [Theory]
    [InlineData("../x.txt", "'..'")]
    [InlineData("/x.txt", "absolute")]
    [InlineData("C:x.txt", "drive letter")]
    [InlineData("a\\b.txt", "backslashes")]
    [InlineData("a\u0007.txt", "control characters")]
    public void Sanitize_RejectPolicy_ThrowsWithReason(string name, string reasonPart)
    {
        // Act
        var error = Assert.Throws<ZipEntryNameException>(() => ZipEntryNames.Sanitize(name, ZipNamePolicy.Reject));

        // Assert
        Assert.Contains(reasonPart, error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddEntryAsync_HostileAndDuplicateNames_ExtractOnlyInsideTargetFolder()
    {
        // Arrange
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(output);
        string[] names = ["../evil.txt", "/etc/evil.txt", "C:\\evil.txt", "evil.txt", "EVIL.TXT", "sub/../evil.txt"];

        // Act
        var written = new List<string>();
        foreach (var name in names)
        {
            written.Add((await writer.AddEntryAsync(name, new MemoryStream("x"u8.ToArray()))).Name);
        }

        await writer.CompleteAsync();
        var target = Directory.CreateTempSubdirectory("zip-extract-");
        try
        {
            output.Position = 0;
            using (var archive = new ZipArchive(output, ZipArchiveMode.Read))
            {
                archive.ExtractToDirectory(target.FullName);
            }

            // Assert
            Assert.Equal(["evil.txt", "etc/evil.txt", "evil (2).txt", "evil (3).txt", "EVIL (4).TXT", "sub/evil.txt"], written);
            var extracted = Directory.GetFiles(target.FullName, "*", SearchOption.AllDirectories);
            Assert.Equal(6, extracted.Length);
            Assert.All(extracted, f => Assert.StartsWith(target.FullName + Path.DirectorySeparatorChar, Path.GetFullPath(f), StringComparison.Ordinal));
        }
        finally
        {
            target.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AddEntryAsync_OverEntryCap_ThrowsZipLimitExceeded()
    {
        // Arrange
        var writer = new ZipStreamWriter(Stream.Null, new ZipWriterOptions(MaxEntries: 2));
        await writer.AddEntryAsync("a", Stream.Null);
        await writer.AddEntryAsync("b", Stream.Null);

        // Act
        var error = await Assert.ThrowsAsync<ZipLimitExceededException>(() => writer.AddEntryAsync("c", Stream.Null));

        // Assert
        Assert.Equal(ZipLimit.Entries, error.Limit);
        Assert.Equal(2, error.Max);
    }

    [Fact]
    public async Task AddEntryAsync_OverByteCap_ThrowsZipLimitExceededAndRefusesFurtherWrites()
    {
        // Arrange
        var writer = new ZipStreamWriter(Stream.Null, new ZipWriterOptions(MaxTotalBytes: 1000));
        await writer.AddEntryAsync("small", new MemoryStream(new byte[600]));

        // Act
        var error = await Assert.ThrowsAsync<ZipLimitExceededException>(() => writer.AddEntryAsync("big", new MemoryStream(new byte[600])));
        var after = await Assert.ThrowsAsync<InvalidOperationException>(() => writer.CompleteAsync());

        // Assert
        Assert.Equal(ZipLimit.TotalBytes, error.Limit);
        Assert.Contains("discarded", after.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddEntryAsync_RejectPolicy_RefusesHostileNameAndKeepsArchiveUsable()
    {
        // Arrange
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(output, new ZipWriterOptions(NamePolicy: ZipNamePolicy.Reject));

        // Act
        await Assert.ThrowsAsync<ZipEntryNameException>(() => writer.AddEntryAsync("../x", Stream.Null));
        await writer.AddEntryAsync("fine.txt", new MemoryStream("ok"u8.ToArray()));
        await writer.CompleteAsync();

        // Assert
        output.Position = 0;
        using var archive = new ZipArchive(output, ZipArchiveMode.Read);
        Assert.Equal("fine.txt", archive.Entries.Single().FullName);
    }

    private static async Task<byte[]> ReadAllAsync(ZipArchiveEntry entry)
    {
        await using var stream = entry.Open();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }
}
