using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;

namespace Serverless.Durable.Storage;

/// <summary>An instance document as read: its state, ETag and where its history is.</summary>
internal sealed record InstanceRecord(OrchestrationState State, string ETag, string HistoryExecution, int Pages);

/// <summary>History of one execution as cached by a worker, with what is needed to append to its last page.</summary>
internal sealed class CachedHistory(string etag, string execution, List<HistoryEvent> events, int pages, List<string> lastPage, int lastPageBytes)
{
    public string ETag { get; set; } = etag;

    public string Execution { get; set; } = execution;

    public List<HistoryEvent> Events { get; } = events;

    public int Pages { get; set; } = pages;

    public List<string> LastPage { get; set; } = lastPage;

    public int LastPageBytes { get; set; } = lastPageBytes;
}

/// <summary>
/// Instances and histories in the document store. Partition key = instance id, so one instance's state and
/// history pages commit in one atomic batch guarded by the instance document's ETag. History is split into pages
/// (documents) of at most <see cref="MaxPageEvents"/> events / <see cref="MaxPageBytes"/> bytes; an event too large
/// for a page (over <see cref="MaxInlineBytes"/>) and oversized state fields are gzipped to blobs and referenced.
/// </summary>
internal sealed class InstanceStore(IDocumentStore store, MessageCodec codec, StorageBackendOptions options)
{
    public const string InstanceId = "instance";
    public const int MaxPageEvents = 200;
    public const int MaxPageBytes = 512 * 1024;
    public const int MaxInlineBytes = 256 * 1024;

    private IDocumentContainer? container;

    public IDocumentContainer Container => container ?? throw new InvalidOperationException("Call EnsureAsync first.");

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await store.EnsureContainerAsync(options.InstancesContainerSpec, cancellationToken).ConfigureAwait(false);
        container = store.Container(options.InstancesContainer);
    }

    public static string PageId(string execution, int page) => $"h-{execution}-{page.ToString("D6", CultureInfo.InvariantCulture)}";

    public async Task<InstanceRecord?> ReadAsync(string instanceId, CancellationToken cancellationToken)
    {
        var doc = await Container.ReadAsync(instanceId, InstanceId, cancellationToken).ConfigureAwait(false);
        return doc is null ? null : await ToRecordAsync(doc, cancellationToken).ConfigureAwait(false);
    }

    public async Task<InstanceRecord> ToRecordAsync(StoredDocument doc, CancellationToken cancellationToken)
    {
        var b = doc.Body;
        var state = new OrchestrationState(
            doc.PartitionKey,
            (string)b["name"]!,
            (string)b["executionId"]!,
            Enum.Parse<OrchestrationRuntimeStatus>((string)b["status"]!),
            await FieldAsync(b, "input", cancellationToken).ConfigureAwait(false),
            await FieldAsync(b, "output", cancellationToken).ConfigureAwait(false),
            await FieldAsync(b, "customStatus", cancellationToken).ConfigureAwait(false),
            b["failure"] is JsonNode f ? f.Deserialize<FailureDetails>(DurableJson.Options) : null,
            DateTimeOffset.Parse((string)b["createdAt"]!, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse((string)b["lastUpdatedAt"]!, CultureInfo.InvariantCulture),
            b["parent"] is JsonNode p ? p.Deserialize<ParentInstance>(DurableJson.Options) : null);
        return new InstanceRecord(state, doc.ETag, (string?)b["historyExecution"] ?? state.ExecutionId, (int?)b["pages"] ?? 0);
    }

    /// <summary>Reads all pages of the record's history.</summary>
    public async Task<CachedHistory> ReadHistoryAsync(string instanceId, InstanceRecord record, CancellationToken cancellationToken)
    {
        var events = new List<HistoryEvent>();
        var lastPage = new List<string>();
        var lastBytes = 0;
        for (var page = 0; page < record.Pages; page++)
        {
            var doc = await Container.ReadAsync(instanceId, PageId(record.HistoryExecution, page), cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"History page {page} of instance '{instanceId}' is missing.");
            using var parsed = JsonDocument.Parse((string)doc.Body["events"]!);
            var isLast = page == record.Pages - 1;
            foreach (var element in parsed.RootElement.EnumerateArray())
            {
                if (element.TryGetProperty("$ref", out var reference))
                {
                    var text = await codec.DownloadGzipAsync(reference.GetString()!, cancellationToken).ConfigureAwait(false);
                    events.Add(MessageCodec.Deserialize<HistoryEvent>(text)!);
                }
                else
                {
                    events.Add(element.Deserialize<HistoryEvent>(DurableJson.Options)!);
                }

                if (isLast)
                {
                    var raw = element.GetRawText();
                    lastPage.Add(raw);
                    lastBytes += raw.Length;
                }
            }
        }

        return new CachedHistory(record.ETag, record.HistoryExecution, events, record.Pages, lastPage, lastBytes);
    }

    /// <summary>
    /// Appends <paramref name="newEvents"/> to <paramref name="history"/>'s pages: returns the page documents to
    /// upsert and updates <paramref name="history"/> (caller commits them, then keeps or drops the cache).
    /// </summary>
    public async Task<List<BatchOperation>> AppendAsync(string instanceId, CachedHistory history, IReadOnlyList<HistoryEvent> newEvents, CancellationToken cancellationToken)
    {
        var ops = new List<BatchOperation>();
        if (newEvents.Count == 0)
        {
            return ops;
        }

        var page = history.Pages == 0 ? 0 : history.Pages - 1;
        var entries = history.Pages == 0 ? [] : new List<string>(history.LastPage);
        var bytes = history.Pages == 0 ? 0 : history.LastPageBytes;
        var dirty = false;
        foreach (var e in newEvents)
        {
            var json = MessageCodec.Serialize<HistoryEvent>(e);
            if (json.Length > MaxInlineBytes)
            {
                var blob = $"history/{instanceId}/{history.Execution}/{e.SequenceNumber.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.json.gz";
                await codec.UploadGzipAsync(blob, json, cancellationToken).ConfigureAwait(false);
                json = new JsonObject { ["$ref"] = blob }.ToJsonString();
            }

            if (entries.Count > 0 && (entries.Count >= MaxPageEvents || bytes + json.Length > MaxPageBytes))
            {
                ops.Add(PageOp(history.Execution, page, entries));
                page++;
                entries = [];
                bytes = 0;
            }

            entries.Add(json);
            bytes += json.Length;
            dirty = true;
            history.Events.Add(e);
        }

        if (dirty)
        {
            ops.Add(PageOp(history.Execution, page, entries));
        }

        history.Pages = page + 1;
        history.LastPage = entries;
        history.LastPageBytes = bytes;
        return ops;
    }

    /// <summary>The instance document body for <paramref name="state"/>, moving oversized fields to blobs.</summary>
    public async Task<JsonObject> InstanceBodyAsync(OrchestrationState state, string historyExecution, int pages, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["docType"] = "instance",
            ["name"] = state.Name,
            ["executionId"] = state.ExecutionId,
            ["status"] = state.Status.ToString(),
            ["createdAt"] = state.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["lastUpdatedAt"] = state.LastUpdatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["historyExecution"] = historyExecution,
            ["pages"] = pages,
        };
        await SetFieldAsync(body, state.InstanceId, "input", state.Input, cancellationToken).ConfigureAwait(false);
        await SetFieldAsync(body, state.InstanceId, "output", state.Output, cancellationToken).ConfigureAwait(false);
        await SetFieldAsync(body, state.InstanceId, "customStatus", state.CustomStatus, cancellationToken).ConfigureAwait(false);
        if (state.Failure is not null)
        {
            body["failure"] = JsonSerializer.SerializeToNode(state.Failure, DurableJson.Options);
        }

        if (state.Parent is not null)
        {
            body["parent"] = JsonSerializer.SerializeToNode(state.Parent, DurableJson.Options);
        }

        return body;
    }

    private static BatchOperation PageOp(string execution, int page, List<string> entries)
    {
        var text = new StringBuilder("[").AppendJoin(',', entries).Append(']').ToString();
        return BatchOperation.Upsert(PageId(execution, page), new JsonObject
        {
            ["docType"] = "history",
            ["execution"] = execution,
            ["count"] = entries.Count,
            ["events"] = text,
        });
    }

    private async Task SetFieldAsync(JsonObject body, string instanceId, string field, string? value, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            return;
        }

        if (value.Length <= MaxInlineBytes)
        {
            body[field] = value;
            return;
        }

        var blob = $"state/{instanceId}/{field}-{Guid.NewGuid():N}.json.gz";
        await codec.UploadGzipAsync(blob, value, cancellationToken).ConfigureAwait(false);
        body[field + "Ref"] = blob;
    }

    private async Task<string?> FieldAsync(JsonObject body, string field, CancellationToken cancellationToken)
    {
        if (body[field + "Ref"] is JsonNode reference)
        {
            return await codec.DownloadGzipAsync((string)reference!, cancellationToken).ConfigureAwait(false);
        }

        return (string?)body[field];
    }
}
