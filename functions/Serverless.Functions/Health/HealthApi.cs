using Microsoft.AspNetCore.Http.HttpResults;

namespace Serverless.Functions.Health;

/// <summary><c>GET /api/health</c>: 200 when every store answers, 503 otherwise; no API key needed.</summary>
public static class HealthApi
{
    public static IHostApplicationBuilder AddHealth(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<HealthOptions>()
            .BindConfiguration(HealthOptions.Section)
            .Validate(o => o.PingTimeout > TimeSpan.Zero && o.PingTimeout <= TimeSpan.FromSeconds(30), "Health:PingTimeout must be between 0 and 30 seconds.")
            .ValidateOnStart();
        builder.Services.AddSingleton<StorageHealthProbe>();
        return builder;
    }

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGroup("api/health").MapGet("/", GetHealthAsync).WithName("GetHealth");
        return app;
    }

    public static async Task<Results<Ok<HealthReport>, JsonHttpResult<HealthReport>>> GetHealthAsync(StorageHealthProbe probe, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(probe);
        var report = await probe.CheckAsync(cancellationToken);
        return report.IsUp
            ? TypedResults.Ok(report)
            : TypedResults.Json(report, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
