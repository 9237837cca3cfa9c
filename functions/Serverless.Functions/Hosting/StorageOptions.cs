namespace Serverless.Functions.Hosting;

/// <summary>Which document store to use (section <c>DocumentStore</c>; keys are fixed, see the README).</summary>
public sealed record DocumentStoreOptions
{
    public const string Section = "DocumentStore";

    /// <summary><c>Sqlite</c> (embedded default) or <c>Cosmos</c>.</summary>
    public string Provider { get; set; } = "Sqlite";

    /// <summary>The SQLite database file (Provider = Sqlite).</summary>
    public string? SqlitePath { get; set; } = ".data/platform.db";

    public string? CosmosEndpoint { get; set; }

    /// <summary>Account key; leave empty in Azure to use the managed identity.</summary>
    public string? CosmosKey { get; set; }

    /// <summary>A user-assigned identity's client id for Cosmos DB (used when there is no key); empty for the default chain.</summary>
    public string? CosmosManagedIdentityClientId { get; set; }

    public string? CosmosDatabase { get; set; }

    /// <summary><c>Direct</c> or <c>Gateway</c> (the local Cosmos server needs Gateway).</summary>
    public string? CosmosConnectionMode { get; set; }

    public bool IsSqlite => string.Equals(Provider, "Sqlite", StringComparison.OrdinalIgnoreCase);

    public bool IsCosmos => string.Equals(Provider, "Cosmos", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every problem with the settings, phrased with the configuration key to fix.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (IsSqlite)
        {
            if (string.IsNullOrWhiteSpace(SqlitePath))
            {
                errors.Add("DocumentStore:SqlitePath is required when DocumentStore:Provider is Sqlite.");
            }
        }
        else if (IsCosmos)
        {
            if (!Uri.TryCreate(CosmosEndpoint, UriKind.Absolute, out _))
            {
                errors.Add("DocumentStore:CosmosEndpoint must be an absolute URL when DocumentStore:Provider is Cosmos.");
            }

            if (string.IsNullOrWhiteSpace(CosmosDatabase))
            {
                errors.Add("DocumentStore:CosmosDatabase is required when DocumentStore:Provider is Cosmos.");
            }

            if (CosmosConnectionMode is { Length: > 0 } connectionMode
                && !connectionMode.Equals("Direct", StringComparison.OrdinalIgnoreCase)
                && !connectionMode.Equals("Gateway", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"DocumentStore:CosmosConnectionMode is '{connectionMode}'; use Direct or Gateway.");
            }
        }
        else
        {
            errors.Add($"DocumentStore:Provider is '{Provider}'; use Sqlite or Cosmos.");
        }

        return errors;
    }
}

/// <summary>
/// Blob and queue storage (section <c>Storage</c>): a Shared Key connection string (Azurite, or an
/// account with keys) or, in Azure, the service endpoints reached with a managed identity.
/// </summary>
public sealed record StorageOptions
{
    public const string Section = "Storage";

    public string? ConnectionString { get; set; }

    public string? BlobEndpoint { get; set; }

    public string? QueueEndpoint { get; set; }

    /// <summary>A user-assigned identity's client id; empty for the system-assigned one.</summary>
    public string? ManagedIdentityClientId { get; set; }

    public bool UsesConnectionString => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>Every problem with the settings, phrased with the configuration key to fix.</summary>
    public IReadOnlyList<string> Validate()
    {
        if (UsesConnectionString)
        {
            return [];
        }

        var errors = new List<string>();
        if (!Uri.TryCreate(BlobEndpoint, UriKind.Absolute, out _))
        {
            errors.Add("Storage:BlobEndpoint must be an absolute URL when Storage:ConnectionString is not set.");
        }

        if (!Uri.TryCreate(QueueEndpoint, UriKind.Absolute, out _))
        {
            errors.Add("Storage:QueueEndpoint must be an absolute URL when Storage:ConnectionString is not set.");
        }

        if (errors.Count == 2)
        {
            errors.Insert(0, "Storage is not configured: set Storage:ConnectionString (Azurite or Shared Key) or Storage:BlobEndpoint and Storage:QueueEndpoint (managed identity).");
        }

        return errors;
    }
}
