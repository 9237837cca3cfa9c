using System.Text;
using System.Text.Json;
using Serverless.Functions.Items;

namespace Serverless.Functions.Tests.Items;

/// <summary>
/// The bulk request reader reads what the model binder read (web defaults) and stores content and metadata byte for
/// byte as the serializer wrote the bound nodes.
/// </summary>
public sealed class BulkItemsReaderTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>Values as sent: escapes, characters the default encoder escapes, number spellings, repeated names, nesting.</summary>
    public static TheoryData<string> Values => new()
    {
        "\"plain\"", "\"<b>hi</b> & 'q'\"", "\"\\u00e9t\\u00e9 caf\u00e9 \\\"q\\\" \\\\ \\n\\t\\/\"", "\"\\ud83d\\ude00 \ud83d\ude00\"", "\"\"",
        "0", "-17", "1.50", "1.50e3", "2.5E-3", "-0.0", "123456789012345678901234567890", "true", "false",
        "{}", "[]", "[1, \"x\", null, true, {\"a\": [ ]}]", "{\"a\": 1, \"a\": 2, \"B\": {\"c\": [1.0, {\"d\": null}]}}", "{\"\\u00e9\": \"\\u00fc\", \"<k>\": \"v\"}",
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void ReadEntries_AnyValue_SameBytesAsTheSerializerWroteTheBoundNodes(string value)
    {
        // Arrange
        var body = Encoding.UTF8.GetBytes($"{{\"items\": [{{\"path\": \"/a.json\", \"content\": {value}, \"metadata\": {{\"m\": {value}}}}}]}}");
        var bound = JsonSerializer.Deserialize<BulkItemsRequest>(body, Web)!.Items![0]!;

        // Act
        var entry = Read(body).Single();

        // Assert
        Assert.Null(entry.Error);
        Assert.Equal("/a.json", entry.Path);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(bound.Content), entry.Content);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(bound.Metadata), entry.Metadata);
    }

    [Fact]
    public void ReadEntries_InvalidUtf8InAString_ReplacedAsTheSerializerReplacedIt()
    {
        // Arrange: a lone 0xFF byte inside a content string.
        byte[] body = [.. "{\"items\": [{\"path\": \"/a.json\", \"content\": {\"t\": \""u8.ToArray(), 0xFF, .. "\"}}]}"u8.ToArray()];
        var bound = JsonSerializer.Deserialize<BulkItemsRequest>(body, Web)!.Items![0]!;

        // Act
        var entry = Read(body).Single();

        // Assert
        Assert.Null(entry.Error);
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(bound.Content), entry.Content);
        Assert.Equal("{\"t\":\"\\uFFFD\"}", Encoding.UTF8.GetString(entry.Content!));
    }

    [Fact]
    public void ReadEntries_NamesInAnyCaseUnknownOnesAndRepeats_ReadAsTheBinderDid()
    {
        // Arrange
        var body = """
            {"other": {"items": [9]}, "ITEMS": [
              {"Path": "/first.json", "path": "/second.json", "CONTENT": 1, "Content": {"x": 2}, "extra": [{"path": "/no"}]},
              {"p\u0061th": "/escaped.json", "content": null, "metadata": null},
              null
            ]}
            """u8.ToArray();
        var bound = JsonSerializer.Deserialize<BulkItemsRequest>(body, Web)!.Items!;

        // Act
        var entries = Read(body);

        // Assert
        Assert.Equal(bound.Select(b => b?.Path), entries.Select(e => e.Path));
        Assert.Equal(bound.Select(b => b?.Content?.ToJsonString()), entries.Select(e => e.Content is null ? null : Encoding.UTF8.GetString(e.Content)));
        Assert.All(entries, e => Assert.Null(e.Metadata));
        Assert.All(entries, e => Assert.Null(e.Error));
    }

    [Fact]
    public void ReadEntries_WrongTypesOrInvalidText_ThatEntryFailsTheOthersRead()
    {
        // Arrange: an escaped lone surrogate in one content string (the binder refused the whole request for it).
        var body = """
            {"items": [1, "s", [], {"path": 5, "content": 1}, {"path": "/m.json", "content": 1, "metadata": [1]},
             {"path": "/bad.json", "content": {"t": "x\ud800y"}}, {"path": "/ok.json", "content": 2, "metadata": {"k": "v"}}]}
            """u8.ToArray();

        // Act
        var entries = Read(body);

        // Assert
        Assert.Equal(7, entries.Count);
        Assert.All(entries.Take(6), e => Assert.False(string.IsNullOrWhiteSpace(e.Error)));
        Assert.Contains("object", entries[0].Error, StringComparison.Ordinal);
        Assert.Contains("'path'", entries[3].Error, StringComparison.Ordinal);
        Assert.Contains("'metadata'", entries[4].Error, StringComparison.Ordinal);
        Assert.Contains("'content'", entries[5].Error, StringComparison.Ordinal);
        Assert.Null(entries[6].Error);
        Assert.Equal("/ok.json", entries[6].Path);
        Assert.Equal("{\"k\":\"v\"}", Encoding.UTF8.GetString(entries[6].Metadata!));
    }

    [Theory]
    [InlineData("", "body")]
    [InlineData("not json", "body")]
    [InlineData("[]", "body")]
    [InlineData("{\"items\": 5}", "items")]
    [InlineData("{\"items\": {}}", "items")]
    [InlineData("{\"items\": [1,]}", "body")]
    [InlineData("{\"items\": [1]} {}", "body")]
    [InlineData("{\"items\": [1] /* note */}", "body")]
    public void Inspect_UnreadableBody_NamesTheField(string body, string field)
    {
        var ex = Assert.Throws<BulkRequestException>(() => BulkItemsReader.Inspect(Encoding.UTF8.GetBytes(body)));
        Assert.Equal(field, ex.Field);
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }

    [Fact]
    public void Inspect_DeeperThanTheBinderReads_Refused()
    {
        var body = $"{{\"items\": [{{\"path\": \"/a\", \"content\": {new string('[', 70)}{new string(']', 70)}}}]}}";
        Assert.Equal("body", Assert.Throws<BulkRequestException>(() => BulkItemsReader.Inspect(Encoding.UTF8.GetBytes(body))).Field);
    }

    [Fact]
    public void ReadEntries_BodyAfterAByteOrderMark_Read()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. "{\"items\": [{\"path\": \"/a.json\", \"content\": 1}]}"u8.ToArray()];
        Assert.Equal("/a.json", Read(body).Single().Path);
    }

    [Theory]
    [InlineData("{}", 0)]
    [InlineData("{\"items\": null}", 0)]
    [InlineData("{\"items\": [1, 2]}", 2)]
    [InlineData("{\"items\": [1, 2], \"items\": [[3], {\"a\": [4]}, null]}", 3)]
    public void Inspect_Entries_CountedAsTheLastItemsHoldsThem(string body, int count) =>
        Assert.Equal(count, BulkItemsReader.Inspect(Encoding.UTF8.GetBytes(body)).Count);

    private static List<BulkEntry> Read(byte[] body)
    {
        var entries = new List<BulkEntry>();
        BulkItemsReader.ReadEntries(body, BulkItemsReader.Inspect(body), (index, entry) =>
        {
            Assert.Equal(entries.Count, index);
            entries.Add(entry);
        });
        return entries;
    }
}
