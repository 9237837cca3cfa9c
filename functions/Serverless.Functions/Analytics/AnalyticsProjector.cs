using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
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
/// seen; the ids projected inside that window are kept (window documents, see AnalyticsWindow.cs), so no event counts
/// twice. Each chunk of events (as many as touch at most <see cref="RowsPerBatch"/> rows) commits as ONE atomic batch:
/// the rows' new totals, the window documents it writes or deletes and the checkpoint, guarded by the checkpoint's ETag; a concurrent projector makes the batch fail whole, and the loser
/// re-reads. Projection runs before every analytics read (reads see their own writes) and in the background after
/// every write to the log.</para>
/// <para><b>Rebuild.</b> Reads the whole log in large pages, aggregates in memory, writes the rows of a new
/// generation, then switches the checkpoint to it in one write and deletes the old generation. Readers keep
/// using the old generation until the switch.</para>
/// <para><b>Cache.</b> Rows carry the checkpoint version that last wrote them; an instance whose cache is behind
/// loads only the rows with a newer version (or the whole generation after a rebuild).</para>
/// </remarks>
public sealed partial class AnalyticsProjector(IDocumentStore store)
{
    /// <summary>Events stamped this long before the newest projected one are still looked for.</summary>
    public static readonly TimeSpan StragglerWindow = TimeSpan.FromSeconds(10);

    private const int RowsPerBatch = DocumentLimits.MaxBatchOperations - 1 - WindowDocsPerBatch;
    private const string CheckpointId = "checkpoint";
    private const string RowKind = "row";

    private readonly ConcurrentDictionary<string, ProjectCube> _cubes = new(StringComparer.Ordinal);
    private long _eventsRead;
    private long _eventsProjected;
    private long _windowRereads;

    private IDocumentContainer Cube => store.Container(AnalyticsContainers.Analytics);

    private IDocumentContainer Log => store.Container(ActivityContainers.Activity);

    /// <summary>Events projected incrementally by this instance (each counted once, when its batch commits).</summary>
    public long EventsProjected => Interlocked.Read(ref _eventsProjected);

    /// <summary>Events incremental catch-ups of this instance read from the log, already projected ones included.</summary>
    public long EventsRead => Interlocked.Read(ref _eventsRead);

    /// <summary>Catch-ups that read the whole straggler window again because an event committed late was found in it.</summary>
    public long WindowRereads => Interlocked.Read(ref _windowRereads);

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
        var read = Log is IRawDocumentQuery raw
            ? await ReadLogRawAsync(raw, projectId, ct)
            : await ReadLogParsedAsync(projectId, ct);

        var readSeconds = clock.Elapsed.TotalSeconds;
        var version = start.Version + 1;
        // Rows in id order: ids hash the cell, so unsorted batches touched a different B-tree page per row in the
        // primary key and in each index, and SQLite wrote every such page to its WAL at each commit. Sorted, a batch
        // fills a few adjacent pages. Bodies are built per batch as it is sent: building all of them first kept
        // millions of JsonNode objects alive, and the garbage collector tracing them took most of the write phase.
        var rows = read.Deltas.Cells
            .Select(c => (Id: RowId(generation, c.Key), c.Key, Counters: c.Value))
            .OrderBy(r => r.Id, StringComparer.Ordinal)
            .ToList();
        // Many batches in flight let the SQLite adapter commit them together (group commit, up to 64 a transaction)
        // while the next ones are serialized; Cosmos runs them side by side.
        await Parallel.ForEachAsync(rows.Chunk(DocumentLimits.MaxBatchOperations), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
            async (chunk, token) => await Cube.ExecuteBatchAsync(partition, [.. chunk.Select(r => BatchOperation.Upsert(r.Id, RowBody(generation, version, r.Key, r.Counters)))], token));

        var window = await WriteRebuiltWindowAsync(partition, generation, start.Version + 1, read.Near, ct);
        var cube = _cubes.GetOrAdd(projectId, _ => new ProjectCube());
        await cube.Gate.WaitAsync(ct);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var (current, etag) = await ReadCheckpointAsync(partition, ct);
                var next = new Checkpoint(generation, Math.Max(current.Version, start.Version) + 1, read.MaxAt, window, []);
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

        return new RebuildResult(read.Events, rows.Count, generation, clock.Elapsed.TotalSeconds, readSeconds);
    }

    /// <summary>
    /// The rebuild's scan over stored bytes: one task pages the log (SQLite's read and its JSONB-to-text
    /// conversion), the other cores parse and project pages as they come, each into its own deltas; counters
    /// commute, so the parts are summed at the end. Measured at 1M events, parsing every body into a
    /// <c>JsonObject</c> cost more than the SQLite read itself; see functions/README.md.
    /// </summary>
    private static async Task<LogScan> ReadLogRawAsync(IRawDocumentQuery raw, string projectId, CancellationToken ct)
    {
        var pages = Channel.CreateBounded<RawQueryPage>(new BoundedChannelOptions(16) { SingleWriter = true });
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = failed.Token;
        var reader = Task.Run(
            async () =>
            {
                try
                {
                    string? next = null;
                    do
                    {
                        // Primary-key order: the cheapest scan in both stores (counters commute, order does not matter).
                        var page = await raw.QueryRawAsync(new DocumentQuery(ActivityContainers.Partition(projectId), null, null, DocumentLimits.MaxPageSize, next), token);
                        await pages.Writer.WriteAsync(page, token);
                        next = page.ContinuationToken;
                    }
                    while (next is not null);
                    pages.Writer.Complete();
                }
                catch (Exception e)
                {
                    pages.Writer.Complete(e);
                    throw;
                }
            },
            token);
        var workers = Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(_ => Task.Run(
            async () =>
            {
                try
                {
                    var part = new LogScan();
                    var fields = new ProjectedEvent();
                    var pool = new StringPool();
                    await foreach (var page in pages.Reader.ReadAllAsync(token))
                    {
                        foreach (var doc in page.Items)
                        {
                            var at = fields.From(doc.Utf8Body.Span, pool);
                            AnalyticsProjection.Project(fields, part.Deltas);
                            part.Saw(doc.Id, at);
                        }
                    }

                    return part;
                }
                catch
                {
                    // A failed worker stops the reader, which would otherwise wait on a full channel forever.
                    await failed.CancelAsync();
                    throw;
                }
            },
            token)).ToList();
        await Task.WhenAll([reader, .. workers]);
        var parts = await Task.WhenAll(workers);
        return LogScan.Combine(parts);
    }

    /// <summary>The rebuild's scan for stores without raw reads (Cosmos): parsed bodies, one page after another.</summary>
    private async Task<LogScan> ReadLogParsedAsync(string projectId, CancellationToken ct)
    {
        var scan = new LogScan();
        var fields = new ProjectedEvent();
        string? token = null;
        do
        {
            var page = await Log.QueryAsync(new DocumentQuery(ActivityContainers.Partition(projectId), null, null, DocumentLimits.MaxPageSize, token), ct);
            foreach (var doc in page.Items)
            {
                AnalyticsProjection.Project(fields.From(doc.Body), scan.Deltas);
                scan.Saw(doc.Id, Encoding.UTF8.GetBytes(doc.Body["at"]?.GetValue<string>() ?? string.Empty));
            }

            token = page.ContinuationToken;
        }
        while (token is not null);
        return LogScan.Combine([scan]);
    }

    private async Task<long> CatchUpLockedAsync(string projectId, ProjectCube cube, CancellationToken ct)
    {
        var partition = AnalyticsContainers.Partition(projectId);
        var logPartition = ActivityContainers.Partition(projectId);
        long projected = 0;
        var fields = new ProjectedEvent();
        for (var attempt = 0; ; attempt++)
        {
            var (checkpoint, etag) = await ReadCheckpointAsync(partition, ct);
            await SyncCacheAsync(partition, cube, checkpoint, ct);
            var window = await LoadWindowAsync(partition, cube, checkpoint, ct);
            var deltas = new CubeDeltas();
            var processed = new List<(string Id, string At)>();
            var maxAt = checkpoint.Watermark;
            var cut = false;
            var where = await NewEventsFilterAsync(logPartition, checkpoint, window, ct);
            string? token = null;
            do
            {
                // Each event as (id, parsed fields, at); the raw path skips already-projected ids before parsing.
                var page = await ReadLogPageAsync(new DocumentQuery(logPartition, where, [new SortField("at"), new SortField("id")], DocumentLimits.MaxPageSize, token), ct);
                Interlocked.Add(ref _eventsRead, page.Items.Count);
                foreach (var (id, body) in page.Items)
                {
                    if (window.Contains(id))
                    {
                        continue;
                    }

                    var at = body.Fill(fields);
                    var contributions = AnalyticsProjection.Contributions(fields);
                    if (processed.Count > 0 && deltas.Cells.Count + deltas.NewCells(contributions.Select(c => c.Key)) > RowsPerBatch)
                    {
                        cut = true;
                        break;
                    }

                    foreach (var (key, metric, by) in contributions)
                    {
                        deltas.Add(key, metric, by);
                    }

                    processed.Add((id, at));
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

            var version = checkpoint.Version + 1;
            var totals = deltas.Cells.ToDictionary(c => c.Key, c => Sum(cube.Cells.GetValueOrDefault(c.Key), c.Value));
            var batch = totals.Select(t => BatchOperation.Upsert(RowId(checkpoint.Generation, t.Key), RowBody(checkpoint.Generation, version, t.Key, t.Value))).ToList();
            var change = NextWindow(checkpoint, etag, window, processed, maxAt!, version);
            batch.AddRange(change.Operations);
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

            Remember(cube, checkpoint.Generation, change);

            cube.Version = version;
            projected += processed.Count;
            Interlocked.Add(ref _eventsProjected, processed.Count);
            if (!cut)
            {
                return projected;
            }
        }
    }

    /// <summary>
    /// Which part of the log a catch-up reads. The events stamped in the straggler window below the watermark were
    /// all projected (their ids are in the checkpoint) unless one committed late; counting that stretch of the
    /// <c>at</c> index is far cheaper than reading it, so the window is read again only when the count says a
    /// straggler is there, and otherwise only events stamped at or after the watermark are read: the work per
    /// catch-up follows the new events, not the events of the last 10 s.
    /// </summary>
    private async Task<Filter?> NewEventsFilterAsync(string logPartition, Checkpoint checkpoint, ProjectedWindow window, CancellationToken ct)
    {
        var watermark = checkpoint.Watermark;
        if (watermark is null)
        {
            return null;
        }

        var floor = WindowStart(watermark);
        var projectedBelow = window.CountIn(floor, watermark);
        var loggedBelow = await Log.CountAsync(logPartition, Filter.And(Filter.Gte("at", floor), Filter.Lt("at", watermark)), ct);
        if (loggedBelow == projectedBelow)
        {
            return Filter.Gte("at", watermark);
        }

        Interlocked.Increment(ref _windowRereads);
        return Filter.Gte("at", floor);
    }

    /// <summary>One page of the log as (id, body): bytes where the store has them, parsed bodies otherwise.</summary>
    private async Task<(IReadOnlyList<(string Id, EventBody Body)> Items, string? ContinuationToken)> ReadLogPageAsync(DocumentQuery query, CancellationToken ct)
    {
        if (Log is IRawDocumentQuery raw)
        {
            var page = await raw.QueryRawAsync(query, ct);
            return ([.. page.Items.Select(d => (d.Id, new EventBody(d.Utf8Body, null)))], page.ContinuationToken);
        }

        var parsed = await Log.QueryAsync(query, ct);
        return ([.. parsed.Items.Select(d => (d.Id, new EventBody(default, d.Body)))], parsed.ContinuationToken);
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
        var pool = new StringPool();
        do
        {
            var query = new DocumentQuery(partition, where, null, DocumentLimits.MaxPageSize, token);
            if (Cube is IRawDocumentQuery raw)
            {
                // A fresh instance loads every row of the project: reading the bytes is several times cheaper than
                // building a JsonObject per row, and the pool shares the few distinct dimension values.
                var page = await raw.QueryRawAsync(query, ct);
                foreach (var doc in page.Items)
                {
                    var (key, counters) = ParseRow(doc.Utf8Body.Span, pool);
                    cube.Cells[key] = counters;
                }

                token = page.ContinuationToken;
            }
            else
            {
                var page = await Cube.QueryAsync(query, ct);
                foreach (var doc in page.Items)
                {
                    var (key, counters) = ParseRow(doc.Body);
                    cube.Cells[key] = counters;
                }

                token = page.ContinuationToken;
            }
        }
        while (token is not null);

        cube.Generation = checkpoint.Generation;
        cube.Version = checkpoint.Version;
    }

    /// <summary>Deletes a generation's rows and window documents.</summary>
    private async Task DeleteGenerationAsync(string partition, long generation, CancellationToken ct)
    {
        while (true)
        {
            var page = await Cube.QueryAsync(new DocumentQuery(partition, Filter.And(Filter.In("kind", [RowKind, WindowKind]), Filter.Eq("g", generation)), null, DocumentLimits.MaxBatchOperations), ct);
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
        return doc is null ? (new Checkpoint(0, 0, null, [], []), null) : (Checkpoint.From(doc.Body), doc.ETag);
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

    internal static (CubeKey Key, long[] Counters) ParseRow(JsonObject body)
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

    /// <summary>An event's body as stored bytes (raw path) or as a parsed object.</summary>
    private readonly record struct EventBody(ReadOnlyMemory<byte> Utf8, JsonObject? Parsed)
    {
        /// <summary>Fills <paramref name="fields"/> and returns <c>at</c>.</summary>
        public string Fill(ProjectedEvent fields)
        {
            if (Parsed is not null)
            {
                fields.From(Parsed);
                return Parsed["at"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : string.Empty;
            }

            // A fresh pool per event: incremental pages are small and the pool is not thread-safe.
            return Encoding.UTF8.GetString(fields.From(Utf8.Span, new StringPool()));
        }
    }

    /// <summary>What a scan of the log gathered: deltas, events, the newest stamp and the ids near it.</summary>
    private sealed class LogScan
    {
        private readonly List<(string Id, string At)> _near = [];
        private byte[] _maxAt = [];
        private byte[] _floor = [];
        private int _pruneAt = 1024;

        public CubeDeltas Deltas { get; private set; } = new();

        public long Events { get; private set; }

        public string? MaxAt { get; private set; }

        public IReadOnlyList<(string Id, string At)> Near => _near;

        /// <summary>Counts the event and keeps its id when it is stamped within the window of the newest stamp.</summary>
        public void Saw(string id, ReadOnlySpan<byte> at)
        {
            Events++;
            if (Events == 1 || at.SequenceCompareTo(_maxAt) > 0)
            {
                _maxAt = at.ToArray();
                _floor = Encoding.UTF8.GetBytes(WindowStart(Encoding.UTF8.GetString(at)));
            }

            if (at.SequenceCompareTo(_floor) >= 0)
            {
                _near.Add((id, Encoding.UTF8.GetString(at)));
                if (_near.Count >= _pruneAt)
                {
                    // Pruned in amortized steps: a log read in stamp order moves the floor on every event.
                    Prune();
                    _pruneAt = Math.Max(1024, _near.Count * 2);
                }
            }
        }

        public static LogScan Combine(IReadOnlyList<LogScan> parts)
        {
            var all = new LogScan { Deltas = parts[0].Deltas };
            foreach (var part in parts)
            {
                if (!ReferenceEquals(part.Deltas, all.Deltas))
                {
                    all.Deltas.Merge(part.Deltas);
                }

                all.Events += part.Events;
                if (part.Events > 0 && (all.MaxAt is null || part._maxAt.AsSpan().SequenceCompareTo(all._maxAt) > 0))
                {
                    all._maxAt = part._maxAt;
                    all.MaxAt = Encoding.UTF8.GetString(part._maxAt);
                }
            }

            if (all.MaxAt is not null)
            {
                all._floor = Encoding.UTF8.GetBytes(WindowStart(all.MaxAt));
                foreach (var part in parts)
                {
                    all._near.AddRange(part._near);
                }

                all.Prune();
            }

            return all;
        }

        private void Prune()
        {
            var floor = Encoding.UTF8.GetString(_floor);
            _near.RemoveAll(p => string.CompareOrdinal(p.At, floor) < 0);
        }
    }

    /// <summary><see cref="ParseRow(JsonObject)"/> over the stored bytes.</summary>
    internal static (CubeKey Key, long[] Counters) ParseRow(ReadOnlySpan<byte> utf8, StringPool pool)
    {
        string day = string.Empty, task = string.Empty, dataset = string.Empty, stage = string.Empty, user = string.Empty, label = string.Empty, source = string.Empty, tag = string.Empty;
        var counters = new long[CubeDeltas.MetricCount];
        var reader = new Utf8JsonReader(utf8);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            var field = name.Length switch
            {
                1 when name[0] == (byte)'m' => 9,
                3 when reader.ValueTextEquals("day"u8) => 1,
                3 when reader.ValueTextEquals("tag"u8) => 8,
                4 when reader.ValueTextEquals("task"u8) => 2,
                4 when reader.ValueTextEquals("user"u8) => 5,
                5 when reader.ValueTextEquals("stage"u8) => 4,
                5 when reader.ValueTextEquals("label"u8) => 6,
                6 when reader.ValueTextEquals("source"u8) => 7,
                7 when reader.ValueTextEquals("dataset"u8) => 3,
                _ => 0,
            };
            reader.Read();
            if (field == 9 && reader.TokenType == JsonTokenType.StartArray)
            {
                for (var i = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; i++)
                {
                    if (i < counters.Length && reader.TokenType == JsonTokenType.Number)
                    {
                        counters[i] = reader.GetInt64();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                continue;
            }

            if (field == 0 || reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                continue;
            }

            var value = pool.Get(ref reader);
            switch (field)
            {
                case 1: day = value; break;
                case 2: task = value; break;
                case 3: dataset = value; break;
                case 4: stage = value; break;
                case 5: user = value; break;
                case 6: label = value; break;
                case 7: source = value; break;
                default: tag = value; break;
            }
        }

        return (new CubeKey(day, task, dataset, stage, user, label, source, tag), counters);
    }

    /// <summary>One project's cached cube; <see cref="Gate"/> guards it (projection and reads take it in turn).</summary>
    private sealed class ProjectCube
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public long Generation { get; set; } = -1;

        public long Version { get; set; } = -1;

        public Dictionary<CubeKey, long[]> Cells { get; } = [];

        /// <summary>The straggler window's seconds as this instance last read or wrote them, by document id.</summary>
        public Dictionary<string, WindowSecond> Window { get; } = new(StringComparer.Ordinal);
    }
}
