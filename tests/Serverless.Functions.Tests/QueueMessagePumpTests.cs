using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Serverless.Functions.Functions;
using Serverless.Functions.Local;

namespace Serverless.Functions.Tests;

/// <summary>Unit tests of the local poller's settlement rules: delete, back-off, poison.</summary>
public sealed class QueueMessagePumpTests
{
    private const string Queue = FunctionCatalog.DurableWorkQueue;

    private static QueueMessagePump Pump(InMemoryQueueStore store, int maxDequeueCount = 5) =>
        new(store, Options.Create(new LocalHostOptions { MaxDequeueCount = maxDequeueCount, QueueVisibilityTimeout = TimeSpan.FromMinutes(5) }), NullLogger<QueueMessagePump>.Instance);

    [Fact]
    public async Task PollOnce_HandlerSucceeds_MessageDeleted()
    {
        // Arrange
        var store = new InMemoryQueueStore();
        store.Add(Queue, "work-1");
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, Queue);

        // Act
        var count = await Pump(store).PollOnceAsync(handler, CancellationToken.None);

        // Assert
        Assert.Equal(1, count);
        Assert.Equal("work-1", Assert.Single(handler.Received).Text);
        Assert.Empty(store.Texts(Queue));
        Assert.False(store.Exists(QueueMessagePump.PoisonQueueName(Queue)));
    }

    [Fact]
    public async Task PollOnce_EmptyQueue_ReturnsZero()
    {
        // Arrange
        var store = new InMemoryQueueStore();
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, Queue);

        // Act
        var count = await Pump(store).PollOnceAsync(handler, CancellationToken.None);

        // Assert
        Assert.Equal(0, count);
        Assert.Empty(handler.Received);
    }

    [Fact]
    public async Task PollOnce_HandlerFails_MessageHiddenFor2PowDequeueCountSeconds()
    {
        // Arrange
        var store = new InMemoryQueueStore();
        store.Add(Queue, "work-1");
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, Queue, new InvalidOperationException("boom"));
        var pump = Pump(store);

        // Act
        await pump.PollOnceAsync(handler, CancellationToken.None);
        store.Now += TimeSpan.FromSeconds(1.9);
        var beforeBackoff = await pump.PollOnceAsync(handler, CancellationToken.None);
        store.Now += TimeSpan.FromSeconds(0.2);
        var afterBackoff = await pump.PollOnceAsync(handler, CancellationToken.None);

        // Assert
        Assert.Equal([TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4)], store.VisibilityUpdates);
        Assert.Equal(0, beforeBackoff);
        Assert.Equal(1, afterBackoff);
        Assert.Equal(["work-1"], store.Texts(Queue));
    }

    [Fact]
    public async Task PollOnce_HandlerAlwaysFails_MovedToPoisonAfterMaxDequeueCount()
    {
        // Arrange
        var store = new InMemoryQueueStore();
        store.Add(Queue, "work-1");
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, Queue, new InvalidOperationException("boom"));
        var pump = Pump(store);

        // Act
        for (var attempt = 0; attempt < 7; attempt++)
        {
            await pump.PollOnceAsync(handler, CancellationToken.None);
            store.Now += TimeSpan.FromMinutes(6);
        }

        // Assert
        Assert.Equal(5, handler.Received.Count);
        Assert.Equal([1L, 2L, 3L, 4L, 5L], handler.Received.Select(m => m.DequeueCount));
        Assert.Equal([2, 4, 8, 16], store.VisibilityUpdates.Select(t => t.TotalSeconds));
        Assert.Empty(store.Texts(Queue));
        Assert.Equal(["work-1"], store.Texts(QueueMessagePump.PoisonQueueName(Queue)));
    }

    [Fact]
    public async Task PollOnce_DequeueCountAlreadyAboveMax_PoisonedWithoutCallingTheHandler()
    {
        // Arrange: a message whose earlier attempts died with the process (5 receives, never settled).
        var store = new InMemoryQueueStore();
        store.Add(Queue, "work-1", dequeueCount: 5);
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, Queue);

        // Act
        await Pump(store).PollOnceAsync(handler, CancellationToken.None);

        // Assert
        Assert.Empty(handler.Received);
        Assert.Empty(store.Texts(Queue));
        Assert.Equal(["work-1"], store.Texts("durable-work-poison"));
    }

    [Fact]
    public async Task PollOnce_CancelledWhileHandling_MessageLeftForRedelivery()
    {
        // Arrange
        var store = new InMemoryQueueStore();
        store.Add(Queue, "work-1");
        using var cancellation = new CancellationTokenSource();
        var handler = new CancellingHandler(cancellation);

        // Act
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Pump(store).PollOnceAsync(handler, cancellation.Token));

        // Assert
        Assert.Equal(["work-1"], store.Texts(Queue));
        Assert.Empty(store.VisibilityUpdates);
        Assert.False(store.Exists(QueueMessagePump.PoisonQueueName(Queue)));
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(4, 16)]
    [InlineData(8, 256)]
    [InlineData(9, 300)]
    [InlineData(40, 300)]
    public void Backoff_DequeueCount_TwoToThePowerCappedAtFiveMinutes(long dequeueCount, double expectedSeconds)
    {
        // Arrange / Act
        var backoff = QueueMessagePump.Backoff(dequeueCount);

        // Assert
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), backoff);
    }

    private sealed class CancellingHandler(CancellationTokenSource cancellation) : IQueueMessageHandler
    {
        public string FunctionName => FunctionCatalog.DurableWork;

        public string QueueName => Queue;

        public async Task HandleAsync(QueueMessageContext message, CancellationToken cancellationToken)
        {
            await cancellation.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
