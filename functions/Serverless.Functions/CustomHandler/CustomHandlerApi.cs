using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Functions;

namespace Serverless.Functions.CustomHandler;

/// <summary>
/// The custom-handler invocation endpoint: the Functions host POSTs each non-HTTP trigger to
/// <c>/{FunctionName}</c>. Mapped only in custom handler mode, where Kestrel listens on loopback for
/// the host alone; HTTP functions never come here (the host forwards those requests unchanged).
/// </summary>
public static class CustomHandlerApi
{
    /// <summary>Header the host sets on each invocation.</summary>
    public const string InvocationIdHeader = "X-Azure-Functions-InvocationId";

    public static IEndpointRouteBuilder MapCustomHandlerApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/{functionName}", InvokeAsync)
            .WithName("CustomHandlerInvocation")
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>Decodes the invocation, runs the function's handler(s), and answers in the host's format.</summary>
    public static async Task<Results<Ok<InvocationResponse>, JsonHttpResult<InvocationResponse>, ProblemHttpResult>> InvokeAsync(
        string functionName,
        InvocationRequest request,
        [AsParameters] CustomHandlerServices services,
        HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(http);
        if (!FunctionCatalog.All.TryGetValue(functionName, out var function) || function.Trigger == TriggerKind.Http)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status404NotFound,
                title: "Unknown function",
                detail: $"No queue or Event Grid function is named '{functionName}'. Known: {string.Join(", ", FunctionCatalog.All.Values.Where(f => f.Trigger != TriggerKind.Http).Select(f => f.Name))}.");
        }

        var invocationId = http.Request.Headers[InvocationIdHeader].ToString();
        var cancellationToken = http.RequestAborted;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var logs = function.Trigger == TriggerKind.Queue
                ? await InvokeQueueAsync(function, request, services, cancellationToken)
                : await InvokeEventGridAsync(function, request, services, cancellationToken);
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            CustomHandlerLog.Invoked(services.Logger, function.Name, invocationId, elapsedMs);
            return TypedResults.Ok(InvocationResponse.FromLogs(logs));
        }
        catch (InvalidInvocationException ex)
        {
            CustomHandlerLog.BadPayload(services.Logger, function.Name, invocationId, ex.Message);
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid invocation payload", detail: ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The host reads only the status code of a failed invocation; the logs are for anyone
            // replaying the call by hand, and our own log carries the exception.
            CustomHandlerLog.Failed(services.Logger, ex, function.Name, invocationId);
            return TypedResults.Json(
                InvocationResponse.FromLogs($"{function.Name} failed: {ex.GetType().Name}: {ex.Message}"),
                statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static async Task<IReadOnlyList<string>> InvokeQueueAsync(FunctionDefinition function, InvocationRequest request, CustomHandlerServices services, CancellationToken cancellationToken)
    {
        var message = TriggerDecoding.QueueMessage(function, request);
        var handler = services.QueueHandlers.Find(function.Name)
            ?? throw new NoHandlerException($"No handler is registered for {function.Name} (queue '{function.QueueName}'); message {message.MessageId} fails so the host retries it and finally moves it to '{function.QueueName}-poison'.");
        await handler.HandleAsync(message, cancellationToken);
        return [$"{function.Name} handled message {message.MessageId} (dequeue count {message.DequeueCount})."];
    }

    private static async Task<IReadOnlyList<string>> InvokeEventGridAsync(FunctionDefinition function, InvocationRequest request, CustomHandlerServices services, CancellationToken cancellationToken)
    {
        var (created, ignoredTypes) = TriggerDecoding.EventGridEvents(function, request);
        var handlers = services.BlobCreatedHandlers.ToList();
        if (created.Count > 0 && handlers.Count == 0)
        {
            throw new NoHandlerException($"No BlobCreated handler is registered; event {created[0].EventId} for {created[0].Container}/{created[0].BlobName} fails so Event Grid redelivers it.");
        }

        var logs = new List<string>();
        foreach (var blobCreated in created)
        {
            foreach (var handler in handlers)
            {
                await handler.HandleAsync(blobCreated, cancellationToken);
            }

            logs.Add($"{function.Name} handled {blobCreated.Container}/{blobCreated.BlobName} (event {blobCreated.EventId}).");
        }

        logs.AddRange(ignoredTypes.Select(t => $"{function.Name} ignored an event of type {t} (only {TriggerDecoding.BlobCreatedEventType} is handled)."));
        return logs;
    }
}

/// <summary>What the invocation endpoint needs from DI.</summary>
public sealed record CustomHandlerServices(
    QueueHandlerCatalog QueueHandlers,
    IEnumerable<IBlobCreatedHandler> BlobCreatedHandlers,
    ILogger<InvocationRequest> Logger);

/// <summary>A function was invoked before any handler for it was registered.</summary>
public sealed class NoHandlerException(string message) : Exception(message);

/// <summary>Source-generated logs of the custom-handler endpoint (event ids 1100–1199).</summary>
internal static partial class CustomHandlerLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Debug, Message = "Invocation {InvocationId} of {FunctionName} succeeded in {ElapsedMs:0.0} ms")]
    public static partial void Invoked(ILogger logger, string functionName, string invocationId, double elapsedMs);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Invocation {InvocationId} of {FunctionName} failed")]
    public static partial void Failed(ILogger logger, Exception exception, string functionName, string invocationId);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Invocation {InvocationId} of {FunctionName} has an invalid payload: {Reason}")]
    public static partial void BadPayload(ILogger logger, string functionName, string invocationId, string reason);
}
