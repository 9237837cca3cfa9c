using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Tests.Storage;

public sealed class DocumentRulesTests
{
    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("a?b")]
    [InlineData("a#b")]
    [InlineData("a\u0001b")]
    public void ValidateKey_ForbiddenCharacterOrEmpty_Throws(string key)
    {
        var error = Assert.Throws<InvalidDocumentException>(() => DocumentRules.ValidateKey(key, "document id"));

        Assert.Contains("document id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateKey_TooLong_ThrowsNamingTheLimit()
    {
        var error = Assert.Throws<InvalidDocumentException>(() => DocumentRules.ValidateKey(new string('x', 256), "document id"));

        Assert.Contains("255", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("item-1")]
    [InlineData("project:42|dataset:7")]
    [InlineData("Ünïcödé 名前")]
    public void ValidateKey_OrdinaryKeys_Pass(string key) => DocumentRules.ValidateKey(key, "document id");

    [Theory]
    [InlineData("ab")]
    [InlineData("Items")]
    [InlineData("1items")]
    [InlineData("items_x")]
    public void ValidateContainerName_Invalid_Throws(string name) =>
        Assert.Throws<InvalidDocumentException>(() => DocumentRules.ValidateContainerName(name));

    [Theory]
    [InlineData("")]
    [InlineData("a..b")]
    [InlineData("a.")]
    [InlineData("1a")]
    [InlineData("a['x']")]
    [InlineData("a b")]
    public void ValidatePath_Invalid_ThrowsWithPath(string path)
    {
        var error = Assert.Throws<InvalidQueryException>(() => DocumentRules.ValidatePath(path));

        Assert.Equal(path, error.Path);
    }

    [Fact]
    public void Serialize_SetsSystemFields()
    {
        var body = new JsonObject { ["name"] = "cat.png" };

        var bytes = DocumentRules.Serialize("p1", "d1", body);

        var parsed = JsonNode.Parse(bytes)!.AsObject();
        Assert.Equal("d1", (string?)parsed["id"]);
        Assert.Equal("p1", (string?)parsed["pk"]);
        Assert.Equal("cat.png", (string?)parsed["name"]);
    }

    [Fact]
    public void Serialize_OverTwoMegabytes_Throws()
    {
        var body = new JsonObject { ["blob"] = new string('x', DocumentLimits.MaxDocumentBytes) };

        var error = Assert.Throws<InvalidDocumentException>(() => DocumentRules.Serialize("p", "d", body));

        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }
}
