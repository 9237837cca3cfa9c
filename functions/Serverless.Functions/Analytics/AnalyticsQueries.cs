namespace Serverless.Functions.Analytics;

/// <summary>
/// The analytics tables, each a sum over the cube cells that match the filter: the work is bounded by the
/// number of cells (days × tasks × users × labels …), never by the number of events.
/// </summary>
public static class AnalyticsQueries
{
    public static AnalyticsSummary Summary(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(filter);
        var sum = new long[CubeDeltas.MetricCount];
        long open = 0;
        foreach (var (key, m) in cells)
        {
            if (filter.Matches(key))
            {
                Add(sum, m);
            }

            if (filter.Matches(key, ignoreDates: true))
            {
                open += m[(int)Metric.IssuesOpenDelta];
            }
        }

        return new AnalyticsSummary(Get(sum, Metric.Submitted), Get(sum, Metric.Skipped), Get(sum, Metric.Approved), Get(sum, Metric.Rejected), Get(sum, Metric.Discarded),
            Get(sum, Metric.LabelsCreated), Get(sum, Metric.LabelsEdited), Get(sum, Metric.LabelsDeleted), open, Get(sum, Metric.TimeMs));
    }

    public static IReadOnlyList<TaskFigures> Tasks(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter) =>
        [.. Group(cells, filter, k => k.TaskId)
            .Where(g => g.Key.Length > 0)
            .Select(g => new TaskFigures(g.Key, Get(g.Value, Metric.Submitted), Get(g.Value, Metric.Skipped), Get(g.Value, Metric.Approved), Get(g.Value, Metric.Rejected),
                Get(g.Value, Metric.Discarded), Get(g.Value, Metric.TimeMs), Get(g.Value, Metric.LabelsCreated), Get(g.Value, Metric.LabelsEdited), Get(g.Value, Metric.LabelsDeleted)))
            .Where(t => t.Submitted != 0 || t.Skipped != 0 || t.Approved != 0 || t.Rejected != 0 || t.Discarded != 0 || t.TimeSpentMs != 0 || t.LabelsCreated != 0 || t.LabelsEdited != 0 || t.LabelsDeleted != 0)];

    public static IReadOnlyList<DayFigures> Throughput(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter) =>
        [.. Group(cells, filter, k => k.Day)
            .Select(g => new DayFigures(g.Key, Get(g.Value, Metric.Submitted), Get(g.Value, Metric.Approved), Get(g.Value, Metric.Rejected), Get(g.Value, Metric.LabelsCreated)))
            .Where(d => d.Submitted != 0 || d.Approved != 0 || d.Rejected != 0 || d.LabelsCreated != 0)];

    public static IReadOnlyList<LabelFigures> Labels(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter) =>
        [.. Group(cells, filter, k => k.Label)
            .Where(g => g.Key.Length > 0)
            .Select(g => new LabelFigures(g.Key, Get(g.Value, Metric.LabelsCreated), Get(g.Value, Metric.LabelsApproved), Get(g.Value, Metric.LabelsRejected),
                Rate(Get(g.Value, Metric.LabelsRejected), Get(g.Value, Metric.LabelsApproved))))
            .Where(l => l.Created != 0 || l.Approved != 0 || l.Rejected != 0)];

    /// <summary>Annotator figures come from cells outside the QA stage; reviewer figures from QA-stage cells.</summary>
    public static CollaboratorTables Collaborators(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(filter);
        var work = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var review = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (key, m) in cells)
        {
            if (key.User.Length == 0 || !filter.Matches(key))
            {
                continue;
            }

            var table = key.Stage == AnalyticsProjection.QaStage ? review : work;
            if (!table.TryGetValue(key.User, out var sum))
            {
                sum = new long[CubeDeltas.MetricCount];
                table[key.User] = sum;
            }

            Add(sum, m);
        }

        var annotators = work
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (p.Key, M: p.Value))
            .Select(p => new AnnotatorFigures(p.Key, Get(p.M, Metric.Submitted), Get(p.M, Metric.Skipped), Get(p.M, Metric.Approved), Get(p.M, Metric.Rejected),
                Rate(Get(p.M, Metric.Rejected), Get(p.M, Metric.Approved)),
                Get(p.M, Metric.LabelsCreated), Get(p.M, Metric.LabelsEdited), Get(p.M, Metric.LabelsDeleted), Get(p.M, Metric.LabelsApproved), Get(p.M, Metric.LabelsRejected),
                Rate(Get(p.M, Metric.LabelsRejected), Get(p.M, Metric.LabelsApproved)),
                Get(p.M, Metric.TimeMs), Average(Get(p.M, Metric.TimeMs), Get(p.M, Metric.TimeItems)), IssuesAgainst(review.GetValueOrDefault(p.Key))))
            .Where(a => a.Submitted != 0 || a.Skipped != 0 || a.Approved != 0 || a.Rejected != 0 || a.LabelsCreated != 0 || a.LabelsEdited != 0 || a.LabelsDeleted != 0 || a.TimeSpentMs != 0 || a.IssuesAgainst != 0)
            .ToList();

        // Annotators whose only figures are issues against them (their other work outside the filter) still get a row.
        foreach (var (user, m) in review.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!work.ContainsKey(user) && IssuesAgainst(m) != 0)
            {
                annotators.Add(new AnnotatorFigures(user, 0, 0, 0, 0, null, 0, 0, 0, 0, 0, null, 0, null, IssuesAgainst(m)));
            }
        }

        var reviewers = review
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (p.Key, M: p.Value))
            .Select(p => new ReviewerFigures(p.Key, Get(p.M, Metric.ReviewApproved), Get(p.M, Metric.ReviewRejected), Get(p.M, Metric.ReviewLabelsApproved), Get(p.M, Metric.ReviewLabelsRejected),
                Get(p.M, Metric.LabelsCreated), Get(p.M, Metric.LabelsEdited), Get(p.M, Metric.LabelsDeleted), Get(p.M, Metric.TimeMs),
                Average(Get(p.M, Metric.TimeMs), Get(p.M, Metric.TimeItems)),
                Average(Get(p.M, Metric.TimeMs), Get(p.M, Metric.ReviewLabelsApproved) + Get(p.M, Metric.ReviewLabelsRejected)),
                Get(p.M, Metric.IssuesRaised)))
            .Where(r => r.Approved != 0 || r.Rejected != 0 || r.LabelsCreated != 0 || r.LabelsEdited != 0 || r.LabelsDeleted != 0 || r.ReviewTimeMs != 0 || r.IssuesRaised != 0)
            .ToList();
        return new CollaboratorTables([.. annotators.OrderBy(a => a.UserId, StringComparer.Ordinal)], reviewers);
    }

    /// <summary>Issues per day in the range; by tag and by label: open now (whatever the dates) and opened in the range.</summary>
    public static IssueTables Issues(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(filter);
        var days = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var tags = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var labels = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long open = 0;
        foreach (var (key, m) in cells)
        {
            var created = m[(int)Metric.IssuesCreated];
            var delta = m[(int)Metric.IssuesOpenDelta];
            if ((created | delta | m[(int)Metric.IssuesResolved] | m[(int)Metric.IssuesReopened]) == 0 || !filter.Matches(key, ignoreDates: true))
            {
                continue;
            }

            open += delta;
            var inRange = filter.Matches(key);
            Accumulate(tags, key.Tag, delta, inRange ? created : 0);
            if (key.Label.Length > 0)
            {
                Accumulate(labels, key.Label, delta, inRange ? created : 0);
            }

            if (inRange)
            {
                if (!days.TryGetValue(key.Day, out var day))
                {
                    day = new long[3];
                    days[key.Day] = day;
                }

                day[0] += created;
                day[1] += m[(int)Metric.IssuesResolved];
                day[2] += m[(int)Metric.IssuesReopened];
            }
        }

        return new IssueTables(
            open,
            [.. days.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => new IssueDayFigures(d.Key, d.Value[0], d.Value[1], d.Value[2]))],
            [.. tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new IssueTagFigures(t.Key, t.Value[0], t.Value[1]))],
            [.. labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => new IssueLabelFigures(l.Key, l.Value[0], l.Value[1]))]);
    }

    public static IReadOnlyList<TimeFigures> Time(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(filter);
        var groups = new Dictionary<(string User, string Task, string Stage), long[]>();
        foreach (var (key, m) in cells)
        {
            if ((m[(int)Metric.TimeMs] | m[(int)Metric.TimeItems]) == 0 || !filter.Matches(key))
            {
                continue;
            }

            var k = (key.User, key.TaskId, key.Stage);
            if (!groups.TryGetValue(k, out var sum))
            {
                sum = new long[2];
                groups[k] = sum;
            }

            sum[0] += m[(int)Metric.TimeMs];
            sum[1] += m[(int)Metric.TimeItems];
        }

        // Same order as before (the tuple's default comparer), sorted once over the groups instead of on every cell.
        return [.. groups.OrderBy(g => g.Key).Select(g => new TimeFigures(g.Key.User, g.Key.Task, g.Key.Stage, g.Value[0], g.Value[1]))];
    }

    /// <summary>Sums matching cells per group; groups in ordinal order. A hash map per cell and one sort at the end:
    /// a sorted map paid a string comparison chain on every one of the project's cells.</summary>
    private static IEnumerable<KeyValuePair<string, long[]>> Group(IReadOnlyDictionary<CubeKey, long[]> cells, AnalyticsFilter filter, Func<CubeKey, string> by)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentNullException.ThrowIfNull(filter);
        var groups = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (key, m) in cells)
        {
            if (!filter.Matches(key))
            {
                continue;
            }

            var name = by(key);
            if (!groups.TryGetValue(name, out var sum))
            {
                sum = new long[CubeDeltas.MetricCount];
                groups[name] = sum;
            }

            Add(sum, m);
        }

        return groups.OrderBy(g => g.Key, StringComparer.Ordinal);
    }

    private static void Accumulate(Dictionary<string, long[]> into, string name, long open, long total)
    {
        if (!into.TryGetValue(name, out var sum))
        {
            sum = new long[2];
            into[name] = sum;
        }

        sum[0] += open;
        sum[1] += total;
    }

    private static long IssuesAgainst(long[]? qaCells) => qaCells is null ? 0 : qaCells[(int)Metric.IssuesCreated];

    private static void Add(long[] sum, long[] m)
    {
        for (var i = 0; i < sum.Length; i++)
        {
            sum[i] += m[i];
        }
    }

    private static long Get(long[] m, Metric metric) => m[(int)metric];

    /// <summary>rejected ÷ (approved + rejected); null when nothing was reviewed.</summary>
    private static double? Rate(long rejected, long approved) =>
        rejected + approved <= 0 ? null : Math.Round((double)rejected / (rejected + approved), 4);

    private static long? Average(long total, long count) => count <= 0 ? null : total / count;
}
