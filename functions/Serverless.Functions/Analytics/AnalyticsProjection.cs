using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Functions.Activity;

namespace Serverless.Functions.Analytics;

/// <summary>Counter deltas per cube cell, built in memory from a run of events and then written as rows.</summary>
public sealed class CubeDeltas
{
    public static readonly int MetricCount = Enum.GetValues<Metric>().Length;

    public Dictionary<CubeKey, long[]> Cells { get; } = [];

    public void Add(in CubeKey key, Metric metric, long by)
    {
        if (by == 0)
        {
            return;
        }

        if (!Cells.TryGetValue(key, out var counters))
        {
            counters = new long[MetricCount];
            Cells[key] = counters;
        }

        counters[(int)metric] += by;
    }

    /// <summary>How many cells an event would add that are not here yet (to keep a chunk within one batch).</summary>
    public int NewCells(IEnumerable<CubeKey> keys) => keys.Distinct().Count(k => !Cells.ContainsKey(k));
}

/// <summary>
/// The projection: what one activity event adds to the cube. Pure and deterministic, so projecting the log
/// incrementally or in one rebuild gives the same cube. Reads the stored event body directly (no record
/// deserialization), because a rebuild runs it for every event of the log.
/// </summary>
/// <remarks>
/// Attribution (also in functions/README.md): task actions (submitted, skipped, discarded, labels
/// created/edited/deleted, time) go to the user who acted, on the event's task and stage. A QA approval counts
/// twice: <see cref="Metric.ReviewApproved"/> for the reviewer on the QA task, and <see cref="Metric.Approved"/>
/// (plus <see cref="Metric.LabelsApproved"/> per label class on the item) for the item's annotator on the
/// annotation task. An issue opened counts <see cref="Metric.ReviewRejected"/> and <see cref="Metric.IssuesRaised"/>
/// for the reviewer, <see cref="Metric.Rejected"/> for the annotator on the annotation task, and the issue
/// counters for the annotator on the QA task with the issue's tag and label. A cleared status takes back what
/// setting it added, on the day it is cleared.
/// </remarks>
public static class AnalyticsProjection
{
    public const string AnnotationStage = "annotation";
    public const string QaStage = "qa";

    /// <summary>Adds the event's contributions to <paramref name="deltas"/>.</summary>
    public static void Apply(JsonObject e, CubeDeltas deltas)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(deltas);
        foreach (var (key, metric, by) in Contributions(e))
        {
            deltas.Add(key, metric, by);
        }
    }

    /// <summary>The event's contributions, as (cell, counter, amount).</summary>
    public static IEnumerable<(CubeKey Key, Metric Metric, long By)> Contributions(JsonObject e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var kind = Text(e, "kind");
        var at = Text(e, "at");
        if (kind.Length == 0 || at.Length < 10)
        {
            yield break;
        }

        var day = at[..10];
        var actor = Text(e, "actor");
        var source = Text(e, "source");
        var task = Text(e, "taskId");
        var stage = Text(e, "stage");
        var dataset = Text(e, "datasetId");
        var label = Text(e, "label");
        var data = e["data"] as JsonObject;
        var own = new CubeKey(day, task, dataset, stage, actor, string.Empty, source, string.Empty);
        switch (kind)
        {
            case ActivityKinds.StatusSet or ActivityKinds.StatusCleared:
            {
                var sign = kind == ActivityKinds.StatusSet ? 1 : -1;
                var status = Text(data, sign > 0 ? "status" : "previous");
                if (status == "DISCARDED")
                {
                    yield return (own, Metric.Discarded, sign);
                }
                else if (stage != QaStage && status == "COMPLETED")
                {
                    yield return (own, Metric.Submitted, sign);
                }
                else if (stage == QaStage && status == "APPROVED")
                {
                    var annotator = new CubeKey(day, Text(data, "sourceTaskId"), dataset, AnnotationStage, Text(data, "annotator"), string.Empty, source, string.Empty);
                    yield return (own, Metric.ReviewApproved, sign);
                    yield return (annotator, Metric.Approved, sign);
                    if (data?["labels"] is JsonObject labels)
                    {
                        foreach (var (name, count) in labels)
                        {
                            var n = Number(count) * sign;
                            yield return (own with { Label = name }, Metric.ReviewLabelsApproved, n);
                            yield return (annotator with { Label = name }, Metric.LabelsApproved, n);
                        }
                    }
                }

                break;
            }

            case ActivityKinds.ItemSkipped:
                yield return (own, Metric.Skipped, 1);
                break;
            case ActivityKinds.AnnotationCreated:
                yield return (own with { Label = label }, Metric.LabelsCreated, 1);
                break;
            case ActivityKinds.AnnotationEdited:
                yield return (own with { Label = label }, Metric.LabelsEdited, 1);
                break;
            case ActivityKinds.AnnotationDeleted:
                yield return (own with { Label = label }, Metric.LabelsDeleted, 1);
                break;
            case ActivityKinds.IssueOpened:
            {
                var annotatorId = Text(data, "annotator");
                var annotator = new CubeKey(day, Text(data, "sourceTaskId"), dataset, AnnotationStage, annotatorId, string.Empty, source, string.Empty);
                var issue = own with { User = annotatorId, Label = label, Tag = Text(data, "tag") };
                yield return (own, Metric.ReviewRejected, 1);
                yield return (own, Metric.IssuesRaised, 1);
                yield return (annotator, Metric.Rejected, 1);
                if (label.Length > 0)
                {
                    yield return (own with { Label = label }, Metric.ReviewLabelsRejected, 1);
                    yield return (annotator with { Label = label }, Metric.LabelsRejected, 1);
                }

                yield return (issue, Metric.IssuesCreated, 1);
                yield return (issue, Metric.IssuesOpenDelta, 1);
                break;
            }

            case ActivityKinds.IssueResolved or ActivityKinds.IssueReopened:
            {
                var issue = own with { User = Text(data, "annotator"), Label = label, Tag = Text(data, "tag") };
                if (kind == ActivityKinds.IssueResolved)
                {
                    yield return (issue, Metric.IssuesResolved, 1);
                    yield return (issue, Metric.IssuesOpenDelta, -1);
                }
                else
                {
                    yield return (issue, Metric.IssuesReopened, 1);
                    if (data?["wasResolved"] is JsonValue was && was.GetValueKind() == JsonValueKind.True)
                    {
                        yield return (issue, Metric.IssuesOpenDelta, 1);
                    }
                }

                break;
            }

            default:
                if (kind.StartsWith(ActivityKinds.TimePrefix, StringComparison.Ordinal))
                {
                    yield return (own, Metric.TimeMs, Number(data?["ms"]));
                    if (data?["newItem"] is JsonValue fresh && fresh.GetValueKind() == JsonValueKind.True)
                    {
                        yield return (own, Metric.TimeItems, 1);
                    }
                }

                break;
        }
    }

    private static string Text(JsonObject? o, string name) =>
        o?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : string.Empty;

    private static long Number(JsonNode? node) =>
        node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number ? 0
        : v.TryGetValue<long>(out var l) ? l
        : v.TryGetValue<int>(out var i) ? i
        : (long)v.GetValue<double>();
}
