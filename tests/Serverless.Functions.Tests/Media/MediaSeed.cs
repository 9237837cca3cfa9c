using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Filters;
using Serverless.Core.Items;
using Serverless.Functions.Identity;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Identity;

namespace Serverless.Functions.Tests.Media;

/// <summary>Seeds video item records for tests that run without Azurite.</summary>
public static class MediaSeed
{
    /// <summary>A video item record whose conversion is pending (no blob is written; no conversion is started).</summary>
    public static async Task<string> CreateVideoItemAsync(IdentityApp app, string projectId, string datasetId)
    {
        ArgumentNullException.ThrowIfNull(app);
        var now = StoredTimestamp.Format(DateTimeOffset.UtcNow);
        var system = new JsonObject { ["mimetype"] = "video/mp4", ["video"] = new JsonObject { ["state"] = "pending" } };
        var item = new Item(Ids.New("i"), projectId, datasetId, "clip.mp4", ItemPath.Root, "/clip.mp4", "video", 2, false, [], new() { ["system"] = system, ["user"] = new JsonObject() }, "seed", now, now);
        var errors = await app.Factory.Services.GetRequiredService<ItemStore>().WriteAsync(datasetId, [new NewItem(item, ItemStore.BlobName(projectId, datasetId, item.Id))], CancellationToken.None);
        Assert.Null(errors[0]);
        return item.Id;
    }
}
