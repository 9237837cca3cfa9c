using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;

namespace Serverless.Functions.Http;

/// <summary>Shared HTTP API plumbing: problem details for every error, JSON enums as names, the OpenAPI document.</summary>
public static class HttpApiRegistration
{
    public const string OpenApiReason = "The OpenAPI document describes the API; it holds no data.";

    public static IHostApplicationBuilder AddHttpApi(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();

        // Binding failures throw, so ApiExceptionHandler can name the offending field in a problem details body.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.Configure<JsonOptions>(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer(new ApiKeySecuritySchemeTransformer()));
        return builder;
    }
}
