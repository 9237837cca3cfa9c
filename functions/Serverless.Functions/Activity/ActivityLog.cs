using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Activity;

/// <summary>
/// The activity log: append-only events in the project's partition of the <c>activity</c> container.
/// </summary>
/// <remarks>
/// Events are written right after the action they record commits, with upserts keyed by event id, so a
/// retried write never duplicates an event. A process that dies between the action and its event loses that
/// event: the action itself is kept (it matters more), and the window is one local write wide.
/// </remarks>
public sealed class ActivityLog(IDocumentStore store, IEnumerable<IActivityHook> hooks)
{
    private readonly IActivityHook[] _hooks = [.. hooks];

    private IDocumentContainer Container => store.Container(ActivityContainers.Activity);

    /// <summary>Reads one event by id; null when absent.</summary>
    public async Task<ActivityEvent?> GetAsync(string projectId, string eventId, CancellationToken ct)
    {
        var doc = await Container.ReadAsync(ActivityContainers.Partition(projectId), eventId, ct);
        return doc?.Body.Deserialize<ActivityEvent>(DocumentJson.Options);
    }

    /// <summary>Appends events (idempotent per event id). All events must belong to one project.</summary>
    public async Task RecordAsync(IReadOnlyList<ActivityEvent> events, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(events);
        foreach (var hook in _hooks)
        {
            events = await hook.EnrichAsync(events, ct);
        }

        foreach (var group in events.GroupBy(e => e.ProjectId, StringComparer.Ordinal))
        {
            // Several batches side by side on pool threads (the SQLite store completes a write synchronously when its
            // lock is free): their serialization runs in parallel and their writes queue up and share commits.
            var partition = ActivityContainers.Partition(group.Key);
            var chunks = group.Chunk(DocumentLimits.MaxBatchOperations).ToList();
            Task Write(ActivityEvent[] chunk) => Container.ExecuteBatchAsync(partition, [.. chunk.Select(e => BatchOperation.UpsertRaw(e.Id, RawBody(partition, e)))], ct);
            await (chunks.Count == 1 ? Write(chunks[0]) : Task.WhenAll(chunks.Select(chunk => Task.Run(() => Write(chunk), ct))));

            foreach (var hook in _hooks)
            {
                hook.Recorded(group.Key);
            }
        }
    }

    /// <summary>One page of a project's events, oldest first.</summary>
    public async Task<Page<ActivityEvent>> QueryAsync(string projectId, ActivityQuery query, int pageSize, string? continuationToken, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        var filters = new List<Filter>();
        if (query.From is not null)
        {
            filters.Add(Filter.Gte("at", query.From));
        }

        if (query.To is not null)
        {
            filters.Add(Filter.Lt("at", query.To));
        }

        if (query.Actor is not null)
        {
            filters.Add(Filter.Eq("actor", query.Actor));
        }

        if (query.TaskId is not null)
        {
            filters.Add(Filter.Eq("taskId", query.TaskId));
        }

        if (query.ItemId is not null)
        {
            filters.Add(Filter.Eq("itemId", query.ItemId));
        }

        if (query.Kind is not null)
        {
            filters.Add(query.Kind.EndsWith('.') ? Filter.StartsWith("kind", query.Kind) : Filter.Eq("kind", query.Kind));
        }

        var where = filters.Count switch
        {
            0 => null,
            1 => filters[0],
            _ => Filter.And([.. filters]),
        };
        var page = await Container.QueryAsync(
            new DocumentQuery(ActivityContainers.Partition(projectId), where, [new SortField("at"), new SortField("id")], pageSize, continuationToken),
            ct);
        return new Page<ActivityEvent>([.. page.Items.Select(d => d.Body.Deserialize<ActivityEvent>(DocumentJson.Options)!)], page.ContinuationToken);
    }

    /// <summary>
    /// The event as stored: its JSON with the partition key put first (<c>{"pk":…,</c> then the event's own properties,
    /// <c>id</c> among them), for <see cref="BatchOperation.UpsertRaw"/>. A batch status records a hundred thousand
    /// events; as trees, each was built, copied by the store and serialized again.
    /// </summary>
    public static byte[] RawBody(string partition, ActivityEvent e)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(e, DocumentJson.Options);
        var pk = JsonSerializer.SerializeToUtf8Bytes(partition, DocumentJson.Options);
        var raw = new byte[PkPrefix.Length + pk.Length + body.Length];
        PkPrefix.CopyTo(raw);
        pk.CopyTo(raw, PkPrefix.Length);
        raw[PkPrefix.Length + pk.Length] = (byte)',';
        body.AsSpan(1).CopyTo(raw.AsSpan(PkPrefix.Length + pk.Length + 1));
        return raw;
    }

    private static ReadOnlySpan<byte> PkPrefix => "{\"pk\":"u8;
}
