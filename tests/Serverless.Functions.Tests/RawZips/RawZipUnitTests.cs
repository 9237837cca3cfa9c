using System.IO.Compression;
using Serverless.Core.Exports.Zip;
using Serverless.Functions.RawZips;
using Serverless.Testing;

namespace Serverless.Functions.Tests.RawZips;

/// <summary>The pieces of the raw zip: entry names from item paths, the download's file name, block staging on Azurite.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class RawZipUnitTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("/../../etc/passwd", "etc/passwd")]
    [InlineData("/a/./b/../c.txt", "a/b/c.txt")]
    [InlineData("C:\\windows\\win.ini", "windows/win.ini")]
    [InlineData("//server/share/x.png", "server/share/x.png")]
    [InlineData("/ok/name.png", "ok/name.png")]
    public async Task EntryName_HostilePath_WrittenRelativeWithoutDotSegments(string itemPath, string expected)
    {
        // Arrange: paths the item API refuses, as a document imported some other way could still hold them.
        using var output = new MemoryStream();
        var writer = new ZipStreamWriter(output);

        // Act
        var entry = await writer.AddEntryAsync(RawZipBuilder.RequestedEntryName(itemPath), new MemoryStream([1, 2, 3]));
        await writer.CompleteAsync();
        output.Position = 0;
        using var archive = new ZipArchive(output, ZipArchiveMode.Read);

        // Assert
        Assert.Equal(expected, entry.Name);
        Assert.Equal(expected, Assert.Single(archive.Entries).FullName);
    }

    [Fact]
    public async Task EntryName_UnderRejectPolicy_HostilePathRefused()
    {
        // Arrange
        var writer = new ZipStreamWriter(new MemoryStream(), new ZipWriterOptions(NamePolicy: ZipNamePolicy.Reject));

        // Act
        var error = await Assert.ThrowsAsync<ZipEntryNameException>(() => writer.AddEntryAsync(RawZipBuilder.RequestedEntryName("/../x"), new MemoryStream([1])));

        // Assert
        Assert.Contains("'..'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cats", "cats.zip")]
    [InlineData("a/b:c", "a_b_c.zip")]
    [InlineData("...", "dataset.zip")]
    public void ZipFileName_DatasetName_SafeFileName(string datasetName, string expected) =>
        Assert.Equal(expected, RawZipsApi.ZipFileName(datasetName));

    [Fact]
    public async Task BlockStagingStream_BeforeCommit_BlobAbsent_AfterCommit_ExactBytes()
    {
        // Arrange
        var blobs = azurite.BlobStore;
        var container = "staging-" + Guid.NewGuid().ToString("N")[..8];
        await blobs.CreateContainerIfNotExistsAsync(container);
        var bytes = new byte[(64 * 1024 * 5) / 2];
        Random.Shared.NextBytes(bytes);
        var stream = new BlockStagingStream(blobs, container, "z.zip", 64 * 1024, Guid.NewGuid().ToString("N"));

        // Act
        await stream.WriteAsync(bytes.AsMemory(0, 1000));
        await stream.WriteAsync(bytes.AsMemory(1000));
        var before = await blobs.GetPropertiesAsync(container, "z.zip");
        var committed = await stream.CommitAsync(null, CancellationToken.None);
        await using var download = await blobs.DownloadAsync(container, "z.zip");
        using var read = new MemoryStream();
        await download.Content.CopyToAsync(read);

        // Assert
        Assert.Null(before);
        Assert.Equal(3, stream.BlockCount);
        Assert.Equal(bytes.Length, committed.Length);
        Assert.Equal(bytes, read.ToArray());
    }
}
