using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Core.Filters;
using Serverless.Functions.Activity;
using Serverless.Functions.Analytics;
using Serverless.Functions.Identity;
using Serverless.Storage.Sqlite;

namespace Serverless.Functions.Tests.Analytics;

/// <summary>
/// The projector on a real SQLite store, below the HTTP routes: the raw-bytes projection against the parsed one,
/// stragglers, the cost of a catch-up, rebuild against incremental, and the coalesced wake-up.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the store through IAsyncLifetime.DisposeAsync.")]
public sealed class AnalyticsProjectorTests : IAsyncLifetime
{
    private const string ProjectId = "p_proj";
    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"analytics-projector-{Guid.NewGuid():N}");
    private SqliteDocumentStore _store = null!;
    private ActivityLog _log = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(Path.Combine(_dir, "analytics.db")), NullLogger<SqliteDocumentStore>.Instance);
        foreach (var spec in ActivityContainers.All.Concat(AnalyticsContainers.All))
        {
            await _store.EnsureContainerAsync(spec);
        }

        _log = new ActivityLog(_store, []);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(10, 100)]
    [InlineData(60, 240)]
    [InlineData(250, 1000)]
    [InlineData(5000, 1000)]
    public void NextDelay_LastCatchUp_FourTimesItWithinBounds(int lastMs, int expectedMs)
    {
        var delay = AnalyticsBackgroundProjector.NextDelay(TimeSpan.FromMilliseconds(lastMs));

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), delay);
    }

    [Fact]
    public async Task BackgroundRounds_WritesDuringACatchUp_WaitForTheNextRoundThenEachProjectOnce()
    {
        // Arrange: a first catch-up of 200 ms during which two projects' logs grow (one of them its own, twice).
        var signal = new AnalyticsSignal();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var calls = new List<(string Project, long AtMs)>();
        using var stop = new CancellationTokenSource();
        var done = new TaskCompletionSource();
        var loop = AnalyticsBackgroundProjector.RunRoundsAsync(signal, async projectId =>
        {
            lock (calls)
            {
                calls.Add((projectId, clock.ElapsedMilliseconds));
                if (calls.Count == 3)
                {
                    done.TrySetResult();
                }
            }

            if (calls.Count == 1)
            {
                signal.Recorded("p1");
                signal.Recorded("p2");
                signal.Recorded("p1");
                await Task.Delay(200);
            }
        }, stop.Token);

        // Act
        signal.Recorded("p1");
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);

        // Assert: the second round starts no sooner than four times the first one's 200 ms after it ended (it used to
        // start at once), and catches up each project once.
        Assert.Equal(["p1", "p1", "p2"], calls.Select(c => c.Project));
        Assert.True(calls[1].AtMs - calls[0].AtMs >= 200 + 700, $"second round {calls[1].AtMs - calls[0].AtMs} ms after the first");
        Assert.True(calls[2].AtMs - calls[1].AtMs < 500, $"p2 {calls[2].AtMs - calls[1].AtMs} ms after p1 in the same round");
    }

    [Fact]
    public void From_StoredBytes_SameContributionsAsParsedBody()
    {
        // Arrange: every kind, plus nulls, mistyped fields, escapes, a fraction and unknown nested values.
        var random = new Random(3);
        var bodies = Enumerable.Range(0, 400).Select(i => Body(RandomEvent(random, i, T0.AddSeconds(i)))).ToList();
        bodies.Add(JsonNode.Parse("""{"kind":"status.set","at":"2026-11-02T09:00:00Z","actor":"u\u00e9\"x","stage":"qa","taskId":7,"extra":{"a":[1,{"b":2}]},"data":{"status":"APPROVED","labels":{"c\u0061r":2,"bad":"x","frac":2.9,"nested":{"n":1}},"annotator":null,"sourceTaskId":"t_1"}}""")!.AsObject());
        bodies.Add(JsonNode.Parse("""{"kind":"time.stop","at":"2026-11-02T09:00:01Z","actor":"u","data":{"ms":1234.9,"newItem":{"x":1},"wasResolved":true}}""")!.AsObject());
        bodies.Add(JsonNode.Parse("""{"kind":"item.skipped","at":"short","actor":"u"}""")!.AsObject());
        bodies.Add(JsonNode.Parse("""{"kind":null,"at":"2026-11-02T09:00:01Z","data":null}""")!.AsObject());
        var pool = new StringPool();
        var raw = new ProjectedEvent();

        foreach (var body in bodies)
        {
            // Act
            var parsed = AnalyticsProjection.Contributions(body);
            raw.From(JsonSerializer.SerializeToUtf8Bytes(body), pool);
            var fromBytes = AnalyticsProjection.Contributions(raw);

            // Assert
            Assert.Equal(parsed, fromBytes);
        }

        Assert.Contains(bodies.SelectMany(b => AnalyticsProjection.Contributions(b)), c => c.Metric == Metric.LabelsApproved && c.Key.Label == "car" && c.By == 2);
    }

    [Fact]
    public async Task CatchUp_StragglerCommittedAfterLaterEvent_CountedOnce()
    {
        // Arrange: projected up to T0 + 5 s.
        var projector = new AnalyticsProjector(_store);
        await RecordAsync(Created("e1", T0), Created("e2", T0.AddSeconds(5)));
        await projector.CatchUpAsync(ProjectId, CancellationToken.None);

        // Act: an event stamped 3 s before the watermark commits now, then catch-ups run again and again.
        await RecordAsync(Created("e0", T0.AddSeconds(2)));
        var first = await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        var again = await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        await RecordAsync(Created("e0", T0.AddSeconds(2)));
        var replayed = await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        var created = await LabelsCreatedAsync(projector);

        // Assert
        Assert.Equal(1, first);
        Assert.Equal(0, again);
        Assert.Equal(0, replayed);
        Assert.Equal(3, created);
        Assert.Equal(1, projector.WindowRereads);
    }

    [Fact]
    public async Task CatchUp_CheckpointOfThePreviousFormat_ItsWindowIdsStillCountOnce()
    {
        // Arrange: projected up to T0 + 5 s, then the checkpoint rewritten as the previous version stored it
        // (the window's ids as a JSON object of id -> stamp), read by a projector with nothing cached.
        await RecordAsync(Created("e1", T0), Created("e2", T0.AddSeconds(5)));
        await new AnalyticsProjector(_store).CatchUpAsync(ProjectId, CancellationToken.None);
        var cube = _store.Container(AnalyticsContainers.Analytics);
        var partition = AnalyticsContainers.Partition(ProjectId);
        var stored = (await cube.ReadAsync(partition, "checkpoint"))!;
        var old = stored.Body.DeepClone().AsObject();
        old.Remove("window");
        old["recent"] = new JsonObject { ["e1"] = StoredTimestamp.Format(T0), ["e2"] = StoredTimestamp.Format(T0.AddSeconds(5)) };
        await cube.ReplaceAsync(partition, "checkpoint", old, stored.ETag);
        var projector = new AnalyticsProjector(_store);

        // Act: a straggler inside the window makes the catch-up read the window again.
        await RecordAsync(Created("e0", T0.AddSeconds(2)));
        var projected = await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        var created = await LabelsCreatedAsync(projector);
        var written = (await cube.ReadAsync(partition, "checkpoint"))!.Body;

        // Assert: e1 and e2 were known projected; the window now lives in window documents, a second each.
        Assert.Equal(1, projected);
        Assert.Equal(3, created);
        Assert.Null(written["recent"]);
        Assert.Null(written["recentByAt"]);
        Assert.Equal([$"{StoredTimestamp.Format(T0)}\te1", $"{StoredTimestamp.Format(T0.AddSeconds(2))}\te0", $"{StoredTimestamp.Format(T0.AddSeconds(5))}\te2"],
            (await WindowLinesAsync(written)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CatchUp_WindowMovesOn_OnlyItsSecondsAreKeptAndAFreshInstanceCountsStragglersOnce()
    {
        // Arrange: one event a second for 30 s, projected as they come.
        var projector = new AnalyticsProjector(_store);
        for (var i = 0; i < 30; i++)
        {
            await RecordAsync(Created($"s{i:D2}", T0.AddSeconds(i).AddMilliseconds(10 * i)));
            await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        }

        // Act: a straggler 4 s old, seen by an instance with nothing in memory; then a replayed old event.
        await RecordAsync(Created("late", T0.AddSeconds(25)));
        var fresh = new AnalyticsProjector(_store);
        var projected = await fresh.CatchUpAsync(ProjectId, CancellationToken.None);
        await RecordAsync(Created("s27", T0.AddSeconds(27).AddMilliseconds(270)));
        var replayed = await fresh.CatchUpAsync(ProjectId, CancellationToken.None);
        var checkpoint = (await _store.Container(AnalyticsContainers.Analytics).ReadAsync(AnalyticsContainers.Partition(ProjectId), "checkpoint"))!.Body;
        var windowDocs = await _store.Container(AnalyticsContainers.Analytics).CountAsync(AnalyticsContainers.Partition(ProjectId), Serverless.Core.Storage.Documents.Filter.Eq("kind", "window"));

        // Assert: the window (10 s below 29.29 s) holds the seconds 19 to 29: 11 documents, the rest deleted.
        Assert.Equal((1L, 0L), (projected, replayed));
        Assert.Equal(31, await LabelsCreatedAsync(fresh));
        Assert.Equal(11, windowDocs);
        Assert.Equal(12, (await WindowLinesAsync(checkpoint)).Count);
        Assert.Equal(1, fresh.WindowRereads);
    }

    /// <summary>The lines (stamp, then its ids) of every window document the checkpoint lists.</summary>
    private async Task<List<string>> WindowLinesAsync(JsonObject checkpoint)
    {
        var cube = _store.Container(AnalyticsContainers.Analytics);
        var lines = new List<string>();
        foreach (var second in checkpoint["window"]!.GetValue<string>().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]))
        {
            var doc = (await cube.ReadAsync(AnalyticsContainers.Partition(ProjectId), $"w.{checkpoint["g"]}.{second}"))!;
            lines.AddRange(doc.Body["ids"]!.GetValue<string>().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }

        return lines;
    }

    [Fact]
    public async Task CatchUp_OneNewEventAfterABusyWindow_ReadsOnlyTheNewEvent()
    {
        // Arrange: 300 events within the last 10 s, all projected.
        var projector = new AnalyticsProjector(_store);
        await RecordAsync([.. Enumerable.Range(0, 300).Select(i => Created($"w{i:D3}", T0.AddMilliseconds(20 * i)))]);
        await projector.CatchUpAsync(ProjectId, CancellationToken.None);
        var readBefore = projector.EventsRead;

        // Act
        await RecordAsync(Created("next", T0.AddSeconds(7)));
        var projected = await projector.CatchUpAsync(ProjectId, CancellationToken.None);

        // Assert: the new event plus the last one at the watermark's own stamp at most, not the window's 300.
        Assert.Equal(1, projected);
        Assert.InRange(projector.EventsRead - readBefore, 1, 2);
        Assert.Equal(0, projector.WindowRereads);
        Assert.Equal(301, await LabelsCreatedAsync(projector));
    }

    [Fact]
    public async Task Rebuild_ThenCatchUps_TheRebuiltWindowMatchesTheLogSoNothingIsReadAgain()
    {
        // Arrange: 300 events over 30 s, rebuilt.
        var projector = new AnalyticsProjector(_store);
        await RecordAsync([.. Enumerable.Range(0, 300).Select(i => Created($"r{i:D3}", T0.AddMilliseconds(100 * i)))]);
        await projector.RebuildAsync(ProjectId, CancellationToken.None);
        var fresh = new AnalyticsProjector(_store);

        // Act
        var nothing = await fresh.CatchUpAsync(ProjectId, CancellationToken.None);
        await RecordAsync(Created("next", T0.AddSeconds(31)));
        var one = await fresh.CatchUpAsync(ProjectId, CancellationToken.None);

        // Assert
        Assert.Equal((0L, 1L), (nothing, one));
        Assert.Equal(0, fresh.WindowRereads);
        Assert.Equal(301, await LabelsCreatedAsync(fresh));
    }

    [Fact]
    public async Task Rebuild_RandomLogWithStragglersAndReplays_SameCubeAsIncremental()
    {
        // Arrange: a log written in bursts (some events late, some recorded twice), projected after each burst.
        var incremental = new AnalyticsProjector(_store);
        var random = new Random(11);
        var all = new List<ActivityEvent>();
        for (var burst = 0; burst < 20; burst++)
        {
            var events = Enumerable.Range(0, 60).Select(i =>
            {
                var n = (burst * 60) + i;
                var lateBy = random.Next(10) == 0 ? -random.Next(1, 8000) : 0;
                return RandomEvent(random, n, T0.AddMilliseconds((250 * n) + lateBy));
            }).ToList();
            if (all.Count > 0)
            {
                events.Add(all[random.Next(all.Count)]);
            }

            all.AddRange(events);
            await RecordAsync([.. events]);
            await incremental.CatchUpAsync(ProjectId, CancellationToken.None);
        }

        var expected = await CellsAsync(incremental);

        // Act
        var rebuilt = await incremental.RebuildAsync(ProjectId, CancellationToken.None);
        var afterRebuild = await CellsAsync(incremental);
        var fresh = await CellsAsync(new AnalyticsProjector(_store));

        // Assert
        Assert.Equal(1200, rebuilt.Events);
        Assert.NotEmpty(expected);
        Assert.Equal(expected, afterRebuild);
        Assert.Equal(expected, fresh);
    }

    [Fact]
    public void Recorded_ManyWritesBeforeTheConsumerTakesThem_OneWakeUpPerProject()
    {
        // Arrange
        var signal = new AnalyticsSignal();

        // Act
        for (var i = 0; i < 200; i++)
        {
            signal.Recorded("p_a");
            signal.Recorded("p_b");
        }

        var first = Drain(signal);
        signal.Recorded("p_a");
        var notTaken = Drain(signal);
        signal.Taken("p_a");
        signal.Recorded("p_a");
        var afterTaken = Drain(signal);

        // Assert
        Assert.Equal(["p_a", "p_b"], first);
        Assert.Empty(notTaken);
        Assert.Equal(["p_a"], afterTaken);
    }

    private static List<string> Drain(AnalyticsSignal signal)
    {
        var items = new List<string>();
        while (signal.Reader.TryRead(out var item))
        {
            items.Add(item);
        }

        return items;
    }

    private async Task RecordAsync(params ActivityEvent[] events) => await _log.RecordAsync(events, CancellationToken.None);

    private static async Task<long> LabelsCreatedAsync(AnalyticsProjector projector) =>
        await projector.ReadAsync(ProjectId, cells => AnalyticsQueries.Summary(cells, new AnalyticsFilter(null, null, null, null, null, null, null, null)).LabelsCreated, CancellationToken.None);

    /// <summary>The non-empty cells, in a canonical text form.</summary>
    private static async Task<List<string>> CellsAsync(AnalyticsProjector projector) =>
        await projector.ReadAsync(
            ProjectId,
            cells => cells.Where(c => c.Value.Any(v => v != 0)).Select(c => $"{c.Key} = {string.Join(',', c.Value)}").Order(StringComparer.Ordinal).ToList(),
            CancellationToken.None);

    private static ActivityEvent Created(string id, DateTimeOffset at) =>
        new(id, ProjectId, ActivityKinds.AnnotationCreated, "u_1", "key:u_1", StoredTimestamp.Format(at), "t_1", "annotation", "d_1", "i_1", "a_" + id, "car");

    private static JsonObject Body(ActivityEvent e) => JsonSerializer.SerializeToNode(e, DocumentJson.Options)!.AsObject();

    private static ActivityEvent RandomEvent(Random random, int n, DateTimeOffset at)
    {
        var id = $"r{n:D5}";
        var user = $"u_{random.Next(4)}";
        var reviewer = $"u_r{random.Next(2)}";
        var label = random.Next(4) == 0 ? "person" : "car";
        var stamp = StoredTimestamp.Format(at);
        ActivityEvent Work(string kind, string? lbl = null, JsonObject? data = null) =>
            new(id, ProjectId, kind, user, "key:" + user, stamp, "t_1", "annotation", "d_1", "i_" + random.Next(50), lbl is null ? null : "a_" + id, lbl, data);
        ActivityEvent Review(string kind, JsonObject data, string? lbl = null) =>
            new(id, ProjectId, kind, reviewer, "key:" + reviewer, stamp, "t_2", "qa", "d_1", "i_" + random.Next(50), null, lbl, data);
        return random.Next(12) switch
        {
            0 => Work(ActivityKinds.AnnotationCreated, label),
            1 => Work(ActivityKinds.AnnotationEdited, label),
            2 => Work(ActivityKinds.AnnotationDeleted, label),
            3 => Work(ActivityKinds.StatusSet, data: new JsonObject { ["status"] = random.Next(3) == 0 ? "DISCARDED" : "COMPLETED", ["previous"] = null }),
            4 => Work(ActivityKinds.StatusCleared, data: new JsonObject { ["status"] = null, ["previous"] = "COMPLETED" }),
            5 => Work(ActivityKinds.ItemSkipped),
            6 => Review(ActivityKinds.StatusSet, new JsonObject { ["status"] = "APPROVED", ["previous"] = null, ["sourceTaskId"] = "t_1", ["annotator"] = user, ["labels"] = new JsonObject { [label] = 1 + random.Next(3), ["tree"] = 1 } }),
            7 => Review(ActivityKinds.IssueOpened, new JsonObject { ["tag"] = "tag" + random.Next(2), ["annotator"] = user, ["sourceTaskId"] = "t_1" }, label),
            8 => Review(ActivityKinds.IssueResolved, new JsonObject { ["tag"] = "tag0", ["annotator"] = user }, label),
            9 => Review(ActivityKinds.IssueReopened, new JsonObject { ["tag"] = "tag1", ["annotator"] = user, ["wasResolved"] = random.Next(2) == 0 }, label),
            10 => Review(ActivityKinds.StatusCleared, new JsonObject { ["previous"] = "APPROVED", ["sourceTaskId"] = "t_1", ["annotator"] = user, ["labels"] = new JsonObject { [label] = 1 } }),
            _ => Work("time.heartbeat", data: new JsonObject { ["ms"] = random.Next(1000, 60_000), ["newItem"] = random.Next(4) == 0 }),
        };
    }
}
