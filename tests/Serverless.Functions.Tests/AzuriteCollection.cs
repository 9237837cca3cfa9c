using Serverless.Testing;

namespace Serverless.Functions.Tests;

/// <summary>One Azurite for every test of this assembly that needs it (xunit finds definitions per assembly).</summary>
[CollectionDefinition(AzuriteFixture.Collection)]
public sealed class AzuriteCollectionDefinition : ICollectionFixture<AzuriteFixture>;
