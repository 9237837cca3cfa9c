using Serverless.Storage.Cosmos;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>One npm Cosmos server for every Cosmos test class in this assembly.</summary>
[CollectionDefinition(Name)]
public sealed class CosmosServer : ICollectionFixture<CosmosServerFixture>
{
    public const string Name = "cosmos-server";

    /// <summary>Store options for the fixture's server, in a database of the test's own.</summary>
    public static CosmosDocumentStoreOptions Options(CosmosServerFixture server, string database = "testdb") => new()
    {
        Endpoint = server.Endpoint,
        Key = CosmosServerFixture.EmulatorKey,
        DatabaseName = database,
        ConnectionMode = CosmosConnectionMode.Gateway,
        AcceptAnyServerCertificate = true,
    };

    /// <summary>A fresh container name, so tests sharing the in-memory server never see each other's data.</summary>
    public static string NewContainerName() => "c-" + Guid.NewGuid().ToString("N")[..16];
}
