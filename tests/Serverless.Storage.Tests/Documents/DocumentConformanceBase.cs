using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Tests.Documents;

/// <summary>
/// Shared plumbing of the document-store conformance suites: each adapter derives and says how to
/// open a store; every test gets a fresh container so tests never see each other's documents.
/// </summary>
public abstract class DocumentConformanceBase : IAsyncLifetime
{
    private readonly List<IDocumentStore> _stores = [];

    /// <summary>Opens a store on the adapter under test (a real database, not a fake).</summary>
    protected abstract Task<IDocumentStore> CreateStoreAsync();

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    protected async Task<IDocumentContainer> NewContainerAsync(params string[] indexedPaths)
    {
        var store = await CreateStoreAsync();
        _stores.Add(store);
        var name = "c" + Guid.NewGuid().ToString("N")[..12];
        await store.EnsureContainerAsync(new ContainerSpec(name, indexedPaths));
        return store.Container(name);
    }

    protected static JsonObject Json(string json) => JsonNode.Parse(json)!.AsObject();

    protected static async Task<List<StoredDocument>> QueryAllAsync(IDocumentContainer container, DocumentQuery query)
    {
        var all = new List<StoredDocument>();
        var page = await container.QueryAsync(query);
        all.AddRange(page.Items);
        while (page.ContinuationToken is not null)
        {
            page = await container.QueryAsync(query with { ContinuationToken = page.ContinuationToken });
            all.AddRange(page.Items);
        }

        return all;
    }
}
