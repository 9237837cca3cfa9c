using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Core.Filters;
using Serverless.Functions.Durable;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;
using Serverless.Functions.Tasks;

namespace Serverless.Functions.Analytics;

/// <summary>What the analytics endpoints need from DI.</summary>
public sealed record AnalyticsServices(AnalyticsProjector Projector, TaskStore Tasks, TimeTracker Time, ProjectOrchestrations Orchestrations);

/// <summary>The filters and format every analytics route takes from the query string.</summary>
public sealed record AnalyticsQueryParameters(string? From, string? To, string? TaskId, string? DatasetId, string? Stage, string? Actor, string? Label, string? Source, string? Format, string? Table);

/// <summary>
/// Analytics (<c>api/projects/{projectId}/analytics</c>): summary, per task, per day, per label class, per
/// collaborator, issues and time, each as JSON or, with <c>format=csv</c>, as a CSV download. Every route takes the
/// same filters (<c>from</c>, <c>to</c>, <c>taskId</c>, <c>datasetId</c>, <c>stage</c>, <c>actor</c>, <c>label</c>,
/// <c>source</c>). Annotators and reviewers get only their own figures. <c>POST .../time</c> takes the clients'
/// heartbeats; <c>POST .../analytics/rebuild</c> rebuilds the aggregates from the log as an orchestration.
/// </summary>
public static partial class AnalyticsApi
{
    public static IEndpointRouteBuilder MapAnalyticsApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var analytics = app.MapGroup("api/projects/{projectId}/analytics").WithTags("Analytics");
        analytics.MapGet("/summary", SummaryAsync).WithName("GetAnalyticsSummary").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/tasks", TasksAsync).WithName("GetAnalyticsTasks").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/throughput", ThroughputAsync).WithName("GetAnalyticsThroughput").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/labels", LabelsAsync).WithName("GetAnalyticsLabels").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/collaborators", CollaboratorsAsync).WithName("GetAnalyticsCollaborators").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/issues", IssuesAsync).WithName("GetAnalyticsIssues").RequirePermission(Permission.AnalyticsRead);
        analytics.MapGet("/time", TimeAsync).WithName("GetAnalyticsTime").RequirePermission(Permission.AnalyticsRead);
        analytics.MapPost("/rebuild", RebuildAsync).WithName("RebuildAnalytics").RequirePermission(Permission.AnalyticsManage);
        app.MapGroup("api/projects/{projectId}/time").WithTags("Analytics")
            .MapPost("/", ReportTimeAsync).WithName("ReportTime").RequirePermission(Permission.TasksWork);
        return app;
    }

    internal static Task<IResult> SummaryAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, [], (cells, filter, _) =>
        {
            var summary = AnalyticsQueries.Summary(cells, filter);
            return ((object)summary, () => Csv.Write([summary]));
        }, "summary", ct);

    internal static Task<IResult> TasksAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, [], (cells, filter, _) =>
        {
            var rows = AnalyticsQueries.Tasks(cells, filter);
            return ((object)new AnalyticsRows<TaskFigures>(rows), () => Csv.Write(rows));
        }, "tasks", ct);

    internal static Task<IResult> ThroughputAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, [], (cells, filter, _) =>
        {
            var rows = AnalyticsQueries.Throughput(cells, filter);
            return ((object)new AnalyticsRows<DayFigures>(rows), () => Csv.Write(rows));
        }, "throughput", ct);

    internal static Task<IResult> LabelsAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, [], (cells, filter, _) =>
        {
            var rows = AnalyticsQueries.Labels(cells, filter);
            return ((object)new AnalyticsRows<LabelFigures>(rows), () => Csv.Write(rows));
        }, "labels", ct);

    internal static Task<IResult> CollaboratorsAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, ["annotators", "reviewers"], (cells, filter, table) =>
        {
            var tables = AnalyticsQueries.Collaborators(cells, filter);
            return ((object)tables, () => table == "reviewers" ? Csv.Write(tables.Reviewers) : Csv.Write(tables.Annotators));
        }, "collaborators", ct);

    internal static Task<IResult> IssuesAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, ["days", "byTag", "byLabel"], (cells, filter, table) =>
        {
            var tables = AnalyticsQueries.Issues(cells, filter);
            return ((object)tables, () => table switch
            {
                "byTag" => Csv.Write(tables.ByTag),
                "byLabel" => Csv.Write(tables.ByLabel),
                _ => Csv.Write(tables.Rows),
            });
        }, "issues", ct);

    internal static Task<IResult> TimeAsync(string projectId, [AsParameters] AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct) =>
        AnswerAsync(projectId, query, context, principal, services, [], (cells, filter, _) =>
        {
            var rows = AnalyticsQueries.Time(cells, filter);
            return ((object)new AnalyticsRows<TimeFigures>(rows), () => Csv.Write(rows));
        }, "time", ct);

    /// <summary><c>POST .../analytics/rebuild</c>: 202 with the orchestration's URLs.</summary>
    internal static async Task<IResult> RebuildAsync(string projectId, HttpRequest request, [AsParameters] AnalyticsServices services, CancellationToken ct)
    {
        var instanceId = await services.Orchestrations.StartAsync(projectId, "analytics", nameof(AnalyticsRebuildOrchestrator), new AnalyticsRebuildInput(projectId), cancellationToken: ct);
        return OrchestrationAccepted.Result(request, projectId, instanceId);
    }

    /// <summary><c>POST .../time</c> <c>{"taskId","itemId","event":"start|heartbeat|stop","clientEventId"}</c>.</summary>
    internal static async Task<Results<Ok<TimeRecorded>, ValidationProblem, ProblemHttpResult>> ReportTimeAsync(
        string projectId, TimeReport report, ClaimsPrincipal principal, [AsParameters] AnalyticsServices services, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(report);
        var errors = new FieldErrors();
        if (report.Event is null || !TimeTracker.Events.Contains(report.Event))
        {
            errors.Add("event", "'event' is start, heartbeat or stop.");
        }

        if (!Ids.IsWellFormed(report.ItemId))
        {
            errors.Add("itemId", "'itemId' is the item's id.");
        }

        if (!Ids.IsWellFormed(report.TaskId))
        {
            errors.Add("taskId", "'taskId' is the task's id.");
        }

        if (report.ClientEventId is null || !ClientEventId().IsMatch(report.ClientEventId))
        {
            errors.Add("clientEventId", "'clientEventId' is 1 to 64 letters, digits, '-' or '_', unique per report (a retry sends the same one).");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var task = await services.Tasks.GetAsync(projectId, report.TaskId!, ct);
        if (task is null)
        {
            return Problems.NotFound($"Project '{projectId}' has no task '{report.TaskId}'.");
        }

        var caller = Caller.From(principal);
        return TypedResults.Ok(await services.Time.ReportAsync(task, report.ItemId!, caller.UserId, caller.KeyId, report.Event!, report.ClientEventId!, ct));
    }

    private static async Task<IResult> AnswerAsync(
        string projectId, AnalyticsQueryParameters query, HttpContext context, ClaimsPrincipal principal, AnalyticsServices services, string[] tables,
        Func<IReadOnlyDictionary<CubeKey, long[]>, AnalyticsFilter, string?, (object Json, Func<string> Csv)> answer, string name, CancellationToken ct)
    {
        var errors = new FieldErrors();
        var from = Day(errors, "from", query.From, endOfRange: false);
        var to = Day(errors, "to", query.To, endOfRange: true);
        if (query.Stage is not null and not AnalyticsProjection.AnnotationStage and not AnalyticsProjection.QaStage)
        {
            errors.Add("stage", "'stage' is annotation or qa.");
        }

        if (query.Format is not null and not "json" and not "csv")
        {
            errors.Add("format", "'format' is json or csv.");
        }

        if (query.Table is not null && !tables.Contains(query.Table))
        {
            errors.Add("table", tables.Length == 0 ? "This route has one table; leave 'table' out." : $"'table' is one of {string.Join(", ", tables)}.");
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary());
        }

        var actor = query.Actor;
        if (AccessMiddleware.SeesOnlyOwnWork(context))
        {
            var self = Caller.From(principal).UserId;
            if (actor is not null && !string.Equals(actor, self, StringComparison.Ordinal))
            {
                return Problems.Forbidden("Annotators and reviewers see only their own figures: leave 'actor' out or give your own user id.");
            }

            actor = self;
        }

        var filter = new AnalyticsFilter(from, to, query.TaskId, query.DatasetId, query.Stage, actor, query.Label, query.Source);
        var (json, csv) = await services.Projector.ReadAsync(projectId, cells => answer(cells, filter, query.Table), ct);
        return query.Format == "csv" ? Csv.Result(csv(), query.Table is null ? name : $"{name}-{query.Table}") : TypedResults.Ok(json);
    }

    /// <summary>
    /// The cube counts per UTC day, so a bound becomes a day: <c>from</c> its own day (inclusive); <c>to</c> exclusive at
    /// midnight, otherwise its day is included.
    /// </summary>
    private static string? Day(FieldErrors errors, string field, string? value, bool endOfRange)
    {
        if (errors.Timestamp(field, value) is not { } stamp || !StoredTimestamp.TryParse(stamp, out var t))
        {
            return null;
        }

        var day = t.UtcDateTime.Date;
        if (endOfRange && t.UtcDateTime != day)
        {
            day = day.AddDays(1);
        }

        return day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ClientEventId();
}
