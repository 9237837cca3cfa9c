using System.Text;
using System.Text.Json.Nodes;
using Serverless.Core.Imports;

namespace Serverless.Functions.Tests.Imports;

/// <summary>The streaming reader over documents larger than its buffer, with elements across buffer boundaries.</summary>
public sealed class JsonArrayReaderTests
{
    [Fact]
    public async Task ReadAsync_ManyElementsAndOneLargerThanTheBuffer_YieldsEachInOrder()
    {
        // Arrange: 5,000 small elements, then one of ~200 KB (over the 64 KB initial buffer), then scalars and a skipped object.
        var big = new string('x', 200_000);
        var json = new StringBuilder("{\"format\":\"labels-json\",\"skipped\":{\"a\":[1,2,{\"b\":3}]},\"items\":[");
        for (var i = 0; i < 5000; i++)
        {
            json.Append(i == 0 ? string.Empty : ",").Append("{\"i\":").Append(i).Append(",\"s\":\"é-").Append(i).Append("\"}");
        }

        json.Append(",{\"i\":5000,\"s\":\"").Append(big).Append("\"}],\"version\":1}");
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json.ToString()));

        // Act
        var seen = new List<JsonArrayElement>();
        await foreach (var e in JsonArrayReader.ReadAsync(stream, new HashSet<string>(["items"], StringComparer.Ordinal)))
        {
            seen.Add(e);
        }

        // Assert
        var items = seen.Where(e => e.Property == "items").ToList();
        Assert.Equal(5001, items.Count);
        Assert.Equal(Enumerable.Range(0, 5001), items.Select(e => e.Index));
        Assert.Equal(Enumerable.Range(0, 5001), items.Select(e => e.Value!["i"]!.GetValue<int>()));
        Assert.Equal("é-4999", items[4999].Value!["s"]!.GetValue<string>());
        Assert.Equal(big.Length, items[5000].Value!["s"]!.GetValue<string>().Length);
        Assert.Equal("labels-json", seen.Single(e => e.Property == "format").Value!.GetValue<string>());
        Assert.Null(seen.Single(e => e.Property == "skipped").Value);
        Assert.Equal(1, seen.Single(e => e.Property == "version").Value!.GetValue<int>());
    }

    [Theory]
    [InlineData("{\"items\":[{\"a\":1},", "Not valid JSON near byte 17")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("{\"items\":{\"a\":1}}", "'items' must be an array")]
    [InlineData("{\"items\":[{\"a\":1}]} trailing", "Not valid JSON near byte 20")]
    [InlineData("{\"items\":[{\"a\":tru}]}", "Not valid JSON")]
    public async Task ReadAsync_BrokenDocument_ThrowsNamingTheProblem(string json, string expected)
    {
        // Arrange
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json));

        // Act
        var ex = await Assert.ThrowsAsync<ImportFormatException>(async () =>
        {
            await foreach (var _ in JsonArrayReader.ReadAsync(stream, new HashSet<string>(["items"], StringComparer.Ordinal)))
            {
            }
        });

        // Assert
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
