namespace Serverless.Functions.Functions;

/// <summary>Registers the trigger handlers shared by both hosting modes.</summary>
public static class FunctionHandlerRegistration
{
    public static IHostApplicationBuilder AddFunctionHandlers(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton<QueueHandlerCatalog>();
        builder.Services.AddHostedService<HandlerCatalogValidation>();

        // ───── HANDLERS GO HERE ─────
        // DurableControl and DurableWork: registered by Durable/DurableRegistration.AddDurable (custom handler
        // mode only; standalone, the durable worker polls those queues itself).
        // builder.Services.AddSingleton<IBlobCreatedHandler, ...>() for ingestion.
        // Functions without a handler answer every invocation with a failure, so the host retries and
        // finally poisons the message instead of dropping it.
        // ────────────────────────────
        return builder;
    }

    /// <summary>Builds the catalog when the host starts, so a handler/function mismatch fails fast.</summary>
    private sealed class HandlerCatalogValidation(QueueHandlerCatalog catalog) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(catalog);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
