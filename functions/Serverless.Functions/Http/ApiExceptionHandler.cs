using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Http;

/// <summary>
/// Turns the exceptions that mean "your request is wrong" or "the store is down" into problem
/// details: unreadable JSON and unbindable parameters → 400 naming the field, a bad continuation
/// token or filter → 400 naming it, an unreachable store → 503. Anything else stays a 500.
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var problem = exception switch
        {
            BadHttpRequestException bad => BadRequest(bad),
            InvalidQueryException query => new ProblemDetails
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Bad request",
                Detail = query.Message,
                Extensions = { ["errors"] = new Dictionary<string, string[]> { [FieldOf(query)] = [query.Message] } },
            },
            DocumentStoreUnavailableException unavailable => new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Storage unavailable",
                Detail = $"The document store did not answer; retry later. ({unavailable.Message})",
            },
            _ => null,
        };
        if (problem is null)
        {
            return false;
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private static string FieldOf(InvalidQueryException query) => query.Path ?? "query";

    private static ProblemDetails BadRequest(BadHttpRequestException bad)
    {
        // The binder wraps the JSON reader's error; its Path ("$.name") is the offending field.
        var json = bad.InnerException as JsonException;
        var parameter = BoundParameter().Match(bad.Message);
        var field = json?.Path is { Length: > 2 } path ? path.TrimStart('$', '.')
            : json is null && parameter.Success ? parameter.Groups[1].Value
            : "body";
        var message = json is null ? bad.Message : $"{bad.Message} {json.Message}";
        return new ProblemDetails
        {
            Status = bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : StatusCodes.Status400BadRequest,
            Title = "Bad request",
            Detail = message,
            Extensions = { ["errors"] = new Dictionary<string, string[]> { [field] = [message] } },
        };
    }

    // "Failed to bind parameter \"int? pageSize\" from \"abc\"." names the query or route parameter.
    [GeneratedRegex("""parameter "[^"]*?(\w+)" from""")]
    private static partial Regex BoundParameter();
}
