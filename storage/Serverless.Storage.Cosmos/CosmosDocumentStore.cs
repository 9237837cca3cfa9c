using System.Net;
using Azure.Core;
using Azure.Identity;
using Microsoft.Azure.Cosmos;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Cosmos;

/// <summary>The document store on Azure Cosmos DB for NoSQL (SDK v3), the production adapter.</summary>
/// <remarks>
/// <para>Every container is partitioned on <c>/pk</c>, a synthetic key the domain chooses per
/// document (<c>project:{id}</c>, <c>dataset:{id}</c>, ...) rather than a natural field. Two reasons:
/// hot queries (a project's tasks, a dataset's items) then name one partition and run
/// single-partition, which is cheap and needs no query plan; and the key can be split further
/// (<c>dataset:{id}:{shard}</c>) where one logical partition could approach Cosmos DB's 20 GB limit,
/// without changing the container.</para>
/// <para>The indexing policy indexes every path (the Cosmos default), so any filter is served by an
/// index; for each <see cref="ContainerSpec.IndexedPaths"/> entry it adds the composite indexes
/// (path ascending or descending, then <c>id</c> ascending) that sorting on that path with the id
/// tie-breaker needs. Sorting on other paths with
/// a tie-breaker needs such an index on real Cosmos DB.</para>
/// <para>Writes use the SDK's stream APIs so bodies are never re-serialized and failures come back
/// as status codes, which map to the port's typed exceptions. 429, 503 and timeouts surface as
/// <see cref="DocumentStoreUnavailableException"/> only after the SDK's own retries.</para>
/// </remarks>
public sealed class CosmosDocumentStore : IDocumentStore, IDisposable
{
    private readonly CosmosClient _client;
    private readonly HttpMessageHandler? _handler;
    private readonly ILogger _logger;
    private readonly CosmosDocumentStoreOptions _options;
    private readonly SemaphoreSlim _databaseLock = new(1, 1);
    private Database? _database;

    /// <summary>Creates the client; no request is sent until the first operation.</summary>
    public CosmosDocumentStore(CosmosDocumentStoreOptions options, ILogger<CosmosDocumentStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DatabaseName);
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        var clientOptions = new CosmosClientOptions
        {
            Serializer = new SystemTextJsonCosmosSerializer(),
            ConnectionMode = options.ConnectionMode == CosmosConnectionMode.Direct ? ConnectionMode.Direct : ConnectionMode.Gateway,
            ApplicationName = "serverless-annotation",
        };
        if (options.AcceptAnyServerCertificate)
        {
            // The local server has a self-signed certificate and advertises only itself as a region.
            _handler = new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
            };
            var handler = _handler;
            clientOptions.HttpClientFactory = () => new HttpClient(handler, disposeHandler: false);
            clientOptions.LimitToEndpoint = true;
        }

        var endpoint = options.Endpoint.ToString();
        _client = options.Key is { } key
            ? new CosmosClient(endpoint, key, clientOptions)
            : new CosmosClient(endpoint, Credential(options), clientOptions);
    }

    /// <inheritdoc />
    public async Task EnsureContainerAsync(ContainerSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        DocumentRules.ValidateContainerName(spec.Name);
        foreach (var path in spec.IndexedPaths)
        {
            DocumentRules.ValidatePath(path);
        }

        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var properties = new ContainerProperties(spec.Name, "/pk") { IndexingPolicy = IndexingPolicyFor(spec) };
        var response = await Guard(
            () => database.CreateContainerIfNotExistsAsync(properties, cancellationToken: cancellationToken),
            spec.Name, string.Empty, string.Empty, cancellationToken).ConfigureAwait(false);
        CosmosLog.RequestCharge(_logger, "EnsureContainer", spec.Name, string.Empty, string.Empty, response.RequestCharge);
    }

    /// <inheritdoc />
    public IDocumentContainer Container(string name)
    {
        DocumentRules.ValidateContainerName(name);
        return new CosmosDocumentContainer(_client.GetContainer(_options.DatabaseName, name), _logger);
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _client.ReadAccountAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is CosmosException or HttpRequestException or TimeoutException)
        {
            CosmosLog.PingFailed(_logger, ex);
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _client.Dispose();
        _handler?.Dispose();
        _databaseLock.Dispose();
    }

    internal static IndexingPolicy IndexingPolicyFor(ContainerSpec spec)
    {
        var policy = new IndexingPolicy { Automatic = true, IndexingMode = IndexingMode.Consistent };
        policy.IncludedPaths.Add(new IncludedPath { Path = "/*" });
        policy.ExcludedPaths.Add(new ExcludedPath { Path = "/\"_etag\"/?" });
        foreach (var path in spec.IndexedPaths.Where(p => p != "id"))
        {
            var cosmosPath = "/" + path.Replace('.', '/');
            policy.CompositeIndexes.Add(
            [
                new CompositePath { Path = cosmosPath, Order = CompositePathSortOrder.Ascending },
                new CompositePath { Path = "/id", Order = CompositePathSortOrder.Ascending },
            ]);
            policy.CompositeIndexes.Add(
            [
                new CompositePath { Path = cosmosPath, Order = CompositePathSortOrder.Descending },
                new CompositePath { Path = "/id", Order = CompositePathSortOrder.Ascending },
            ]);
        }

        return policy;
    }

    /// <summary>Runs an SDK call that throws, translating its errors like the stream calls' status codes.</summary>
    internal static async Task<T> Guard<T>(Func<Task<T>> call, string container, string partitionKey, string id, CancellationToken cancellationToken)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (CosmosException ex)
        {
            throw CosmosErrors.Map(ex.StatusCode, ex.Message, container, partitionKey, id, ex);
        }
        catch (Exception ex) when (CosmosErrors.IsTransient(ex, cancellationToken))
        {
            throw new DocumentStoreUnavailableException($"Cosmos DB did not answer for container '{container}': {ex.Message}", ex);
        }
    }

    private static TokenCredential Credential(CosmosDocumentStoreOptions options) =>
        options.ManagedIdentityClientId is { } clientId
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new DefaultAzureCredential();

    private async Task<Database> DatabaseAsync(CancellationToken cancellationToken)
    {
        if (_database is { } cached)
        {
            return cached;
        }

        await _databaseLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_database is null)
            {
                var response = await Guard(
                    () => _client.CreateDatabaseIfNotExistsAsync(_options.DatabaseName, cancellationToken: cancellationToken),
                    string.Empty, string.Empty, string.Empty, cancellationToken).ConfigureAwait(false);
                CosmosLog.RequestCharge(_logger, "EnsureDatabase", _options.DatabaseName, string.Empty, string.Empty, response.RequestCharge);
                _database = response.Database;
            }

            return _database;
        }
        finally
        {
            _databaseLock.Release();
        }
    }
}
