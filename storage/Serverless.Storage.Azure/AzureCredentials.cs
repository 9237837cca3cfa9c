using global::Azure.Core;
using global::Azure.Identity;

namespace Serverless.Storage.Azure;

/// <summary>Chooses the Entra ID credential when the options carry no account key.</summary>
internal static class AzureCredentials
{
    public static TokenCredential? For(AzureStorageOptions options) =>
        options.UsesSharedKey
            ? null
            : options.ManagedIdentityClientId is { Length: > 0 } clientId
                ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
                : new DefaultAzureCredential();
}
