using Serverless.Durable;
using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Durable;

/// <summary>
/// Starts the orchestrations the platform runs on behalf of a project (clones, task splits, exports...).
/// </summary>
/// <remarks>
/// The instance id is <c>{projectId}.{kind}.{key}</c>: the management endpoints decide from the id alone
/// whether an instance belongs to the project in the route (no extra read, no way to reach another project's
/// instance by guessing), and a caller-chosen key makes a start idempotent (the same key while the first
/// instance runs answers with that instance instead of starting a second one).
/// </remarks>
public sealed class ProjectOrchestrations(DurableClient client)
{
    /// <summary>The instance id of orchestration <paramref name="kind"/> with <paramref name="key"/> in a project.</summary>
    public static string InstanceId(string projectId, string kind, string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(projectId);
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        return $"{projectId}.{kind}.{key}";
    }

    /// <summary>Whether <paramref name="instanceId"/> was started for <paramref name="projectId"/>.</summary>
    public static bool BelongsTo(string instanceId, string projectId) =>
        instanceId.Length > projectId.Length + 1 && instanceId.StartsWith(projectId + ".", StringComparison.Ordinal);

    /// <summary>
    /// Starts <paramref name="orchestrator"/> for the project. With a <paramref name="key"/>, a second start
    /// while the first instance has not ended returns the first instance's id (idempotent retries).
    /// </summary>
    public async Task<string> StartAsync(string projectId, string kind, string orchestrator, object? input, string? key = null, CancellationToken cancellationToken = default)
    {
        var instanceId = InstanceId(projectId, kind, key ?? Guid.NewGuid().ToString("N"));
        try
        {
            return await client.ScheduleNewOrchestrationInstanceAsync(orchestrator, input, new StartOrchestrationOptions(instanceId), cancellationToken);
        }
        catch (OrchestrationAlreadyExistsException) when (key is not null)
        {
            return instanceId;
        }
    }
}

/// <summary>
/// The body of a <c>202 Accepted</c> answer for a started orchestration, the Durable Functions way: the
/// instance id and the URLs that query, signal and clean it up. <c>{eventName}</c> and <c>{text}</c> are
/// placeholders the caller fills in.
/// </summary>
public sealed record OrchestrationAccepted(
    string Id,
    string StatusQueryGetUri,
    string SendEventPostUri,
    string TerminatePostUri,
    string SuspendPostUri,
    string ResumePostUri,
    string PurgeHistoryDeleteUri)
{
    /// <summary>The URLs of <paramref name="instanceId"/> under the project's management routes.</summary>
    public static OrchestrationAccepted For(HttpRequest request, string projectId, string instanceId)
    {
        ArgumentNullException.ThrowIfNull(request);
        var status = $"{request.Scheme}://{request.Host}{request.PathBase}/api/projects/{Uri.EscapeDataString(projectId)}/orchestrations/{Uri.EscapeDataString(instanceId)}";
        return new(
            instanceId,
            status,
            status + "/raiseEvent/{eventName}",
            status + "/terminate?reason={text}",
            status + "/suspend?reason={text}",
            status + "/resume?reason={text}",
            status);
    }

    /// <summary><c>202 Accepted</c> with <c>Location</c> = the status URL and this body.</summary>
    public static IResult Result(HttpRequest request, string projectId, string instanceId)
    {
        var body = For(request, projectId, instanceId);
        return Results.Accepted(body.StatusQueryGetUri, body);
    }
}
