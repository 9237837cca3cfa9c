using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;

namespace Serverless.Functions.Tests.Items;

/// <summary>The hand-written item document stays what the serializer would write.</summary>
public sealed class ItemBodyTests
{
    [Fact]
    public void ItemDocument_AnyItem_MatchesSerializerPlusStoredFields()
    {
        // Arrange
        var metadata = new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "image/png", ["width"] = 3 }, ["user"] = new JsonObject { ["k"] = new JsonArray(1, "x") } };
        var item = new Item("i_1", "p_1", "d_1", "a.png", "/f", "/f/a.png", "image", 42, true, ["t1", "t 2"], metadata, "u_1", "2026-01-01T00:00:00.0000000Z", "2026-01-02T00:00:00.0000000Z");
        var expected = JsonSerializer.SerializeToNode(item, DocumentJson.Options)!.AsObject();
        expected["kind"] = "item";
        expected["blob"] = "p_1/d_1/i_1";
        expected["status"] = new JsonObject();
        expected["inline"] = Convert.ToBase64String([1, 2, 3]);
        expected["pk"] = "dataset:d_1";

        // Act
        var bytes = ItemStore.ItemDocument(new NewItem(item, "p_1/d_1/i_1", [1, 2, 3]), "dataset:d_1");

        // Assert
        var body = JsonNode.Parse(bytes)!;
        Assert.True(JsonNode.DeepEquals(expected, body), $"{expected.ToJsonString()}\n{body.ToJsonString()}");
        DocumentRules.ValidateRaw("dataset:d_1", "i_1", bytes);
    }

    [Fact]
    public void ItemDocument_UserMetadataAsBytes_SameDocumentAsWithTheTree()
    {
        // Arrange
        var user = new JsonObject { ["k"] = new JsonArray(1, "x <y>"), ["n"] = 1.5 };
        var withTree = new Item("i_1", "p_1", "d_1", "a.json", "/f", "/f/a.json", "text", 2, false, [], new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "application/json" }, ["user"] = user }, "u_1", "t", "t");
        var withoutUser = withTree with { Metadata = new JsonObject { ["system"] = new JsonObject { ["mimetype"] = "application/json" } } };

        // Act
        var expected = ItemStore.ItemDocument(new NewItem(withTree, "b", [1, 2]), "dataset:d_1");
        var actual = ItemStore.ItemDocument(new NewItem(withoutUser, "b", [1, 2], JsonSerializer.SerializeToUtf8Bytes(user)), "dataset:d_1");

        // Assert
        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(actual));
    }
}
