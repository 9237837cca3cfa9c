using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;
using Serverless.Functions.Items;
using Serverless.Functions.Tests.Datasets;
using Serverless.Functions.Tests.Identity;
using Serverless.Testing;

namespace Serverless.Functions.Tests.Items;

/// <summary>Path claims: ids derived from paths, and datasets that still hold the hashed claims of earlier versions.</summary>
[Collection(AzuriteFixture.Collection)]
public sealed class PathClaimTests(AzuriteFixture azurite, ItemsApp shared) : IClassFixture<ItemsApp>
{
    private readonly ItemsApp _app = shared.Start(azurite.ConnectionString);

    [Fact]
    public void Id_PathsThatEscapeAlike_StayDistinctValidIds()
    {
        string[] paths = ["/a/b", "/a%2Fb", "/a%252Fb", "/a\\b", "/a%5Cb", "/q?.txt", "/h#.txt", "/a/b "];

        var ids = paths.Select(PathClaims.Id).ToList();

        Assert.Equal(paths.Length, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => DocumentRules.ValidateKey(id, "claim id"));
        Assert.All(ids, id => Assert.StartsWith("p:", id, StringComparison.Ordinal));
        Assert.Equal("p:%2Ffolder%2Fimg 1.jpg", PathClaims.Id("/folder/img 1.jpg"));
    }

    [Fact]
    public void Id_PathTooLongForAnId_TakesTheHashedForm()
    {
        var path = "/" + new string('d', 200) + "/" + new string('n', 60);

        var id = PathClaims.Id(path);

        Assert.Equal(PathClaims.LegacyId(path), id);
        DocumentRules.ValidateKey(id, "claim id");
    }

    [Fact]
    public async Task LegacyDataset_HashedClaim_KeepsItsPathTakenUntilTheItemIsDeleted()
    {
        // Arrange: an item whose claim is in the hashed form an earlier version wrote.
        var scene = await _app.SceneAsync("legacyclaim");
        using var client = _app.Client(scene.Owner.Key);
        Item item;
        using (var put = await ItemTests.PutAsync(client, scene, "/old/a.txt", "old"u8.ToArray(), null))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            item = (await put.Content.ReadFromJsonAsync<Item>(IdentityApp.Json))!;
        }

        var items = _app.Factory.Services.GetRequiredService<IDocumentStore>().Container(DatasetContainers.Items);
        var partition = DatasetContainers.ItemPartition(scene.DatasetId);
        var claim = (await items.ReadAsync(partition, PathClaims.Id("/old/a.txt")))!;
        await items.DeleteAsync(partition, claim.Id);
        await items.CreateAsync(partition, PathClaims.LegacyId("/old/a.txt"), claim.Body);

        // Act
        var bulk = await BulkAsync(client, scene, "/old/a.txt", "/old/b.txt");
        using var upload = await ItemTests.PutAsync(client, scene, "/old/a.txt", "again"u8.ToArray(), null);
        using var delete = await client.DeleteAsync(new Uri($"{scene.Items}/{item.Id}", UriKind.Relative));
        var legacyLeft = await items.ReadAsync(partition, PathClaims.LegacyId("/old/a.txt"));
        var afterDelete = await BulkAsync(client, scene, "/old/a.txt");

        // Assert
        Assert.Equal([409, 201], bulk.Results.Select(r => r.Status));
        Assert.Equal(HttpStatusCode.Conflict, upload.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Null(legacyLeft);
        Assert.Equal([201], afterDelete.Results.Select(r => r.Status));
    }

    private static async Task<BulkItemsResponse> BulkAsync(HttpClient client, Scene scene, params string[] paths)
    {
        using var response = await client.PostAsJsonAsync(scene.Items + "/bulk", new { items = paths.Select(p => new { path = p, content = new { p } }) });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<BulkItemsResponse>(IdentityApp.Json))!;
    }
}
