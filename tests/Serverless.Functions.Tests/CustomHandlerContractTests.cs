using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Serverless.Functions.Functions;

namespace Serverless.Functions.Tests;

/// <summary>The Data/Metadata → Outputs/Logs/ReturnValue contract, fed with recorded host payloads.</summary>
public sealed class CustomHandlerContractTests
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(FunctionsAppFactory factory, string function, string payload)
    {
        using var client = factory.CreateClient();
        using var response = await client.PostAsync(new Uri($"/{function}", UriKind.Relative), Json(payload));
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return (response.StatusCode, document.RootElement.Clone());
    }

    [Fact]
    public async Task QueueInvocation_HostFormat_HandlerGetsMessageAndResponseFollowsContract()
    {
        // Arrange
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableControl, FunctionCatalog.DurableControlQueue);
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IQueueMessageHandler>(handler));

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.DurableControl, Fixtures.Read("queue-invocation.json"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(JsonValueKind.Object, body.GetProperty("Outputs").ValueKind);
        Assert.Contains("b7c3f2a4-5e0d-4b8e-9a51-3f9f2c1d7e60", body.GetProperty("Logs")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("ReturnValue").ValueKind);
        var message = Assert.Single(handler.Received);
        Assert.Equal("""{"kind":"ExecutionStarted","instanceId":"inst-42","name":"SplitTask"}""", message.Text);
        Assert.Equal("b7c3f2a4-5e0d-4b8e-9a51-3f9f2c1d7e60", message.MessageId);
        Assert.Equal(2, message.DequeueCount);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 10, 15, 30, TimeSpan.Zero), message.InsertedOn);
        Assert.Equal(FunctionCatalog.DurableControlQueue, message.QueueName);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task QueueInvocation_ControlPartitionFunction_ReachesThatPartitionsHandlerWithItsQueue(int partition)
    {
        // Arrange
        var function = FunctionCatalog.DurableControlFunction(partition);
        var handler = new RecordingQueueHandler(function, FunctionCatalog.DurableControlQueueOf(partition));
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IQueueMessageHandler>(handler));

        // Act
        var (status, _) = await PostAsync(factory, function, Fixtures.Read("queue-invocation.json").Replace("\"MethodName\": \"DurableControl\"", $"\"MethodName\": \"{function}\"", StringComparison.Ordinal));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        var message = Assert.Single(handler.Received);
        Assert.Equal($"durable-control-{partition}", message.QueueName);
        Assert.Equal(2, message.DequeueCount);
    }

    [Fact]
    public async Task QueueInvocation_DocumentationShape_DecodedTheSameWay()
    {
        // Arrange
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableWork, FunctionCatalog.DurableWorkQueue);
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IQueueMessageHandler>(handler));

        // Act
        var (status, _) = await PostAsync(factory, FunctionCatalog.DurableWork, Fixtures.Read("queue-invocation-docs-shape.json"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        var message = Assert.Single(handler.Received);
        Assert.Equal("{ message: \"Message sent\" }", message.Text);
        Assert.Equal("800ae4b3-bdd2-4c08-badd-f08e5a34b865", message.MessageId);
        Assert.Equal(1, message.DequeueCount);
    }

    [Fact]
    public async Task QueueInvocation_HandlerThrows_Returns500WithLogs()
    {
        // Arrange
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableControl, FunctionCatalog.DurableControlQueue, new InvalidOperationException("instance inst-42 is corrupt"));
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IQueueMessageHandler>(handler));

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.DurableControl, Fixtures.Read("queue-invocation.json"));

        // Assert
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        var log = Assert.Single(body.GetProperty("Logs").EnumerateArray()).GetString();
        Assert.Contains("InvalidOperationException: instance inst-42 is corrupt", log, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Object, body.GetProperty("Outputs").ValueKind);
    }

    [Fact]
    public async Task EventGridInvocation_HostFormat_BlobCreatedHandlerGetsTheBlob()
    {
        // Arrange
        var handler = new RecordingBlobHandler();
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IBlobCreatedHandler>(handler));

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.BlobCreated, Fixtures.Read("eventgrid-blobcreated-invocation.json"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("uploads/projects/p1/videos/clip 01.mp4", body.GetProperty("Logs")[0].GetString(), StringComparison.Ordinal);
        var blob = Assert.Single(handler.Received);
        Assert.Equal("uploads", blob.Container);
        Assert.Equal("projects/p1/videos/clip 01.mp4", blob.BlobName);
        Assert.Equal(524288, blob.ContentLength);
        Assert.Equal("video/mp4", blob.ContentType);
        Assert.Equal("0x8D4BCC2E4835CD0", blob.ETag);
        Assert.Equal("831e1650-001e-001b-66ab-eeb76e069631", blob.EventId);
        Assert.Equal(new Uri("https://stannotatedev.blob.core.windows.net/uploads/projects/p1/videos/clip%2001.mp4"), blob.Url);
    }

    [Fact]
    public async Task EventGridInvocation_CloudEventSchema_BlobCreatedHandlerGetsTheBlob()
    {
        // Arrange
        var handler = new RecordingBlobHandler();
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IBlobCreatedHandler>(handler));

        // Act
        var (status, _) = await PostAsync(factory, FunctionCatalog.BlobCreated, Fixtures.Read("eventgrid-cloudevent-invocation.json"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        var blob = Assert.Single(handler.Received);
        Assert.Equal(("uploads", "raw/data.zip", 1024L), (blob.Container, blob.BlobName, blob.ContentLength!.Value));
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 10, 21, 0, TimeSpan.Zero), blob.EventTime);
    }

    [Fact]
    public async Task EventGridInvocation_AppAsConfigured_ItemIngestionAcknowledgesNonItemBlob()
    {
        // Arrange: no test handler; the app's own (item ingestion) receives the event and, the blob
        // being outside the item upload prefix, leaves it alone without touching storage.
        await using var factory = FunctionsAppFactory.CustomHandler();

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.BlobCreated, Fixtures.Read("eventgrid-blobcreated-invocation.json"));

        // Assert
        Assert.Contains(factory.Services.GetServices<IBlobCreatedHandler>(), h => h is Serverless.Functions.Items.ItemIngestionHandler);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("BlobCreated handled uploads/projects/p1/videos/clip 01.mp4 (event 831e1650-001e-001b-66ab-eeb76e069631).", body.GetProperty("Logs")[0].GetString());
    }

    [Fact]
    public async Task EventGridInvocation_NoHandlerRegistered_Returns500()
    {
        // Arrange: the app registers item ingestion; this test is about the endpoint without any handler.
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.RemoveAll<IBlobCreatedHandler>());

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.BlobCreated, Fixtures.Read("eventgrid-blobcreated-invocation.json"));

        // Assert
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.Contains("No BlobCreated handler", body.GetProperty("Logs")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventGridInvocation_OtherEventType_IgnoredWithALog()
    {
        // Arrange
        var handler = new RecordingBlobHandler();
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IBlobCreatedHandler>(handler));
        var payload = """{"Data":{"eventGridEvent":{"id":"1","eventType":"Microsoft.Storage.BlobDeleted","subject":"/blobServices/default/containers/uploads/blobs/a.txt","data":{}}},"Metadata":{}}""";

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.BlobCreated, payload);

        // Assert
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Empty(handler.Received);
        Assert.Contains("ignored an event of type Microsoft.Storage.BlobDeleted", body.GetProperty("Logs")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invocation_BlobCreatedWithoutBlobName_Returns400ProblemDetails()
    {
        // Arrange
        var handler = new RecordingBlobHandler();
        await using var factory = FunctionsAppFactory.CustomHandler(s => s.AddSingleton<IBlobCreatedHandler>(handler));
        var payload = """{"Data":{"eventGridEvent":{"id":"1","eventType":"Microsoft.Storage.BlobCreated","subject":"nonsense","data":{}}},"Metadata":{}}""";

        // Act
        var (status, body) = await PostAsync(factory, FunctionCatalog.BlobCreated, payload);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Invalid invocation payload", body.GetProperty("title").GetString());
        Assert.Empty(handler.Received);
    }

    [Fact]
    public async Task Invocation_UnknownFunction_Returns404ProblemDetails()
    {
        // Arrange
        await using var factory = FunctionsAppFactory.CustomHandler();

        // Act
        var (status, body) = await PostAsync(factory, "NoSuchFunction", """{"Data":{},"Metadata":{}}""");

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("NoSuchFunction", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invocation_InStandaloneMode_IsNotExposed()
    {
        // Arrange: standalone serves the public API; trigger invocations must not be injectable from outside.
        var handler = new RecordingQueueHandler(FunctionCatalog.DurableControl, FunctionCatalog.DurableControlQueue);
        await using var factory = FunctionsAppFactory.Standalone(configureServices: s => s.AddSingleton<IQueueMessageHandler>(handler));
        using var client = factory.CreateClient();

        // Act
        using var response = await client.PostAsync(new Uri($"/{FunctionCatalog.DurableControl}", UriKind.Relative), Json(Fixtures.Read("queue-invocation.json")));

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(handler.Received);
    }
}
