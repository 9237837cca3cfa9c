using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Tasks;

/// <summary>Issues in the QA task's partition of the tasks container; every change appends a step under the issue's ETag.</summary>
public sealed class IssueStore(IDocumentStore store, TimeProvider time)
{
    private const int MaxAttempts = 30;
    private const string IssueKind = "issue";

    private IDocumentContainer Tasks => store.Container(TaskContainers.Tasks);

    public async Task<TaskIssue> OpenAsync(string qaTaskId, string sourceTaskId, string itemId, string? annotationId, string comment, string? tag, string reviewer, string? annotator, CancellationToken ct)
    {
        var now = StoredTimestamp.Format(time.GetUtcNow());
        var issue = new TaskIssue(Ids.New("q"), qaTaskId, sourceTaskId, itemId, annotationId, comment, tag, "open", reviewer, annotator, [new IssueStep("created", reviewer, now, comment)], now, now);
        await Tasks.CreateAsync(TaskContainers.TaskPartition(qaTaskId), issue.Id, Body(issue), ct);
        return issue;
    }

    public async Task<TaskIssue?> GetAsync(string qaTaskId, string issueId, CancellationToken ct)
    {
        var doc = Ids.IsWellFormed(issueId) ? await Tasks.ReadAsync(TaskContainers.TaskPartition(qaTaskId), issueId, ct) : null;
        return doc?.Body["kind"]?.GetValue<string>() == IssueKind ? doc.Body.Deserialize<TaskIssue>(DocumentJson.Options) : null;
    }

    /// <summary>The QA task's issues, optionally of one item, oldest first.</summary>
    public async Task<Page<TaskIssue>> ListAsync(string qaTaskId, string? itemId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var where = itemId is null ? Filter.Eq("kind", IssueKind) : Filter.And(Filter.Eq("kind", IssueKind), Filter.Eq("itemId", itemId));
        var page = await Tasks.QueryAsync(new DocumentQuery(TaskContainers.TaskPartition(qaTaskId), where, [new SortField("createdAt"), new SortField("id")], pageSize, continuationToken), ct);
        return new Page<TaskIssue>([.. page.Items.Select(d => d.Body.Deserialize<TaskIssue>(DocumentJson.Options)!)], page.ContinuationToken);
    }

    /// <summary>Moves the issue from one of <paramref name="from"/> to <paramref name="to"/>, recording the step; null when absent, the unchanged issue when in another state.</summary>
    public async Task<(TaskIssue Issue, bool Moved)?> MoveAsync(string qaTaskId, string issueId, string[] from, string to, string action, string actor, string? comment, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(from);
        for (var attempt = 1; ; attempt++)
        {
            var doc = Ids.IsWellFormed(issueId) ? await Tasks.ReadAsync(TaskContainers.TaskPartition(qaTaskId), issueId, ct) : null;
            if (doc?.Body["kind"]?.GetValue<string>() != IssueKind)
            {
                return null;
            }

            var issue = doc!.Body.Deserialize<TaskIssue>(DocumentJson.Options)!;
            if (!from.Contains(issue.State))
            {
                return (issue, false);
            }

            var now = StoredTimestamp.Format(time.GetUtcNow());
            var moved = issue with { State = to, UpdatedAt = now, History = [.. issue.History, new IssueStep(action, actor, now, comment)] };
            try
            {
                await Tasks.ReplaceAsync(TaskContainers.TaskPartition(qaTaskId), issueId, Body(moved), doc.ETag, ct);
                return (moved, true);
            }
            catch (DocumentPreconditionFailedException) when (attempt < MaxAttempts)
            {
                await Task.Delay(IdentityStore.Backoff(attempt), ct);
            }
        }
    }

    private static JsonObject Body(TaskIssue issue)
    {
        var body = JsonSerializer.SerializeToNode(issue, DocumentJson.Options)!.AsObject();
        body["kind"] = IssueKind;
        return body;
    }
}
