using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Durable;

/// <summary>How a feature adds its orchestrators and activities: each feature registers its own, in its own registration.</summary>
public static class DurableTaskRegistration
{
    /// <summary>Adds orchestrators/activities to the app's <see cref="DurableTaskRegistry"/> when it is built.</summary>
    public static IServiceCollection AddDurableTasks(this IServiceCollection services, Action<DurableTaskRegistry> register)
    {
        ArgumentNullException.ThrowIfNull(register);
        services.AddSingleton(new DurableTaskConfigurator(register));
        return services;
    }
}

/// <summary>One feature's registrations, applied to the registry singleton.</summary>
internal sealed record DurableTaskConfigurator(Action<DurableTaskRegistry> Register);
