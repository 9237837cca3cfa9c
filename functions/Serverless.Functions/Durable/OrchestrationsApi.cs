using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Durable;
using Serverless.Durable.History;
using Serverless.Durable.Orchestration;
using Serverless.Durable.Runtime;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Durable;

/// <summary>An instance as the status URL reports it (Durable Functions field names).</summary>
/// <param name="InstanceId">The instance id, <c>{projectId}.{kind}.{key}</c>.</param>
/// <param name="Name">The orchestrator's name.</param>
/// <param name="RuntimeStatus">Pending, Running, Suspended, Completed, Failed or Terminated.</param>
/// <param name="Input">The input (JSON); omitted from lists unless <c>showInput=true</c>.</param>
/// <param name="Output">The result (JSON), or the reason given when terminated.</param>
/// <param name="CustomStatus">What the orchestrator last set with <c>SetCustomStatus</c> (progress).</param>
/// <param name="Failure">Why it failed, when <see cref="RuntimeStatus"/> is Failed.</param>
/// <param name="CreatedTime">When it was started.</param>
/// <param name="LastUpdatedTime">When its last step committed.</param>
/// <param name="History">The current execution's history events, with <c>showHistory=true</c>.</param>
public sealed record OrchestrationStatus(
    string InstanceId,
    string Name,
    string RuntimeStatus,
    JsonNode? Input,
    JsonNode? Output,
    JsonNode? CustomStatus,
    FailureDetails? Failure,
    DateTimeOffset CreatedTime,
    DateTimeOffset LastUpdatedTime,
    JsonNode? History = null);

/// <summary>The answer of a purge.</summary>
public sealed record PurgeResult(int InstancesDeleted);

/// <summary>What the orchestration endpoints need from DI.</summary>
public sealed record OrchestrationServices(DurableClient Client);

/// <summary>
/// The management API of a project's orchestrations, the Durable Functions way:
/// <c>api/projects/{projectId}/orchestrations</c>. These are the URLs <see cref="OrchestrationAccepted"/> hands out.
/// </summary>
/// <remarks>
/// <para>Ownership comes from the instance id (<see cref="ProjectOrchestrations.BelongsTo"/>): an instance of
/// another project, or one that does not exist, is 404 alike, so ids cannot be probed across projects.</para>
/// <para>The status URL answers <c>202 Accepted</c> (with <c>Location</c> and <c>Retry-After</c>) while the
/// instance is Pending, Running or Suspended and <c>200 OK</c> once it has ended, whether Completed, Failed or
/// Terminated: the read itself succeeded, and <c>runtimeStatus</c> says how it ended (Durable Functions answers
/// 400/500 for failed instances, which clients confuse with a bad request).</para>
/// <para>Signals (raise event, terminate, suspend, resume) answer <c>202 Accepted</c>: they are queued and applied
/// at the instance's next step. On an ended instance they answer 409 naming its status; purge answers 409 while it
/// has not ended.</para>
/// </remarks>
public static class OrchestrationsApi
{
    /// <summary>Longest <c>reason</c> accepted by terminate, suspend and resume.</summary>
    public const int MaxReasonLength = 1000;

    /// <summary>Longest event name.</summary>
    public const int MaxEventNameLength = 100;

    /// <summary>Largest event payload; bigger data belongs in blob storage, passed by reference.</summary>
    public const int MaxEventBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapOrchestrationsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("api/projects/{projectId}/orchestrations").WithTags("Orchestrations");
        group.MapGet("/", ListAsync).WithName("ListOrchestrations")
            .WithDescription("This project's instances, oldest first. Filters: runtimeStatus (comma-separated), name, createdTimeFrom, createdTimeTo (ISO 8601). Paging: pageSize (1..200) and continuationToken. showInput=true adds inputs and outputs.")
            .RequirePermission(Permission.OrchestrationsRead);
        group.MapGet("/{instanceId}", GetAsync).WithName("GetOrchestration")
            .WithDescription("202 while Pending, Running or Suspended; 200 once ended. showHistory=true adds the history events.")
            .Produces<OrchestrationStatus>(StatusCodes.Status202Accepted)
            .RequirePermission(Permission.OrchestrationsRead);
        group.MapPost("/{instanceId}/raiseEvent/{eventName}", RaiseEventAsync).WithName("RaiseOrchestrationEvent")
            .WithDescription("The JSON body (optional) is the event's data.")
            .RequirePermission(Permission.OrchestrationsManage);
        group.MapPost("/{instanceId}/terminate", TerminateAsync).WithName("TerminateOrchestration").RequirePermission(Permission.OrchestrationsManage);
        group.MapPost("/{instanceId}/suspend", SuspendAsync).WithName("SuspendOrchestration").RequirePermission(Permission.OrchestrationsManage);
        group.MapPost("/{instanceId}/resume", ResumeAsync).WithName("ResumeOrchestration").RequirePermission(Permission.OrchestrationsManage);
        group.MapDelete("/{instanceId}", PurgeAsync).WithName("PurgeOrchestration")
            .WithDescription("Deletes an ended instance and its history; 409 while it has not ended.")
            .RequirePermission(Permission.OrchestrationsManage);
        return app;
    }

    internal static async Task<Results<Ok<Page<OrchestrationStatus>>, ValidationProblem>> ListAsync(
        string projectId,
        string? runtimeStatus,
        string? name,
        string? createdTimeFrom,
        string? createdTimeTo,
        int? pageSize,
        string? continuationToken,
        bool? showInput,
        [AsParameters] OrchestrationServices services,
        CancellationToken ct)
    {
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        var statuses = ParseStatuses(runtimeStatus, errors);
        var from = ParseTime("createdTimeFrom", createdTimeFrom, errors);
        var to = ParseTime("createdTimeTo", createdTimeTo, errors);
        if (from is not null && to is not null && from >= to)
        {
            errors.Add("createdTimeTo", "'createdTimeTo' must be after 'createdTimeFrom'.");
        }

        if (name is not null && (name.Length is 0 or > 200 || name.Any(char.IsControl)))
        {
            errors.Add("name", "'name' must be 1 to 200 characters without control characters.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        OrchestrationQueryResult page;
        try
        {
            page = await services.Client.QueryAsync(new OrchestrationQuery(statuses, name, from, to, size, continuationToken, projectId + "."), ct);
        }
        catch (ArgumentException ex)
        {
            // Only the continuation token can be malformed at this point (the rest was checked above).
            return Problems.Validation("continuationToken", $"'continuationToken' is not one this endpoint issued: {ex.Message}");
        }

        var withInput = showInput == true;
        return TypedResults.Ok(new Page<OrchestrationStatus>([.. page.Items.Select(s => ToStatus(s, withInput, null))], page.ContinuationToken));
    }

    internal static async Task<Results<Ok<OrchestrationStatus>, Accepted<OrchestrationStatus>, ProblemHttpResult>> GetAsync(
        string projectId, string instanceId, bool? showHistory, HttpRequest request, HttpResponse response, [AsParameters] OrchestrationServices services, CancellationToken ct)
    {
        if (!ProjectOrchestrations.BelongsTo(instanceId, projectId))
        {
            return NotFound(instanceId);
        }

        var metadata = await services.Client.GetInstanceAsync(instanceId, showHistory == true, ct);
        if (metadata is null)
        {
            return NotFound(instanceId);
        }

        var history = metadata.History is null ? null : JsonSerializer.SerializeToNode(metadata.History, DurableJson.Options);
        var status = ToStatus(metadata.State, includeInput: true, history);
        if (metadata.State.IsTerminal)
        {
            return TypedResults.Ok(status);
        }

        response.Headers.RetryAfter = "1";
        return TypedResults.Accepted(OrchestrationAccepted.For(request, projectId, instanceId).StatusQueryGetUri, status);
    }

    internal static async Task<Results<Accepted, ProblemHttpResult, ValidationProblem>> RaiseEventAsync(
        string projectId, string instanceId, string eventName, HttpRequest request, [AsParameters] OrchestrationServices services, CancellationToken ct)
    {
        if (!ProjectOrchestrations.BelongsTo(instanceId, projectId))
        {
            return NotFound(instanceId);
        }

        if (eventName.Length > MaxEventNameLength || !eventName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            return Problems.BadRequest($"Event name '{Printable(eventName)}' is not valid: use 1 to {MaxEventNameLength} ASCII letters, digits, '_', '-' or '.'.");
        }

        JsonNode? data;
        try
        {
            data = await ReadEventDataAsync(request, ct);
        }
        catch (JsonException ex)
        {
            return Problems.Validation("body", $"The body must be JSON (the event's data) or empty: {ex.Message}");
        }
        catch (EventTooLargeException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large",
                detail: $"Event data is limited to {MaxEventBytes} bytes; pass larger data by reference (a blob name).");
        }

        try
        {
            await services.Client.RaiseEventAsync(instanceId, eventName, data, ct);
            return TypedResults.Accepted((string?)null);
        }
        catch (OrchestrationNotFoundException)
        {
            return NotFound(instanceId);
        }
        catch (OrchestrationStateException ex)
        {
            return Ended(instanceId, ex.Status, $"raise event '{eventName}' on");
        }
    }

    internal static Task<Results<Accepted, ProblemHttpResult, ValidationProblem>> TerminateAsync(
        string projectId, string instanceId, string? reason, [AsParameters] OrchestrationServices services, CancellationToken ct) =>
        SignalAsync(projectId, instanceId, reason, "terminate", services.Client.TerminateAsync, services.Client, ct);

    internal static Task<Results<Accepted, ProblemHttpResult, ValidationProblem>> SuspendAsync(
        string projectId, string instanceId, string? reason, [AsParameters] OrchestrationServices services, CancellationToken ct) =>
        SignalAsync(projectId, instanceId, reason, "suspend", services.Client.SuspendAsync, services.Client, ct);

    internal static Task<Results<Accepted, ProblemHttpResult, ValidationProblem>> ResumeAsync(
        string projectId, string instanceId, string? reason, [AsParameters] OrchestrationServices services, CancellationToken ct) =>
        SignalAsync(projectId, instanceId, reason, "resume", services.Client.ResumeAsync, services.Client, ct);

    internal static async Task<Results<Ok<PurgeResult>, ProblemHttpResult>> PurgeAsync(
        string projectId, string instanceId, [AsParameters] OrchestrationServices services, CancellationToken ct)
    {
        if (!ProjectOrchestrations.BelongsTo(instanceId, projectId))
        {
            return NotFound(instanceId);
        }

        try
        {
            return await services.Client.PurgeAsync(instanceId, ct) ? TypedResults.Ok(new PurgeResult(1)) : NotFound(instanceId);
        }
        catch (OrchestrationStateException ex)
        {
            return Problems.Conflict($"Orchestration '{instanceId}' is {ex.Status}; only a Completed, Failed or Terminated instance can be purged. Terminate it first.");
        }
    }

    private static async Task<Results<Accepted, ProblemHttpResult, ValidationProblem>> SignalAsync(
        string projectId,
        string instanceId,
        string? reason,
        string operation,
        Func<string, string?, CancellationToken, Task<bool>> signal,
        DurableClient client,
        CancellationToken ct)
    {
        if (!ProjectOrchestrations.BelongsTo(instanceId, projectId))
        {
            return NotFound(instanceId);
        }

        if (reason is not null && (reason.Length > MaxReasonLength || reason.Any(c => char.IsControl(c) && c is not '\n' and not '\r' and not '\t')))
        {
            return Problems.Validation("reason", $"'reason' must be at most {MaxReasonLength} characters without control characters.");
        }

        try
        {
            if (await signal(instanceId, reason, ct))
            {
                return TypedResults.Accepted((string?)null);
            }

            // Ended between the read and the signal: report its status.
            var state = await client.GetInstanceAsync(instanceId, cancellationToken: ct);
            return state is null ? NotFound(instanceId) : Ended(instanceId, state.State.Status, operation);
        }
        catch (OrchestrationNotFoundException)
        {
            return NotFound(instanceId);
        }
    }

    private static OrchestrationStatus ToStatus(OrchestrationState state, bool includeInput, JsonNode? history) => new(
        state.InstanceId,
        state.Name,
        state.Status.ToString(),
        includeInput ? Parse(state.Input) : null,
        includeInput ? Parse(state.Output) : null,
        Parse(state.CustomStatus),
        state.Failure,
        state.CreatedAt,
        state.LastUpdatedAt,
        history);

    private static JsonNode? Parse(string? json) => json is null ? null : JsonNode.Parse(json);

    private static async Task<JsonNode?> ReadEventDataAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxEventBytes)
        {
            throw new EventTooLargeException();
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxEventBytes)
            {
                throw new EventTooLargeException();
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            return null;
        }

        return JsonNode.Parse(buffer.ToArray());
    }

    private static HashSet<OrchestrationRuntimeStatus>? ParseStatuses(string? text, FieldErrors errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var statuses = new HashSet<OrchestrationRuntimeStatus>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Enum.TryParse<OrchestrationRuntimeStatus>(part, ignoreCase: true, out var status) || !Enum.IsDefined(status) || int.TryParse(part, CultureInfo.InvariantCulture, out _))
            {
                errors.Add("runtimeStatus", $"'{Printable(part)}' is not a runtime status; use any of {string.Join(", ", Enum.GetNames<OrchestrationRuntimeStatus>())}, comma-separated.");
                return null;
            }

            statuses.Add(status);
        }

        return statuses;
    }

    private static DateTimeOffset? ParseTime(string field, string? text, FieldErrors errors)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }

        errors.Add(field, $"'{field}' must be an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z.");
        return null;
    }

    private static ProblemHttpResult NotFound(string instanceId) =>
        Problems.NotFound($"Orchestration '{Printable(instanceId)}' does not exist in this project.");

    private static ProblemHttpResult Ended(string instanceId, OrchestrationRuntimeStatus status, string operation) =>
        Problems.Conflict($"Orchestration '{instanceId}' is {status}; cannot {operation} an instance that has ended.");

    private static string Printable(string text) => new([.. text.Take(100).Select(c => char.IsControl(c) ? '?' : c)]);

    private sealed class EventTooLargeException : Exception;
}
