using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;
using Serverless.Functions.Annotations;
using Serverless.Functions.Tasks;

namespace Serverless.Functions.Analytics;

/// <summary>
/// Adds to events, as they are recorded, the context analytics attributes them by, so the projection never
/// reads anything but the log (which keeps rebuilds fast and their results equal to incremental projection):
/// <list type="bullet">
/// <item>annotation events: the task and stage of the item's task where the actor is the assignee;</item>
/// <item>QA status events on APPROVED: the annotation task (<c>sourceTaskId</c>), the item's <c>annotator</c>, and the
/// item's <c>labels</c> (count per class);</item>
/// <item>issue events: the dataset, the <c>sourceTaskId</c>, the label of the annotation the issue is on (read once,
/// when it opens, and copied from the opening event afterwards), and for a reopen whether the issue was resolved.</item>
/// </list>
/// Lookups that fail leave the event as it was: recording the action matters more than its analytics.
/// </summary>
public sealed partial class AnalyticsEnricher(IDocumentStore store, TaskStore tasks, IssueStore issues, AnnotationStore annotations, ILogger<AnalyticsEnricher> logger) : IActivityHook
{
    /// <summary>At most this many label classes are listed on an approval (keeps one event within one projection batch).</summary>
    public const int MaxLabelClasses = 40;

    public async Task<IReadOnlyList<ActivityEvent>> EnrichAsync(IReadOnlyList<ActivityEvent> events, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(events);
        var result = new List<ActivityEvent>(events.Count);
        var taskCache = new Dictionary<(string, string), LabelingTask?>();
        foreach (var e in events)
        {
            try
            {
                result.Add(await EnrichAsync(e, taskCache, ct));
            }
            catch (Exception ex) when (ex is DocumentStoreException or InvalidOperationException or System.Text.Json.JsonException)
            {
                LogEnrichFailed(logger, e.Id, e.Kind, ex);
                result.Add(e);
            }
        }

        return result;
    }

    public void Recorded(string projectId)
    {
    }

    private async Task<ActivityEvent> EnrichAsync(ActivityEvent e, Dictionary<(string, string), LabelingTask?> taskCache, CancellationToken ct)
    {
        async Task<LabelingTask?> TaskAsync(string taskId)
        {
            if (!taskCache.TryGetValue((e.ProjectId, taskId), out var task))
            {
                task = await tasks.GetAsync(e.ProjectId, taskId, ct);
                taskCache[(e.ProjectId, taskId)] = task;
            }

            return task;
        }

        if (e.Kind.StartsWith("annotation.", StringComparison.Ordinal) && e.TaskId is null && e.ItemId is not null)
        {
            var found = await store.Container(TaskContainers.Tasks).QueryAsync(new DocumentQuery(null,
                Filter.And(Filter.Eq("kind", "taskItem"), Filter.Eq("itemId", e.ItemId), Filter.Eq("assignee", e.Actor)), null, 20), ct);
            LabelingTask? best = null;
            foreach (var doc in found.Items.OrderBy(d => d.Body["status"] is null ? 0 : 1))
            {
                var task = doc.PartitionKey.StartsWith("task:", StringComparison.Ordinal) ? await TaskAsync(doc.PartitionKey["task:".Length..]) : null;
                if (task is not null && task.DatasetId == e.DatasetId)
                {
                    best = task;
                    break;
                }
            }

            return best is null ? e : e with { TaskId = best.Id, Stage = StageOf(best) };
        }

        if (e.Kind is ActivityKinds.StatusSet or ActivityKinds.StatusCleared && e.Stage == AnalyticsProjection.QaStage && e.TaskId is not null && e.ItemId is not null
            && (e.Data?["status"]?.GetValue<string>() ?? e.Data?["previous"]?.GetValue<string>()) == "APPROVED")
        {
            var qa = await TaskAsync(e.TaskId);
            if (qa?.SourceTaskId is not { } sourceTaskId)
            {
                return e;
            }

            var annotated = await tasks.GetItemAsync(sourceTaskId, e.ItemId, ct);
            var labels = new SortedDictionary<string, long>(StringComparer.Ordinal);
            string? token = null;
            do
            {
                var page = await annotations.ListAsync(qa.DatasetId, e.ItemId, 1000, token, ct);
                foreach (var a in page.Items)
                {
                    labels[a.Label] = labels.GetValueOrDefault(a.Label) + 1;
                }

                token = page.ContinuationToken;
            }
            while (token is not null);

            var data = (JsonObject?)e.Data?.DeepClone() ?? [];
            data["sourceTaskId"] = sourceTaskId;
            data["annotator"] = annotated?.Item.StatusBy ?? annotated?.Item.Assignee;
            data["labels"] = new JsonObject([.. labels.Take(MaxLabelClasses).Select(l => KeyValuePair.Create(l.Key, (JsonNode?)JsonValue.Create(l.Value)))]);
            return e with { Data = data };
        }

        if (e.Kind.StartsWith("issue.", StringComparison.Ordinal) && e.TaskId is not null && e.Data?["issueId"]?.GetValue<string>() is { } issueId)
        {
            var qa = await TaskAsync(e.TaskId);
            var issue = await issues.GetAsync(e.TaskId, issueId, ct);
            if (qa is null || issue is null)
            {
                return e;
            }

            var data = (JsonObject)e.Data.DeepClone();
            data["sourceTaskId"] = issue.SourceTaskId;
            string? label = null;
            if (e.Kind == ActivityKinds.IssueOpened)
            {
                label = issue.AnnotationId is null ? null : (await annotations.GetAsync(qa.DatasetId, issue.ItemId, issue.AnnotationId, ct))?.Annotation.Label;
            }
            else
            {
                // The opening event is "{issueId}.1" (its history had one step); the annotation may be gone by now.
                var opened = await store.Container(ActivityContainers.Activity).ReadAsync(ActivityContainers.Partition(e.ProjectId), issueId + ".1", ct);
                label = opened?.Body["label"]?.GetValue<string>();
                if (e.Kind == ActivityKinds.IssueReopened)
                {
                    data["wasResolved"] = issue.History.Count >= 2 && issue.History[^2].Action == "resolved";
                }
            }

            return e with { DatasetId = e.DatasetId ?? qa.DatasetId, Label = e.Label ?? label, Data = data };
        }

        return e;
    }

    private static string StageOf(LabelingTask task) => task.Type == "qa" ? AnalyticsProjection.QaStage : AnalyticsProjection.AnnotationStage;

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Activity event {EventId} ({Kind}) recorded without analytics context")]
    private static partial void LogEnrichFailed(ILogger logger, string eventId, string kind, Exception exception);
}
