namespace Serverless.Storage.Cosmos;

/// <summary>How the SDK talks to the account.</summary>
public enum CosmosConnectionMode
{
    /// <summary>HTTPS through the gateway: one endpoint, works through firewalls and with the local server.</summary>
    Gateway,

    /// <summary>TCP straight to the replicas: lower latency in Azure.</summary>
    Direct,
}

/// <summary>Where the Cosmos DB account is and how to authenticate to it.</summary>
public sealed record CosmosDocumentStoreOptions
{
    /// <summary>The account endpoint, e.g. <c>https://myaccount.documents.azure.com:443/</c>.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>Account key; null authenticates with Entra ID (managed identity in Azure).</summary>
    public string? Key { get; init; }

    /// <summary>Client id of a user-assigned managed identity; used only when <see cref="Key"/> is null.
    /// When null too, <c>DefaultAzureCredential</c> picks the identity.</summary>
    public string? ManagedIdentityClientId { get; init; }

    /// <summary>The database holding every container; created on first use.</summary>
    public required string DatabaseName { get; init; }

    /// <summary>Gateway (default) or Direct.</summary>
    public CosmosConnectionMode ConnectionMode { get; init; } = CosmosConnectionMode.Gateway;

    /// <summary>Trusts any TLS certificate. Only for the local test server, which serves a self-signed one.</summary>
    public bool AcceptAnyServerCertificate { get; init; }
}
