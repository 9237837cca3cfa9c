namespace Serverless.Browser.Tests;

/// <summary>One seeded platform and one browser for every test of this assembly (starting them is the slow part).</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollectionDefinition : ICollectionFixture<SeededPlatform>
{
    public const string Name = "browser";
}
