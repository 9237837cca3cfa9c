using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Tasks;

namespace Serverless.Functions.Analytics;

/// <summary>
/// Active time from client heartbeats. A session per (user, task, item) remembers the last report; a heartbeat or
/// stop adds the time since it, unless that gap exceeds <see cref="AnalyticsOptions.IdleGapSeconds"/> (the user was
/// idle; the heartbeat only restarts the clock); stop closes the session and a report on a closed session only
/// opens a new one. Each report becomes a <c>time.*</c> event carrying the milliseconds it added, so the projector
/// and a rebuild just sum them. A report repeated with the same <c>clientEventId</c> adds nothing.
/// </summary>
public sealed class TimeTracker(IDocumentStore store, ActivityLog log, IOptions<AnalyticsOptions> options, TimeProvider time)
{
    public static readonly IReadOnlyList<string> Events = ["start", "heartbeat", "stop"];

    private IDocumentContainer Sessions => store.Container(AnalyticsContainers.Analytics);

    public async Task<TimeRecorded> ReportAsync(LabelingTask task, string itemId, string userId, string keyId, string report, string clientEventId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(task);
        var eventId = $"time_{userId}_{clientEventId}";
        if (await log.GetAsync(task.ProjectId, eventId, ct) is { } earlier)
        {
            return new TimeRecorded(eventId, earlier.Data?["ms"]?.GetValue<long>() ?? 0, true);
        }

        var partition = AnalyticsContainers.Partition(task.ProjectId);
        var sessionId = $"s_{userId}_{task.Id}_{itemId}";
        var idle = TimeSpan.FromSeconds(options.Value.IdleGapSeconds);
        for (var attempt = 1; ; attempt++)
        {
            var now = time.GetUtcNow();
            var session = await Sessions.ReadAsync(partition, sessionId, ct);
            var open = session?.Body["open"]?.GetValue<bool>() ?? false;
            var counted = session?.Body["counted"]?.GetValue<bool>() ?? false;
            long ms = 0;
            if (report != "start" && open && session!.Body["lastAt"]?.GetValue<string>() is { } last && StoredTimestamp.TryParse(last, out var lastAt))
            {
                var gap = now - lastAt;
                ms = gap > TimeSpan.Zero && gap <= idle ? (long)gap.TotalMilliseconds : 0;
            }

            var newItem = ms > 0 && !counted;
            var body = new JsonObject
            {
                ["kind"] = "timeSession",
                ["lastAt"] = StoredTimestamp.Format(now),
                ["open"] = report != "stop",
                ["counted"] = counted || newItem,
            };
            try
            {
                if (session is null)
                {
                    await Sessions.CreateAsync(partition, sessionId, body, ct);
                }
                else
                {
                    await Sessions.ReplaceAsync(partition, sessionId, body, session.ETag, ct);
                }
            }
            catch (DocumentStoreException) when (attempt < 10)
            {
                // A concurrent report of the same session won: read it again.
                continue;
            }

            await log.RecordAsync([new ActivityEvent(eventId, task.ProjectId, ActivityKinds.TimePrefix + report, userId, "key:" + keyId, StoredTimestamp.Format(now),
                TaskId: task.Id, Stage: task.Type == "qa" ? AnalyticsProjection.QaStage : AnalyticsProjection.AnnotationStage, DatasetId: task.DatasetId, ItemId: itemId,
                Data: new JsonObject { ["ms"] = ms, ["newItem"] = newItem, ["clientEventId"] = clientEventId })], CancellationToken.None);
            return new TimeRecorded(eventId, ms, false);
        }
    }
}
