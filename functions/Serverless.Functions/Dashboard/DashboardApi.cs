using Microsoft.AspNetCore.Http.HttpResults;
using Serverless.Functions.Http;
using Serverless.Functions.Identity;

namespace Serverless.Functions.Dashboard;

/// <summary>The project dashboard (<c>GET api/projects/{projectId}/dashboard</c>).</summary>
public static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboardApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("api/projects/{projectId}/dashboard").WithTags("Dashboard")
            .MapGet("/", GetAsync).WithName("GetProjectDashboard").RequirePermission(Permission.DashboardRead);
        return app;
    }

    /// <summary>The counters in one call; the access check already proved the project exists and the caller may read it.</summary>
    internal static async Task<Ok<ProjectDashboard>> GetAsync(string projectId, DashboardStore dashboard, CancellationToken ct) =>
        TypedResults.Ok(await dashboard.GetAsync(projectId, ct));
}

/// <summary>Registers the dashboard feature.</summary>
public static class DashboardRegistration
{
    public static IHostApplicationBuilder AddDashboard(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton<DashboardStore>();
        return builder;
    }
}
