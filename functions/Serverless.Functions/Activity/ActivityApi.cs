using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Activity;

/// <summary>
/// <c>GET api/projects/{projectId}/activity</c>: the project's activity log, oldest first, filtered by time range
/// (<c>from</c> inclusive, <c>to</c> exclusive; ISO-8601), <c>actor</c>, <c>taskId</c>, <c>itemId</c> and <c>kind</c>
/// (a full kind, or a family ending in a dot: <c>annotation.</c>). Annotators and reviewers see only their own
/// actions: without <c>actor</c> they get theirs, and asking for someone else's is 403.
/// </summary>
public static class ActivityApi
{
    public static IEndpointRouteBuilder MapActivityApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("api/projects/{projectId}/activity").WithTags("Activity")
            .MapGet("/", ListAsync).WithName("ListActivity").RequirePermission(Permission.ActivityRead);
        return app;
    }

    internal static async Task<Results<Ok<Page<ActivityEvent>>, ValidationProblem, ProblemHttpResult>> ListAsync(
        string projectId, string? from, string? to, string? actor, string? taskId, string? itemId, string? kind, int? pageSize, string? continuationToken,
        HttpContext context, ClaimsPrincipal principal, ActivityLog log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var errors = new FieldErrors();
        var size = Paging.PageSize(pageSize, errors);
        var fromStamp = errors.Timestamp("from", from);
        var toStamp = errors.Timestamp("to", to);
        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var caller = Caller.From(principal);
        if (AccessMiddleware.SeesOnlyOwnWork(context))
        {
            if (actor is not null && !string.Equals(actor, caller.UserId, StringComparison.Ordinal))
            {
                return Problems.Forbidden("Annotators and reviewers may read only their own activity: leave 'actor' out or give your own user id.");
            }

            actor = caller.UserId;
        }

        return TypedResults.Ok(await log.QueryAsync(projectId, new ActivityQuery(fromStamp, toStamp, actor, taskId, kind, itemId), size, continuationToken, ct));
    }
}
