using Serverless.Testing;

namespace Serverless.Durable.Tests.Storage;

/// <summary>One Azurite for every storage-backed durable test of this assembly.</summary>
[CollectionDefinition(AzuriteFixture.Collection)]
public sealed class AzuriteCollectionDefinition : ICollectionFixture<AzuriteFixture>;
