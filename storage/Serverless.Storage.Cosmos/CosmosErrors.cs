using System.Net;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Cosmos;

/// <summary>Translates Cosmos DB status codes into the port's typed exceptions.</summary>
internal static class CosmosErrors
{
    public static DocumentStoreException Map(HttpStatusCode status, string? message, string container, string partitionKey, string id, Exception? inner = null) =>
        (int)status switch
        {
            404 => new DocumentNotFoundException(container, partitionKey, id),
            409 => new DocumentConflictException(container, partitionKey, id),
            412 => new DocumentPreconditionFailedException(container, partitionKey, id),
            413 => new InvalidDocumentException($"Document '{id}' is too large for Cosmos DB: {Short(message)}"),
            400 => new InvalidDocumentException($"Cosmos DB rejected the request for '{id}' in container '{container}': {Short(message)}"),
            _ => new DocumentStoreUnavailableException($"Cosmos DB answered {(int)status} ({status}) for '{id}' in container '{container}': {Short(message)}", inner),
        };

    /// <summary>Network failures and SDK timeouts (a cancellation the caller did not ask for).</summary>
    public static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException or TimeoutException ||
        (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static string Short(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return "no details";
        }

        var firstLine = message.Split('\n', 2)[0].Trim();
        return firstLine.Length > 300 ? firstLine[..300] : firstLine;
    }
}
