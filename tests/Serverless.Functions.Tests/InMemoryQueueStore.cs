using Serverless.Core.Storage.Queues;

namespace Serverless.Functions.Tests;

/// <summary>
/// A test double of <see cref="IQueueStore"/> for the unit tests of <c>QueueMessagePump</c>: visibility,
/// dequeue counts and pop receipts behave like Azure Queue Storage, on a clock the test advances.
/// </summary>
public sealed class InMemoryQueueStore : IQueueStore
{
    private readonly Dictionary<string, List<Entry>> _queues = new(StringComparer.Ordinal);
    private int _sequence;

    public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Every visibility timeout set through <see cref="UpdateVisibilityAsync"/>, in order.</summary>
    public List<TimeSpan> VisibilityUpdates { get; } = [];

    public IReadOnlyList<string> Texts(string queue) =>
        _queues.TryGetValue(queue, out var entries) ? entries.Select(e => e.Text).ToList() : [];

    public bool Exists(string queue) => _queues.ContainsKey(queue);

    public void Add(string queue, string text, long dequeueCount = 0)
    {
        Queue(queue).Add(new Entry($"m{++_sequence}", text) { DequeueCount = dequeueCount, NextVisibleOn = Now, InsertedOn = Now });
    }

    public Task CreateIfNotExistsAsync(string queue, CancellationToken cancellationToken = default)
    {
        Queue(queue);
        return Task.CompletedTask;
    }

    public Task<SentMessage> SendAsync(string queue, string text, TimeSpan? visibilityDelay = null, TimeSpan? timeToLive = null, CancellationToken cancellationToken = default)
    {
        if (!_queues.TryGetValue(queue, out var entries))
        {
            throw new QueueNotFoundException($"Queue {queue} does not exist.", "QueueNotFound");
        }

        var entry = new Entry($"m{++_sequence}", text) { InsertedOn = Now, NextVisibleOn = Now + (visibilityDelay ?? TimeSpan.Zero) };
        entries.Add(entry);
        return Task.FromResult(new SentMessage(entry.Id, entry.PopReceipt, entry.InsertedOn, entry.NextVisibleOn));
    }

    public Task<IReadOnlyList<QueueMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        var received = new List<QueueMessage>();
        foreach (var entry in Queue(queue).Where(e => e.NextVisibleOn <= Now).Take(maxMessages))
        {
            entry.DequeueCount++;
            entry.PopReceipt = $"r{++_sequence}";
            entry.NextVisibleOn = Now + visibilityTimeout;
            received.Add(new QueueMessage(entry.Id, entry.PopReceipt, entry.Text, entry.DequeueCount, entry.InsertedOn, entry.NextVisibleOn));
        }

        return Task.FromResult<IReadOnlyList<QueueMessage>>(received);
    }

    public Task<bool> DeleteAsync(string queue, string messageId, string popReceipt, CancellationToken cancellationToken = default) =>
        Task.FromResult(Queue(queue).RemoveAll(e => e.Id == messageId && e.PopReceipt == popReceipt) > 0);

    public Task<string> UpdateVisibilityAsync(string queue, string messageId, string popReceipt, TimeSpan visibilityTimeout, CancellationToken cancellationToken = default)
    {
        var entry = Queue(queue).SingleOrDefault(e => e.Id == messageId && e.PopReceipt == popReceipt)
            ?? throw new QueueNotFoundException($"Message {messageId} or its receipt is gone.", "MessageNotFound");
        VisibilityUpdates.Add(visibilityTimeout);
        entry.NextVisibleOn = Now + visibilityTimeout;
        entry.PopReceipt = $"r{++_sequence}";
        return Task.FromResult(entry.PopReceipt);
    }

    public Task<IReadOnlyList<PeekedMessage>> PeekAsync(string queue, int maxMessages = 1, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<PeekedMessage>>(Queue(queue).Where(e => e.NextVisibleOn <= Now).Take(maxMessages)
            .Select(e => new PeekedMessage(e.Id, e.Text, e.DequeueCount, e.InsertedOn)).ToList());

    public Task<int> GetApproximateCountAsync(string queue, CancellationToken cancellationToken = default) => Task.FromResult(Queue(queue).Count);

    public Task<bool> PingAsync(CancellationToken cancellationToken = default) => Task.FromResult(true);

    private List<Entry> Queue(string queue)
    {
        if (!_queues.TryGetValue(queue, out var entries))
        {
            entries = [];
            _queues[queue] = entries;
        }

        return entries;
    }

    private sealed class Entry(string id, string text)
    {
        public string Id { get; } = id;

        public string Text { get; } = text;

        public string PopReceipt { get; set; } = string.Empty;

        public long DequeueCount { get; set; }

        public DateTimeOffset InsertedOn { get; set; }

        public DateTimeOffset NextVisibleOn { get; set; }
    }
}
