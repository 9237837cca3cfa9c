using System.Text;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Analytics;

/// <summary>
/// The projection's position (<see cref="Checkpoint"/>) and its straggler window: the ids of the events projected whose
/// stamps lie within <see cref="StragglerWindow"/> of the newest, kept so that a catch-up reading that stretch of the log
/// again counts no event twice.
/// </summary>
/// <remarks>
/// The window's ids are stored one document per second of stamps (<c>w.{generation}.{second}</c>), each written in the
/// same atomic batch as the checkpoint that lists it, with the version it was written at. A catch-up rewrites only the
/// seconds its new events fall in (one or two) and deletes the seconds that left the window, and each instance keeps
/// the seconds it read or wrote in memory (<see cref="ProjectCube.Window"/>), reloading one only when the checkpoint
/// lists another version of it. Until session 8 the checkpoint held the whole window as one string: at a batch status
/// change's rates (~6,000 events a second) every catch-up decoded, re-encoded and wrote ~2 MB, about a third of the
/// batch's CPU at 1M items, and at a few thousand events a second more it outgrew the store's document limit.
/// Checkpoints written before hold the window inline (<c>recentByAt</c>, or the older <c>recent</c> object); they
/// are read as they are and moved into window documents by the next catch-up that writes.
/// </remarks>
public sealed partial class AnalyticsProjector
{
    /// <summary>
    /// Window documents one catch-up batch writes or deletes at most: the window spans at most 11 seconds of stamps (all
    /// written at once only after a pause), the rest deletes seconds that left it (any beyond wait for the next batch).
    /// </summary>
    private const int WindowDocsPerBatch = 24;

    private const string WindowKind = "window";

    /// <summary>The second a stored timestamp falls in (<c>yyyy-MM-ddTHH:mm:ss</c>): stamps sort as text, and so do seconds.</summary>
    private static string SecondOf(string at) => at.Length > 19 ? at[..19] : at;

    private static string WindowDocId(long generation, string second) => $"w.{generation}.{second}";

    /// <summary>
    /// The window as the checkpoint lists it: each second's ids (id → stamp) loaded from its document, or taken from this
    /// instance's memory when the version there is the one listed; plus the ids of a checkpoint written before window
    /// documents existed.
    /// </summary>
    private async Task<ProjectedWindow> LoadWindowAsync(string partition, ProjectCube cube, Checkpoint checkpoint, CancellationToken ct)
    {
        var seconds = new Dictionary<string, WindowSecond>(StringComparer.Ordinal);
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (second, version) in checkpoint.Seconds)
        {
            var docId = WindowDocId(checkpoint.Generation, second);
            listed.Add(docId);
            if (!cube.Window.TryGetValue(docId, out var cached) || cached.Version != version)
            {
                var doc = await Cube.ReadAsync(partition, docId, ct);
                // A document at another version was rewritten by another instance after this checkpoint was read: this
                // catch-up's batch then fails on the checkpoint's ETag, so the content only has to be cached as what it is.
                cached = new WindowSecond(doc?.Body["v"]?.GetValue<long>() ?? -1, doc?.Body["ids"]?.GetValue<string>() is { } ids ? DecodeIds(ids) : []);
                cube.Window[docId] = cached;
            }

            seconds[second] = cached;
        }

        // Seconds no longer listed (deleted by another instance, or of a generation a rebuild replaced) leave memory too.
        foreach (var stale in cube.Window.Keys.Where(docId => !listed.Contains(docId)).ToList())
        {
            cube.Window.Remove(stale);
        }

        return new ProjectedWindow(seconds, checkpoint.Legacy);
    }

    /// <summary>
    /// What a catch-up batch writes besides the cube rows: the seconds its events fall in (with the ids already there),
    /// the deletion of seconds that left the window, and the checkpoint listing the window after it.
    /// </summary>
    private static WindowChange NextWindow(Checkpoint checkpoint, string? etag, ProjectedWindow window, IEnumerable<(string Id, string At)> processed, string maxAt, long version)
    {
        var floorSecond = SecondOf(WindowStart(maxAt));
        var written = new Dictionary<string, WindowSecond>(StringComparer.Ordinal);
        foreach (var (id, at) in checkpoint.Legacy.Select(p => (p.Key, p.Value)).Concat(processed))
        {
            var second = SecondOf(at);
            if (string.CompareOrdinal(second, floorSecond) < 0)
            {
                continue;
            }

            if (!written.TryGetValue(second, out var ids))
            {
                ids = new WindowSecond(version, window.Seconds.TryGetValue(second, out var current) ? new Dictionary<string, string>(current.Ids, StringComparer.Ordinal) : []);
                written[second] = ids;
            }

            ids.Ids[id] = at;
        }

        var expired = checkpoint.Seconds.Where(s => string.CompareOrdinal(s.Second, floorSecond) < 0 && !written.ContainsKey(s.Second))
            .Take(Math.Max(0, WindowDocsPerBatch - written.Count)).Select(s => s.Second).ToHashSet(StringComparer.Ordinal);
        var listed = checkpoint.Seconds.Where(s => !expired.Contains(s.Second) && !written.ContainsKey(s.Second))
            .Concat(written.Select(w => (w.Key, version)))
            .OrderBy(s => s.Item1, StringComparer.Ordinal)
            .ToList();
        var operations = written.Select(w => BatchOperation.Upsert(WindowDocId(checkpoint.Generation, w.Key), new JsonObject
        {
            ["kind"] = WindowKind,
            ["g"] = checkpoint.Generation,
            ["v"] = version,
            ["ids"] = EncodeIds(w.Value.Ids),
        })).Concat(expired.Select(second => BatchOperation.Delete(WindowDocId(checkpoint.Generation, second)))).ToList();
        var next = new Checkpoint(checkpoint.Generation, version, maxAt, listed, []);
        operations.Add(etag is null ? BatchOperation.Create(CheckpointId, next.ToBody()) : BatchOperation.Replace(CheckpointId, next.ToBody(), etag));
        return new WindowChange(operations, written, [.. expired.Select(second => WindowDocId(checkpoint.Generation, second))]);
    }

    /// <summary>After the batch committed: this instance's memory of the window follows it.</summary>
    private static void Remember(ProjectCube cube, long generation, WindowChange change)
    {
        foreach (var (second, ids) in change.Written)
        {
            cube.Window[WindowDocId(generation, second)] = ids;
        }

        foreach (var docId in change.Deleted)
        {
            cube.Window.Remove(docId);
        }
    }

    /// <summary>
    /// A rebuild's window: the ids near the newest stamp, written as window documents of the new generation before the
    /// checkpoint switches to it (unlisted until then, so an interrupted rebuild leaves only documents of a generation
    /// the next rebuild rewrites or deletes).
    /// </summary>
    private async Task<IReadOnlyList<(string Second, long Version)>> WriteRebuiltWindowAsync(string partition, long generation, long version, IReadOnlyList<(string Id, string At)> near, CancellationToken ct)
    {
        var seconds = near.GroupBy(n => SecondOf(n.At), StringComparer.Ordinal).ToList();
        foreach (var second in seconds)
        {
            await Cube.UpsertAsync(partition, WindowDocId(generation, second.Key), new JsonObject
            {
                ["kind"] = WindowKind,
                ["g"] = generation,
                ["v"] = version,
                ["ids"] = EncodeIds(second.ToDictionary(n => n.Id, n => n.At, StringComparer.Ordinal)),
            }, cancellationToken: ct);
        }

        return [.. seconds.Select(s => (s.Key, version)).OrderBy(s => s.Key, StringComparer.Ordinal)];
    }

    /// <summary>Ids with their stamps as one string: a line per stamp, the stamp and then its ids, separated by tabs (neither holds tabs or line breaks).</summary>
    private static string EncodeIds(Dictionary<string, string> ids)
    {
        var text = new StringBuilder();
        foreach (var stamp in ids.GroupBy(p => p.Value, p => p.Key, StringComparer.Ordinal))
        {
            text.Append(stamp.Key);
            foreach (var id in stamp)
            {
                text.Append('\t').Append(id);
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    private static Dictionary<string, string> DecodeIds(string byAt)
    {
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in byAt.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            for (var i = 1; i < fields.Length; i++)
            {
                ids[fields[i]] = fields[0];
            }
        }

        return ids;
    }

    /// <summary>
    /// The projection's position: the generation of rows it writes, its version, the newest stamp projected
    /// (<c>Watermark</c>), the window's seconds with the version each was written at, and the ids a checkpoint written
    /// before window documents held inline (<c>Legacy</c>, id → stamp).
    /// </summary>
    private sealed record Checkpoint(long Generation, long Version, string? Watermark, IReadOnlyList<(string Second, long Version)> Seconds, Dictionary<string, string> Legacy)
    {
        public static Checkpoint From(JsonObject body) => new(
            body["g"]!.GetValue<long>(),
            body["version"]!.GetValue<long>(),
            body["watermark"]?.GetValue<string>(),
            body["window"]?.GetValue<string>() is { } window ? DecodeSeconds(window) : [],
            body["recentByAt"]?.GetValue<string>() is { } byAt ? DecodeIds(byAt)
                : body["recent"] is JsonObject recent ? recent.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? string.Empty, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal));

        /// <summary>The window as one short string: a line per second, the second and its version separated by a tab.</summary>
        public JsonObject ToBody() => new()
        {
            ["kind"] = "checkpoint",
            ["g"] = Generation,
            ["version"] = Version,
            ["watermark"] = Watermark,
            ["window"] = string.Concat(Seconds.Select(s => $"{s.Second}\t{s.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)}\n")),
        };

        private static List<(string Second, long Version)> DecodeSeconds(string text) =>
            [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t')).Select(f => (f[0], long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture)))];
    }

    /// <summary>One second of the window as stored: the version that wrote it and its ids (id → stamp).</summary>
    private sealed record WindowSecond(long Version, Dictionary<string, string> Ids);

    /// <summary>What <see cref="NextWindow"/> adds to a batch, and what the instance remembers once it committed.</summary>
    private sealed record WindowChange(List<BatchOperation> Operations, Dictionary<string, WindowSecond> Written, IReadOnlyList<string> Deleted);

    /// <summary>The window one catch-up works with (see <see cref="LoadWindowAsync"/>).</summary>
    private sealed class ProjectedWindow(Dictionary<string, WindowSecond> seconds, Dictionary<string, string> legacy)
    {
        public Dictionary<string, WindowSecond> Seconds => seconds;

        /// <summary>Whether the event was projected already.</summary>
        public bool Contains(string id)
        {
            foreach (var second in seconds.Values)
            {
                if (second.Ids.ContainsKey(id))
                {
                    return true;
                }
            }

            return legacy.ContainsKey(id);
        }

        /// <summary>Events projected with stamps in [<paramref name="from"/>, <paramref name="to"/>): whole seconds inside the range are counted by size.</summary>
        public long CountIn(string from, string to)
        {
            var firstWhole = SecondOf(from);
            var lastWhole = SecondOf(to);
            long count = 0;
            foreach (var (second, ids) in seconds)
            {
                count += string.CompareOrdinal(second, firstWhole) > 0 && string.CompareOrdinal(second, lastWhole) < 0
                    ? ids.Ids.Count
                    : ids.Ids.Values.Count(at => string.CompareOrdinal(at, from) >= 0 && string.CompareOrdinal(at, to) < 0);
            }

            return count + legacy.Values.Count(at => string.CompareOrdinal(at, from) >= 0 && string.CompareOrdinal(at, to) < 0);
        }
    }
}
