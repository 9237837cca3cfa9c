using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tests.Activity;

public sealed class ActivityLogTests
{
    [Fact]
    public void RawBody_IsTheEventWithItsPartitionKey_AsTheStoreChecksIt()
    {
        var e = new ActivityEvent("b0123.i_1", "p1", ActivityKinds.StatusSet, "u \"quoted\" é", "key:k1", "2026-12-04T03:00:00.000Z",
            TaskId: "t1", Stage: "annotation", ItemId: "i_1", Data: new JsonObject { ["status"] = "DONE", ["batch"] = true });

        var raw = ActivityLog.RawBody("project:p1", e);

        DocumentRules.ValidateRaw("project:p1", e.Id, raw);
        var stored = JsonNode.Parse(raw)!.AsObject();
        Assert.Equal("project:p1", (string?)stored["pk"]);
        Assert.Equal(e.Id, (string?)stored["id"]);
        var back = stored.Deserialize<ActivityEvent>(DocumentJson.Options)!;
        Assert.Equal(e with { Data = null }, back with { Data = null });
        Assert.True(JsonNode.DeepEquals(e.Data, back.Data));
    }
}
