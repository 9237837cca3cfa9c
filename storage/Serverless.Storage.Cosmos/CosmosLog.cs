using Microsoft.Extensions.Logging;

namespace Serverless.Storage.Cosmos;

/// <summary>Source-generated log messages with stable event ids.</summary>
internal static partial class CosmosLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "Cosmos {Operation} on {Container} partition {PartitionKey} id {Id} cost {RequestCharge} RU")]
    public static partial void RequestCharge(ILogger logger, string operation, string container, string partitionKey, string id, double requestCharge);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Cosmos DB ping failed")]
    public static partial void PingFailed(ILogger logger, Exception exception);
}
