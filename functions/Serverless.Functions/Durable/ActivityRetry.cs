using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Durable;

/// <summary>Retry options shared by orchestrations.</summary>
public static class ActivityRetry
{
    /// <summary>
    /// Activities that read and write the document store and blobs (copies, delete cascades, exports): five attempts,
    /// 2 s apart at first and doubling up to a minute, which rides out throttling and a restarting store. Every such
    /// activity is idempotent, so a retry after a partial write only finishes it.
    /// </summary>
    public static readonly TaskOptions Store = new(new RetryPolicy(5, TimeSpan.FromSeconds(2), 2.0, TimeSpan.FromMinutes(1)));
}
