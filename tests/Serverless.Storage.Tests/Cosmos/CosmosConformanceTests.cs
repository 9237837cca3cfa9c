using Serverless.Core.Storage.Documents;
using Serverless.Storage.Cosmos;
using Serverless.Storage.Tests.Documents;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Cosmos;

/// <summary>
/// The shared CRUD conformance suite, run through the real Cosmos SDK against the npm Cosmos server.
/// The query and batch suites are not derived here: the server cannot page queries, group, or run
/// transactional batches (see the README), so those parts of the adapter are covered by golden tests.
/// </summary>
[Collection(CosmosServer.Name)]
public sealed class CosmosDocumentCrudTests(CosmosServerFixture server) : DocumentCrudConformanceTests
{
    protected override Task<IDocumentStore> CreateStoreAsync() =>
        Task.FromResult<IDocumentStore>(new CosmosDocumentStore(CosmosServer.Options(server)));
}
