using Serverless.Core.Storage.Queues;
using Serverless.Storage.Azure;
using Serverless.Testing;

namespace Serverless.Storage.Tests.Azure;

[Collection(AzuriteFixture.Collection)]
public sealed class AzureQueueStoreTests(AzuriteFixture azurite)
{
    private readonly AzureQueueStore _store = azurite.QueueStore;

    [Fact]
    public async Task SendAsync_ThenReceive_ReturnsSameUnicodeTextAndDeletes()
    {
        // Arrange
        var queue = await NewQueueAsync();
        const string text = "{\"order\":42,\"note\":\"über ✓\"}";

        // Act
        var sent = await _store.SendAsync(queue, text);
        var received = await _store.ReceiveAsync(queue, 32, TimeSpan.FromSeconds(30));
        var deleted = await _store.DeleteAsync(queue, received[0].MessageId, received[0].PopReceipt);

        // Assert
        var message = Assert.Single(received);
        Assert.Equal(sent.MessageId, message.MessageId);
        Assert.Equal(text, message.Text);
        Assert.Equal(1, message.DequeueCount);
        Assert.True(deleted);
        Assert.Empty(await _store.PeekAsync(queue, 32));
    }

    [Fact]
    public async Task SendAsync_JustUnderLimit_Succeeds()
    {
        // Arrange
        var queue = await NewQueueAsync();
        var text = new string('a', QueueLimits.MaxMessageBytes / 4 * 3); // encodes to exactly 64 KiB

        // Act
        await _store.SendAsync(queue, text);
        var received = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));

        // Assert
        Assert.Equal(QueueLimits.MaxMessageBytes, AzureQueueStore.EncodedSize(text));
        Assert.Equal(text, Assert.Single(received).Text);
    }

    [Fact]
    public async Task SendAsync_JustOverLimit_ThrowsTooLargeAndSendsNothing()
    {
        // Arrange
        var queue = await NewQueueAsync();
        var text = new string('a', (QueueLimits.MaxMessageBytes / 4 * 3) + 1);

        // Act
        var error = await Assert.ThrowsAsync<QueueMessageTooLargeException>(() => _store.SendAsync(queue, text));

        // Assert
        Assert.Equal(413, error.Status);
        Assert.Equal(0, await _store.GetApproximateCountAsync(queue));
    }

    [Fact]
    public async Task SendAsync_VisibilityDelay_HiddenUntilDelayPasses()
    {
        // Arrange
        var queue = await NewQueueAsync();

        // Act
        await _store.SendAsync(queue, "later", visibilityDelay: TimeSpan.FromSeconds(2));
        var early = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var late = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));

        // Assert
        Assert.Empty(early);
        Assert.Equal("later", Assert.Single(late).Text);
    }

    [Fact]
    public async Task ReceiveAsync_VisibilityTimeoutExpires_MessageReappearsWithDequeueCountTwo()
    {
        // Arrange
        var queue = await NewQueueAsync();
        await _store.SendAsync(queue, "retry me");

        // Act
        var first = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(1));
        var hidden = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(2));
        var again = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));

        // Assert
        Assert.Single(first);
        Assert.Empty(hidden);
        var message = Assert.Single(again);
        Assert.Equal(first[0].MessageId, message.MessageId);
        Assert.Equal(2, message.DequeueCount);
    }

    [Fact]
    public async Task UpdateVisibilityAsync_Extends_StaleReceiptCannotDelete()
    {
        // Arrange
        var queue = await NewQueueAsync();
        await _store.SendAsync(queue, "work");
        var received = Assert.Single(await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(1)));

        // Act
        var newReceipt = await _store.UpdateVisibilityAsync(queue, received.MessageId, received.PopReceipt, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(2));
        var stillHidden = await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30));
        var staleDelete = await _store.DeleteAsync(queue, received.MessageId, received.PopReceipt);
        var freshDelete = await _store.DeleteAsync(queue, received.MessageId, newReceipt);

        // Assert
        Assert.NotEqual(received.PopReceipt, newReceipt);
        Assert.Empty(stillHidden);
        Assert.False(staleDelete);
        Assert.True(freshDelete);
    }

    [Fact]
    public async Task UpdateVisibilityAsync_DeletedMessage_ThrowsNotFound()
    {
        // Arrange
        var queue = await NewQueueAsync();
        await _store.SendAsync(queue, "gone");
        var received = Assert.Single(await _store.ReceiveAsync(queue, 1, TimeSpan.FromSeconds(30)));
        await _store.DeleteAsync(queue, received.MessageId, received.PopReceipt);

        // Act
        var error = await Assert.ThrowsAsync<QueueNotFoundException>(() => _store.UpdateVisibilityAsync(queue, received.MessageId, received.PopReceipt, TimeSpan.FromSeconds(5)));

        // Assert
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task PeekAsync_DoesNotHideOrCountAsDequeue()
    {
        // Arrange
        var queue = await NewQueueAsync();
        await _store.SendAsync(queue, "one");
        await _store.SendAsync(queue, "two");

        // Act
        var peeked = await _store.PeekAsync(queue, 32);
        var received = await _store.ReceiveAsync(queue, 32, TimeSpan.FromSeconds(30));

        // Assert
        Assert.Equal(["one", "two"], peeked.Select(p => p.Text).Order());
        Assert.All(peeked, p => Assert.Equal(0, p.DequeueCount));
        Assert.Equal(2, received.Count);
    }

    [Fact]
    public async Task GetApproximateCountAsync_AfterThreeSends_ReturnsThree()
    {
        // Arrange
        var queue = await NewQueueAsync();
        for (var i = 0; i < 3; i++)
        {
            await _store.SendAsync(queue, $"m{i}");
        }

        // Act
        var count = await _store.GetApproximateCountAsync(queue);

        // Assert
        Assert.Equal(3, count);
    }

    [Fact]
    public async Task SendAsync_MissingQueue_ThrowsQueueNotFound()
    {
        // Act
        var error = await Assert.ThrowsAsync<QueueNotFoundException>(() => _store.SendAsync(AzuriteFixture.UniqueName("nope"), "x"));

        // Assert
        Assert.Equal("QueueNotFound", error.ErrorCode);
    }

    [Fact]
    public async Task ReceiveAsync_BatchSizeOutOfRange_ThrowsBeforeSending()
    {
        // Arrange
        var queue = await NewQueueAsync();

        // Act + Assert
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.ReceiveAsync(queue, 33, TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.ReceiveAsync(queue, 0, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task PingAsync_Running_ReturnsTrue()
    {
        // Act
        var ok = await _store.PingAsync();

        // Assert
        Assert.True(ok);
    }

    private async Task<string> NewQueueAsync()
    {
        var name = AzuriteFixture.UniqueName("queue");
        await _store.CreateIfNotExistsAsync(name);
        await _store.CreateIfNotExistsAsync(name); // idempotent
        return name;
    }
}
