using Serverless.Testing;

namespace Serverless.Storage.Tests.Azure;

/// <summary>One Azurite for every test class in the "azurite" collection of this assembly.</summary>
[CollectionDefinition(AzuriteFixture.Collection)]
public sealed class AzuriteCollectionDefinition : ICollectionFixture<AzuriteFixture>;
