using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Http;

/// <summary>
/// Ensures every <see cref="ContainerSpec"/> registered in DI exists, once, before the app serves
/// requests. Features register their specs with <see cref="DocumentContainerRegistration.AddDocumentContainers"/>; registering this
/// service first makes later start-up services (the identity bootstrap) find their containers.
/// </summary>
public sealed class DocumentContainersStartup(IDocumentStore store, IEnumerable<ContainerSpec> specs) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var spec in specs.DistinctBy(s => s.Name, StringComparer.Ordinal))
        {
            await store.EnsureContainerAsync(spec, cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Registration helpers for document containers.</summary>
public static class DocumentContainerRegistration
{
    /// <summary>Declares containers a feature needs; they are created at start-up.</summary>
    public static IServiceCollection AddDocumentContainers(this IServiceCollection services, params ContainerSpec[] specs)
    {
        ArgumentNullException.ThrowIfNull(specs);
        if (!services.Any(d => d.ImplementationType == typeof(DocumentContainersStartup)))
        {
            services.AddHostedService<DocumentContainersStartup>();
        }

        foreach (var spec in specs)
        {
            services.AddSingleton(spec);
        }

        return services;
    }
}
