using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Serverless.Core.Filters;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Activity;

namespace Serverless.Functions.Analytics;

/// <summary>
/// Keeps the analytics cube in step with the activity log. The cube is stored as one row document per cell
/// (day, task, dataset, stage, user, label, source, tag) holding every counter, plus a checkpoint document, in
/// the project's partition of the <c>analytics</c> container; each instance also caches the rows of a project in
/// memory and answers queries from that cache.
/// </summary>
/// <remarks>
/// <para><b>Incremental projection.</b> Events are read in log order (<c>at</c>, then id) from the checkpoint's
/// watermark minus <see cref="StragglerWindow"/>, so an event committed a little after a later-stamped one is still
/// seen; the checkpoint remembers the ids projected inside that window, so no event counts twice. Each chunk of
/// events (as many as touch at most 99 rows) commits as ONE atomic batch: the rows' new totals and the
/// checkpoint, guarded by the checkpoint's ETag; a concurrent projector makes the batch fail whole, and the loser
/// re-reads. Projection runs before every analytics read (reads see their own writes) and in the background after
/// every write to the log.</para>
/// <para><b>Rebuild.</b> Reads the whole log in large pages, aggregates in memory, writes the rows of a new
/// generation, then switches the checkpoint to it in one write and deletes the old generation. Readers keep
/// using the old generation until the switch.</para>
/// <para><b>Cache.</b> Rows carry the checkpoint version that last wrote them; an instance whose cache is behind
/// loads only the rows with a newer version (or the whole generation after a rebuild).</para>
/// </remarks>
public sealed class AnalyticsProjector(IDocumentStore store)
{
    /// <summary>Events stamped this long before the newest projected one are still looked for.</summary>
    public static readonly TimeSpan StragglerWindow = TimeSpan.FromSeconds(10);

    private const int RowsPerBatch = DocumentLimits.MaxBatchOperations - 1;
    private const string CheckpointId = "checkpoint";
    private const string RowKind = "row";

    private readonly ConcurrentDictionary<string, ProjectCube> _cubes = new(StringComparer.Ordinal);

    private IDocumentContainer Cube => store.Container(AnalyticsContainers.Analytics);

    private IDocumentContainer Log => store.Container(ActivityContainers.Activity);

    /// <summary>Projects what the log holds beyond the checkpoint, then runs <paramref name="read"/> over the project's cube.</summary>
    public async Task<T> ReadAsync<T>(string projectId, Func<IReadOnlyDictionary<CubeKey, long[]>, T> read, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(read);
        var cube = _cubes.GetOrAdd(projectId, _ => new ProjectCube());
        await cube.Gate.WaitAsync(ct);
        try
        {
            await CatchUpLockedAsync(projectId, cube, ct);
            return read(cube.Cells);
        }
        finally
        {
            cube.Gate.Release();
        }
    }

    /// <summary>Projects what the log holds beyond the checkpoint; returns the number of events projected.</summary>
    public async Task<long> CatchUpAsync(string projectId, CancellationToken ct)
    {
        var cube = _cubes.GetOrAdd(projectId, _ => new ProjectCube());
        await cube.Gate.WaitAsync(ct);
        try
        {
            return await CatchUpLockedAsync(projectId, cube, ct);
        }
        finally
        {
            cube.Gate.Release();
        }
    }

    /// <summary>Rebuilds the project's cube from the whole log (see remarks on the class). Idempotent.</summary>
    public async Task<RebuildResult> RebuildAsync(string projectId, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var partition = AnalyticsContainers.Partition(projectId);
        var (start, _) = await ReadCheckpointAsync(partition, ct);
        var generation = start.Generation + 1;

        // Rows of this generation left by an interrupted attempt are rewritten or removed below.
        await DeleteGenerationAsync(partition, generation, ct);
        // Counters commute, so the rebuild reads the log in primary-key order (the cheapest scan in both stores) and
        // only needs the newest stamp and the ids near it for the checkpoint.
        var deltas = new CubeDeltas();
        var near = new List<(string Id, string At)>();
        string? maxAt = null;
        long events = 0;
        string? token = null;
        do
        {
            var page = await Log.QueryAsync(new DocumentQuery(ActivityContainers.Partition(projectId), null, null, DocumentLimits.MaxPageSize, token), ct);
            foreach (var doc in page.Items)
            {
                AnalyticsProjection.Apply(doc.Body, deltas);
                var at = doc.Body["at"]?.GetValue<string>() ?? string.Empty;
                if (maxAt is null || string.CompareOrdinal(at, maxAt) > 0)
                {
                    maxAt = at;
                }

                near.Add((doc.Id, at));
                events++;
            }

            var floor = WindowStart(maxAt);
            near.RemoveAll(p => string.CompareOrdinal(p.At, floor) < 0);
            token = page.ContinuationToken;
        }
        while (token is not null);

        var readSeconds = clock.Elapsed.TotalSeconds;
        var version = start.Version + 1;
        var rows = deltas.Cells.Select(c => BatchOperation.Upsert(RowId(generation, c.Key), RowBody(generation, version, c.Key, c.Value))).ToList();
        await Parallel.ForEachAsync(rows.Chunk(DocumentLimits.MaxBatchOperations), new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = ct },
            async (chunk, token) => await Cube.ExecuteBatchAsync(partition, chunk, token));

        var recent = new JsonObject();
        foreach (var (id, at) in near)
        {
            recent[id] = at;
        }

        var cube = _cubes.GetOrAdd(projectId, _ => new ProjectCube());
        await cube.Gate.WaitAsync(ct);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var (current, etag) = await ReadCheckpointAsync(partition, ct);
                var next = new Checkpoint(generation, Math.Max(current.Version, start.Version) + 1, maxAt, recent);
                try
                {
                    await WriteCheckpointAsync(partition, next, etag, ct);
                    break;
                }
                catch (DocumentStoreException) when (attempt < 10)
                {
                    // Another projector moved the checkpoint meanwhile: switch over its latest version.
                }
            }

            cube.Generation = -1;
        }
        finally
        {
            cube.Gate.Release();
        }

        for (var old = start.Generation; old >= Math.Max(0, start.Generation - 1); old--)
        {
            await DeleteGenerationAsync(partition, old, ct);
        }

        return new RebuildResult(events, rows.Count, generation, clock.Elapsed.TotalSeconds, readSeconds);
    }

    private async Task<long> CatchUpLockedAsync(string projectId, ProjectCube cube, CancellationToken ct)
    {
        var partition = AnalyticsContainers.Partition(projectId);
        long projected = 0;
        for (var attempt = 0; ; attempt++)
        {
            var (checkpoint, etag) = await ReadCheckpointAsync(partition, ct);
            await SyncCacheAsync(partition, cube, checkpoint, ct);
            var recent = checkpoint.Recent;
            var deltas = new CubeDeltas();
            var processed = new List<(string Id, string At)>();
            var maxAt = checkpoint.Watermark;
            var cut = false;
            var where = checkpoint.Watermark is null ? null : Filter.Gte("at", WindowStart(checkpoint.Watermark));
            string? token = null;
            do
            {
                var page = await Log.QueryAsync(new DocumentQuery(ActivityContainers.Partition(projectId), where, [new SortField("at"), new SortField("id")], DocumentLimits.MaxPageSize, token), ct);
                foreach (var doc in page.Items)
                {
                    if (recent.ContainsKey(doc.Id))
                    {
                        continue;
                    }

                    var contributions = AnalyticsProjection.Contributions(doc.Body).ToList();
                    if (processed.Count > 0 && deltas.Cells.Count + deltas.NewCells(contributions.Select(c => c.Key)) > RowsPerBatch)
                    {
                        cut = true;
                        break;
                    }

                    foreach (var (key, metric, by) in contributions)
                    {
                        deltas.Add(key, metric, by);
                    }

                    var at = doc.Body["at"]?.GetValue<string>() ?? string.Empty;
                    processed.Add((doc.Id, at));
                    if (maxAt is null || string.CompareOrdinal(at, maxAt) > 0)
                    {
                        maxAt = at;
                    }
                }

                token = cut ? null : page.ContinuationToken;
            }
            while (token is not null);

            if (processed.Count == 0)
            {
                return projected;
            }

            var floor = WindowStart(maxAt);
            var nextRecent = new JsonObject();
            foreach (var (id, at) in recent.Select(p => (p.Key, p.Value?.GetValue<string>() ?? string.Empty)).Concat(processed))
            {
                if (string.CompareOrdinal(at, floor) >= 0)
                {
                    nextRecent[id] = at;
                }
            }

            var version = checkpoint.Version + 1;
            var totals = deltas.Cells.ToDictionary(c => c.Key, c => Sum(cube.Cells.GetValueOrDefault(c.Key), c.Value));
            var batch = totals.Select(t => BatchOperation.Upsert(RowId(checkpoint.Generation, t.Key), RowBody(checkpoint.Generation, version, t.Key, t.Value))).ToList();
            var next = new Checkpoint(checkpoint.Generation, version, maxAt, nextRecent);
            batch.Add(etag is null ? BatchOperation.Create(CheckpointId, next.ToBody()) : BatchOperation.Replace(CheckpointId, next.ToBody(), etag));
            try
            {
                await Cube.ExecuteBatchAsync(partition, batch, ct);
            }
            catch (DocumentBatchFailedException) when (attempt < 20)
            {
                // Another instance projected first: nothing of ours was applied; re-read and go again.
                continue;
            }

            foreach (var (key, value) in totals)
            {
                cube.Cells[key] = value;
            }

            cube.Version = version;
            projected += processed.Count;
            if (!cut)
            {
                return projected;
            }
        }
    }

    private async Task SyncCacheAsync(string partition, ProjectCube cube, Checkpoint checkpoint, CancellationToken ct)
    {
        if (cube.Generation == checkpoint.Generation && cube.Version == checkpoint.Version)
        {
            return;
        }

        Filter where;
        if (cube.Generation != checkpoint.Generation)
        {
            cube.Cells.Clear();
            where = Filter.And(Filter.Eq("kind", RowKind), Filter.Eq("g", checkpoint.Generation));
        }
        else
        {
            where = Filter.And(Filter.Eq("kind", RowKind), Filter.Eq("g", checkpoint.Generation), Filter.Gt("v", cube.Version));
        }

        string? token = null;
        do
        {
            var page = await Cube.QueryAsync(new DocumentQuery(partition, where, null, DocumentLimits.MaxPageSize, token), ct);
            foreach (var doc in page.Items)
            {
                var (key, counters) = ParseRow(doc.Body);
                cube.Cells[key] = counters;
            }

            token = page.ContinuationToken;
        }
        while (token is not null);

        cube.Generation = checkpoint.Generation;
        cube.Version = checkpoint.Version;
    }

    private async Task DeleteGenerationAsync(string partition, long generation, CancellationToken ct)
    {
        while (true)
        {
            var page = await Cube.QueryAsync(new DocumentQuery(partition, Filter.And(Filter.Eq("kind", RowKind), Filter.Eq("g", generation)), null, DocumentLimits.MaxBatchOperations), ct);
            if (page.Items.Count == 0)
            {
                return;
            }

            await Cube.ExecuteBatchAsync(partition, [.. page.Items.Select(d => BatchOperation.Delete(d.Id))], ct);
        }
    }

    private async Task<(Checkpoint Checkpoint, string? ETag)> ReadCheckpointAsync(string partition, CancellationToken ct)
    {
        var doc = await Cube.ReadAsync(partition, CheckpointId, ct);
        return doc is null ? (new Checkpoint(0, 0, null, []), null) : (Checkpoint.From(doc.Body), doc.ETag);
    }

    private async Task WriteCheckpointAsync(string partition, Checkpoint checkpoint, string? etag, CancellationToken ct)
    {
        if (etag is null)
        {
            await Cube.CreateAsync(partition, CheckpointId, checkpoint.ToBody(), ct);
        }
        else
        {
            await Cube.ReplaceAsync(partition, CheckpointId, checkpoint.ToBody(), etag, ct);
        }
    }

    private static long[] Sum(long[]? a, long[] b)
    {
        var sum = new long[CubeDeltas.MetricCount];
        for (var i = 0; i < sum.Length; i++)
        {
            sum[i] = (a is not null && i < a.Length ? a[i] : 0) + b[i];
        }

        return sum;
    }

    private static string WindowStart(string? at) =>
        at is not null && StoredTimestamp.TryParse(at, out var t) ? StoredTimestamp.Format(t - StragglerWindow) : string.Empty;

    /// <summary>Row ids hash the cell, so rewriting a cell (a retried activity, a re-run rebuild) hits the same document.</summary>
    internal static string RowId(long generation, in CubeKey key)
    {
        var text = string.Join('\u001f', key.Day, key.TaskId, key.DatasetId, key.Stage, key.User, key.Label, key.Source, key.Tag);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return "r" + generation.ToString(CultureInfo.InvariantCulture) + "_" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }

    internal static JsonObject RowBody(long generation, long version, in CubeKey key, long[] counters) => new()
    {
        ["kind"] = RowKind,
        ["g"] = generation,
        ["v"] = version,
        ["day"] = key.Day,
        ["task"] = key.TaskId,
        ["dataset"] = key.DatasetId,
        ["stage"] = key.Stage,
        ["user"] = key.User,
        ["label"] = key.Label,
        ["source"] = key.Source,
        ["tag"] = key.Tag,
        ["m"] = new JsonArray([.. counters.Select(c => (JsonNode)JsonValue.Create(c))]),
    };

    private static (CubeKey Key, long[] Counters) ParseRow(JsonObject body)
    {
        static string S(JsonObject o, string name) => o[name]?.GetValue<string>() ?? string.Empty;
        var key = new CubeKey(S(body, "day"), S(body, "task"), S(body, "dataset"), S(body, "stage"), S(body, "user"), S(body, "label"), S(body, "source"), S(body, "tag"));
        var counters = new long[CubeDeltas.MetricCount];
        if (body["m"] is JsonArray m)
        {
            for (var i = 0; i < Math.Min(m.Count, counters.Length); i++)
            {
                counters[i] = m[i]!.GetValue<long>();
            }
        }

        return (key, counters);
    }

    private sealed record Checkpoint(long Generation, long Version, string? Watermark, JsonObject Recent)
    {
        public static Checkpoint From(JsonObject body) => new(
            body["g"]!.GetValue<long>(),
            body["version"]!.GetValue<long>(),
            body["watermark"]?.GetValue<string>(),
            body["recent"] is JsonObject recent ? (JsonObject)recent.DeepClone() : []);

        public JsonObject ToBody() => new()
        {
            ["kind"] = "checkpoint",
            ["g"] = Generation,
            ["version"] = Version,
            ["watermark"] = Watermark,
            ["recent"] = Recent.DeepClone(),
        };
    }

    /// <summary>One project's cached cube; <see cref="Gate"/> guards it (projection and reads take it in turn).</summary>
    private sealed class ProjectCube
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public long Generation { get; set; } = -1;

        public long Version { get; set; } = -1;

        public Dictionary<CubeKey, long[]> Cells { get; } = [];
    }
}
