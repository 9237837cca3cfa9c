using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Functions.Activity;

namespace Serverless.Functions.Analytics;

/// <summary>Receives the projection's contributions (cell, counter, amount) without an enumerator or list per event.</summary>
public interface IContributionSink
{
    void Add(in CubeKey key, Metric metric, long by);
}

/// <summary>Counter deltas per cube cell, built in memory from a run of events and then written as rows.</summary>
public sealed class CubeDeltas : IContributionSink
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

    /// <summary>Adds every cell of <paramref name="other"/> into this one (counters commute).</summary>
    public void Merge(CubeDeltas other)
    {
        ArgumentNullException.ThrowIfNull(other);
        foreach (var (key, add) in other.Cells)
        {
            if (!Cells.TryGetValue(key, out var counters))
            {
                Cells[key] = add;
                continue;
            }

            for (var i = 0; i < counters.Length; i++)
            {
                counters[i] += add[i];
            }
        }
    }

    /// <summary>How many cells an event would add that are not here yet (to keep a chunk within one batch).</summary>
    public int NewCells(IEnumerable<CubeKey> keys) => keys.Distinct().Count(k => !Cells.ContainsKey(k));
}

/// <summary>
/// The fields of an activity event that the projection reads. One instance is refilled per event (from a parsed
/// body or straight from the stored UTF-8 bytes), so a rebuild over millions of events allocates nothing per event
/// for them beyond what <see cref="StringPool"/> has not seen yet.
/// </summary>
public sealed class ProjectedEvent
{
    private readonly List<(string Label, long Count)> _labels = [];

    public string Kind { get; private set; } = string.Empty;

    /// <summary>The UTC day of <c>at</c> (<c>yyyy-MM-dd</c>), empty when <c>at</c> is too short.</summary>
    public string Day { get; private set; } = string.Empty;

    public string Actor { get; private set; } = string.Empty;

    public string Source { get; private set; } = string.Empty;

    public string TaskId { get; private set; } = string.Empty;

    public string Stage { get; private set; } = string.Empty;

    public string DatasetId { get; private set; } = string.Empty;

    public string Label { get; private set; } = string.Empty;

    public string Status { get; private set; } = string.Empty;

    public string Previous { get; private set; } = string.Empty;

    public string SourceTaskId { get; private set; } = string.Empty;

    public string Annotator { get; private set; } = string.Empty;

    public string Tag { get; private set; } = string.Empty;

    public long Ms { get; private set; }

    public bool NewItem { get; private set; }

    public bool WasResolved { get; private set; }

    /// <summary>Label classes of the item at a QA approval, with their counts (<c>data.labels</c>).</summary>
    public IReadOnlyList<(string Label, long Count)> Labels => _labels;

    /// <summary>Fills the fields from a parsed event body.</summary>
    public ProjectedEvent From(JsonObject e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Clear();
        Kind = Text(e, "kind");
        var at = Text(e, "at");
        Day = at.Length >= 10 ? at[..10] : string.Empty;
        Actor = Text(e, "actor");
        Source = Text(e, "source");
        TaskId = Text(e, "taskId");
        Stage = Text(e, "stage");
        DatasetId = Text(e, "datasetId");
        Label = Text(e, "label");
        if (e["data"] is JsonObject data)
        {
            Status = Text(data, "status");
            Previous = Text(data, "previous");
            SourceTaskId = Text(data, "sourceTaskId");
            Annotator = Text(data, "annotator");
            Tag = Text(data, "tag");
            Ms = Number(data["ms"]);
            NewItem = data["newItem"] is JsonValue fresh && fresh.GetValueKind() == JsonValueKind.True;
            WasResolved = data["wasResolved"] is JsonValue was && was.GetValueKind() == JsonValueKind.True;
            if (data["labels"] is JsonObject labels)
            {
                foreach (var (name, count) in labels)
                {
                    _labels.Add((name, Number(count)));
                }
            }
        }

        return this;
    }

    /// <summary>
    /// Fills the fields from the stored UTF-8 body with a forward-only reader; strings come from
    /// <paramref name="pool"/>. Returns <c>at</c> as a slice of <paramref name="utf8"/> (for the watermark), empty
    /// when missing. Reads the same fields, with the same meaning of missing, null and mistyped values, as
    /// <see cref="From(JsonObject)"/>.
    /// </summary>
    public ReadOnlySpan<byte> From(ReadOnlySpan<byte> utf8, StringPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Clear();
        var at = ReadOnlySpan<byte>.Empty;
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("An activity event body is not a JSON object.");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadData(ref reader, pool);
                }
                else
                {
                    reader.Skip();
                }

                continue;
            }

            var field = reader.ValueSpan.Length switch
            {
                2 when reader.ValueTextEquals("at"u8) => 1,
                4 when reader.ValueTextEquals("kind"u8) => 2,
                5 when reader.ValueTextEquals("actor"u8) => 3,
                5 when reader.ValueTextEquals("stage"u8) => 4,
                5 when reader.ValueTextEquals("label"u8) => 5,
                6 when reader.ValueTextEquals("source"u8) => 6,
                6 when reader.ValueTextEquals("taskId"u8) => 7,
                9 when reader.ValueTextEquals("datasetId"u8) => 8,
                _ => 0,
            };
            reader.Read();
            if (field == 0 || reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                continue;
            }

            switch (field)
            {
                case 1:
                    // Timestamps are ASCII and never escaped; an escaped one is read like any string.
                    if (reader.ValueIsEscaped)
                    {
                        var text = reader.GetString()!;
                        at = System.Text.Encoding.UTF8.GetBytes(text);
                        Day = text.Length >= 10 ? pool.Get(text.AsSpan(0, 10)) : string.Empty;
                    }
                    else
                    {
                        at = reader.ValueSpan;
                        Day = at.Length >= 10 ? pool.Get(at[..10]) : string.Empty;
                    }

                    break;
                case 2:
                    Kind = pool.Get(ref reader);
                    break;
                case 3:
                    Actor = pool.Get(ref reader);
                    break;
                case 4:
                    Stage = pool.Get(ref reader);
                    break;
                case 5:
                    Label = pool.Get(ref reader);
                    break;
                case 6:
                    Source = pool.Get(ref reader);
                    break;
                case 7:
                    TaskId = pool.Get(ref reader);
                    break;
                default:
                    DatasetId = pool.Get(ref reader);
                    break;
            }
        }

        return at;
    }

    private void ReadData(ref Utf8JsonReader reader, StringPool pool)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = reader.ValueSpan.Length switch
            {
                2 when reader.ValueTextEquals("ms"u8) => 1,
                3 when reader.ValueTextEquals("tag"u8) => 2,
                6 when reader.ValueTextEquals("status"u8) => 3,
                6 when reader.ValueTextEquals("labels"u8) => 4,
                7 when reader.ValueTextEquals("newItem"u8) => 5,
                8 when reader.ValueTextEquals("previous"u8) => 6,
                9 when reader.ValueTextEquals("annotator"u8) => 7,
                11 when reader.ValueTextEquals("wasResolved"u8) => 8,
                12 when reader.ValueTextEquals("sourceTaskId"u8) => 9,
                _ => 0,
            };
            reader.Read();
            switch (field)
            {
                case 1:
                    Ms = Number(ref reader);
                    break;
                case 2 when reader.TokenType == JsonTokenType.String:
                    Tag = pool.Get(ref reader);
                    break;
                case 3 when reader.TokenType == JsonTokenType.String:
                    Status = pool.Get(ref reader);
                    break;
                case 4 when reader.TokenType == JsonTokenType.StartObject:
                    _labels.Clear();
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var name = pool.Get(ref reader);
                        reader.Read();
                        _labels.Add((name, Number(ref reader)));
                    }

                    break;
                case 5:
                    NewItem = reader.TokenType == JsonTokenType.True;
                    reader.Skip();
                    break;
                case 6 when reader.TokenType == JsonTokenType.String:
                    Previous = pool.Get(ref reader);
                    break;
                case 7 when reader.TokenType == JsonTokenType.String:
                    Annotator = pool.Get(ref reader);
                    break;
                case 8:
                    WasResolved = reader.TokenType == JsonTokenType.True;
                    reader.Skip();
                    break;
                case 9 when reader.TokenType == JsonTokenType.String:
                    SourceTaskId = pool.Get(ref reader);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
    }

    private void Clear()
    {
        Kind = Day = Actor = Source = TaskId = Stage = DatasetId = Label = Status = Previous = SourceTaskId = Annotator = Tag = string.Empty;
        Ms = 0;
        NewItem = WasResolved = false;
        _labels.Clear();
    }

    /// <summary>A number token as a long (a fraction is truncated); anything else is 0, a nested value is skipped.</summary>
    private static long Number(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            reader.Skip();
            return 0;
        }

        return reader.TryGetInt64(out var l) ? l : (long)reader.GetDouble();
    }

    private static string Text(JsonObject? o, string name) =>
        o?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : string.Empty;

    private static long Number(JsonNode? node) =>
        node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number ? 0
        : v.TryGetValue<long>(out var l) ? l
        : v.TryGetValue<int>(out var i) ? i
        : (long)v.GetValue<double>();
}

/// <summary>
/// Turns the UTF-8 or UTF-16 text of short values (ids, names, days) into strings, one instance per distinct
/// value: a rebuild meets the same few thousand values millions of times. Not thread-safe: one per reader.
/// </summary>
public sealed class StringPool
{
    private const int MaxPooledChars = 256;
    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public StringPool() => _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The string of <paramref name="chars"/>.</summary>
    public string Get(ReadOnlySpan<char> chars)
    {
        if (chars.IsEmpty)
        {
            return string.Empty;
        }

        if (_lookup.TryGetValue(chars, out var s))
        {
            return s;
        }

        s = chars.ToString();
        if (chars.Length <= MaxPooledChars)
        {
            _strings[s] = s;
        }

        return s;
    }

    /// <summary>The string of ASCII or UTF-8 bytes.</summary>
    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxPooledChars)
        {
            return System.Text.Encoding.UTF8.GetString(utf8);
        }

        Span<char> chars = stackalloc char[MaxPooledChars];
        var n = System.Text.Encoding.UTF8.GetChars(utf8, chars);
        return Get(chars[..n]);
    }

    /// <summary>The string token (or property name) under <paramref name="reader"/>, unescaped.</summary>
    public string Get(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > MaxPooledChars)
        {
            return reader.GetString() ?? string.Empty;
        }

        Span<char> chars = stackalloc char[MaxPooledChars];
        var n = reader.CopyString(chars);
        return Get(chars[..n]);
    }
}

/// <summary>
/// The projection: what one activity event adds to the cube. Pure and deterministic, so projecting the log
/// incrementally or in one rebuild gives the same cube. Works on <see cref="ProjectedEvent"/>, which both the
/// parsed-body path and the raw-bytes path of a rebuild fill, so the rules exist once.
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

    /// <summary>The event's contributions, as (cell, counter, amount).</summary>
    public static IReadOnlyList<(CubeKey Key, Metric Metric, long By)> Contributions(JsonObject e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return Contributions(new ProjectedEvent().From(e));
    }

    /// <summary>The event's contributions, as (cell, counter, amount).</summary>
    public static IReadOnlyList<(CubeKey Key, Metric Metric, long By)> Contributions(ProjectedEvent e)
    {
        var list = new ContributionList();
        Project(e, list);
        return list.Items;
    }

    /// <summary>Hands each contribution of the event to <paramref name="sink"/>.</summary>
    public static void Project<TSink>(ProjectedEvent e, TSink sink)
        where TSink : IContributionSink
    {
        ArgumentNullException.ThrowIfNull(e);
        var kind = e.Kind;
        if (kind.Length == 0 || e.Day.Length == 0)
        {
            return;
        }

        var day = e.Day;
        var stage = e.Stage;
        var own = new CubeKey(day, e.TaskId, e.DatasetId, stage, e.Actor, string.Empty, e.Source, string.Empty);
        switch (kind)
        {
            case ActivityKinds.StatusSet or ActivityKinds.StatusCleared:
            {
                var sign = kind == ActivityKinds.StatusSet ? 1 : -1;
                var status = sign > 0 ? e.Status : e.Previous;
                if (status == "DISCARDED")
                {
                    sink.Add(own, Metric.Discarded, sign);
                }
                else if (stage != QaStage && status == "COMPLETED")
                {
                    sink.Add(own, Metric.Submitted, sign);
                }
                else if (stage == QaStage && status == "APPROVED")
                {
                    var annotator = new CubeKey(day, e.SourceTaskId, e.DatasetId, AnnotationStage, e.Annotator, string.Empty, e.Source, string.Empty);
                    sink.Add(own, Metric.ReviewApproved, sign);
                    sink.Add(annotator, Metric.Approved, sign);
                    foreach (var (name, count) in e.Labels)
                    {
                        var n = count * sign;
                        sink.Add(own with { Label = name }, Metric.ReviewLabelsApproved, n);
                        sink.Add(annotator with { Label = name }, Metric.LabelsApproved, n);
                    }
                }

                break;
            }

            case ActivityKinds.ItemSkipped:
                sink.Add(own, Metric.Skipped, 1);
                break;
            case ActivityKinds.AnnotationCreated:
                sink.Add(own with { Label = e.Label }, Metric.LabelsCreated, 1);
                break;
            case ActivityKinds.AnnotationEdited:
                sink.Add(own with { Label = e.Label }, Metric.LabelsEdited, 1);
                break;
            case ActivityKinds.AnnotationDeleted:
                sink.Add(own with { Label = e.Label }, Metric.LabelsDeleted, 1);
                break;
            case ActivityKinds.IssueOpened:
            {
                var annotator = new CubeKey(day, e.SourceTaskId, e.DatasetId, AnnotationStage, e.Annotator, string.Empty, e.Source, string.Empty);
                var issue = own with { User = e.Annotator, Label = e.Label, Tag = e.Tag };
                sink.Add(own, Metric.ReviewRejected, 1);
                sink.Add(own, Metric.IssuesRaised, 1);
                sink.Add(annotator, Metric.Rejected, 1);
                if (e.Label.Length > 0)
                {
                    sink.Add(own with { Label = e.Label }, Metric.ReviewLabelsRejected, 1);
                    sink.Add(annotator with { Label = e.Label }, Metric.LabelsRejected, 1);
                }

                sink.Add(issue, Metric.IssuesCreated, 1);
                sink.Add(issue, Metric.IssuesOpenDelta, 1);
                break;
            }

            case ActivityKinds.IssueResolved or ActivityKinds.IssueReopened:
            {
                var issue = own with { User = e.Annotator, Label = e.Label, Tag = e.Tag };
                if (kind == ActivityKinds.IssueResolved)
                {
                    sink.Add(issue, Metric.IssuesResolved, 1);
                    sink.Add(issue, Metric.IssuesOpenDelta, -1);
                }
                else
                {
                    sink.Add(issue, Metric.IssuesReopened, 1);
                    if (e.WasResolved)
                    {
                        sink.Add(issue, Metric.IssuesOpenDelta, 1);
                    }
                }

                break;
            }

            default:
                if (kind.StartsWith(ActivityKinds.TimePrefix, StringComparison.Ordinal))
                {
                    sink.Add(own, Metric.TimeMs, e.Ms);
                    if (e.NewItem)
                    {
                        sink.Add(own, Metric.TimeItems, 1);
                    }
                }

                break;
        }
    }

    /// <summary>Collects contributions in order, zero amounts included (as the enumerating API always returned them).</summary>
    private sealed class ContributionList : IContributionSink
    {
        public List<(CubeKey Key, Metric Metric, long By)> Items { get; } = [];

        public void Add(in CubeKey key, Metric metric, long by) => Items.Add((key, metric, by));
    }
}
