using System.Text.Json;
using Serverless.Functions.CustomHandler;

namespace Serverless.Functions.Tests;

/// <summary>Payload values decoded whatever encoding the host used.</summary>
public sealed class TolerantJsonTests
{
    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    [InlineData("\"plain text\"", "plain text")]
    [InlineData("\"{\\\"a\\\":1}\"", "{\"a\":1}")]
    [InlineData("\"\\\"{\\\\\\\"a\\\\\\\":1}\\\"\"", "{\"a\":1}")]
    [InlineData("{\"a\":1}", "{\"a\":1}")]
    [InlineData("42", "42")]
    [InlineData("\"\\\"quoted twice\\\"\"", "quoted twice")]
    public void MessageText_AnyEncoding_TheMessageText(string json, string expected)
    {
        // Act
        var text = TolerantJson.MessageText(Parse(json));

        // Assert
        Assert.Equal(expected, text);
    }

    [Theory]
    [InlineData("3", 3L)]
    [InlineData("\"3\"", 3L)]
    [InlineData("\"\\\"3\\\"\"", 3L)]
    [InlineData("\"three\"", null)]
    public void WholeNumber_NumberOrString_Parsed(string json, long? expected)
    {
        // Act
        var number = TolerantJson.WholeNumber(Parse(json));

        // Assert
        Assert.Equal(expected, number);
    }

    [Fact]
    public void Objects_StringHoldingStringHoldingObject_TheObject()
    {
        // Arrange
        var inner = JsonSerializer.Serialize(JsonSerializer.Serialize(new { id = "e1" }));
        var value = Parse(JsonSerializer.Serialize(inner));

        // Act
        var objects = TolerantJson.Objects(value);

        // Assert
        Assert.Equal("e1", Assert.Single(objects).GetProperty("id").GetString());
    }

    [Fact]
    public void Objects_ArrayOfEvents_EachEvent()
    {
        // Act
        var objects = TolerantJson.Objects(Parse("[{\"id\":\"a\"},{\"id\":\"b\"}]"));

        // Assert
        Assert.Equal(["a", "b"], objects.Select(o => o.GetProperty("id").GetString()));
    }

    [Fact]
    public void Objects_PlainText_InvalidInvocation()
    {
        // Act
        var error = Assert.Throws<InvalidInvocationException>(() => TolerantJson.Objects(Parse("\"not json\"")));

        // Assert
        Assert.Contains("plain text", error.Message, StringComparison.Ordinal);
    }
}
