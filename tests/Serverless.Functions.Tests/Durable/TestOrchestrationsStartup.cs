using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Durable;

[assembly: HostingStartup(typeof(Serverless.Functions.Tests.Durable.TestOrchestrationsStartup))]

namespace Serverless.Functions.Tests.Durable;

/// <summary>
/// Loaded into the real app process only when <c>ASPNETCORE_HOSTINGSTARTUPASSEMBLIES</c> names this assembly (the
/// end-to-end test does): registers the test orchestrators the way a feature does, and a feature-like endpoint
/// <c>POST /api/projects/{projectId}/approvals</c> that starts <see cref="ApprovalOrchestrator"/> and answers 202 with
/// <see cref="OrchestrationAccepted"/>, as feature endpoints will.
/// </summary>
public sealed class TestOrchestrationsStartup : IHostingStartup
{
    public void Configure(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureServices(services =>
        {
            OrchestrationsApp.AddTestOrchestrations(services);
            services.AddSingleton<IStartupFilter, ApprovalEndpointFilter>();
        });
    }

    private sealed class ApprovalEndpointFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                var segments = context.Request.Path.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
                if (HttpMethods.IsPost(context.Request.Method) && segments is ["api", "projects", var projectId, "approvals"])
                {
                    var input = await JsonSerializer.DeserializeAsync<string>(context.Request.Body);
                    var orchestrations = context.RequestServices.GetRequiredService<ProjectOrchestrations>();
                    var id = await orchestrations.StartAsync(projectId, "approval", nameof(ApprovalOrchestrator), input);
                    await OrchestrationAccepted.Result(context.Request, projectId, id).ExecuteAsync(context);
                    return;
                }

                await nextMiddleware(context);
            });
            next(app);
        };
    }
}
