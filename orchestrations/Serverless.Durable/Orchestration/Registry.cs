using Microsoft.Extensions.DependencyInjection;

namespace Serverless.Durable.Orchestration;

/// <summary>
/// Orchestrators and activities by name. Names are what history and messages record, so renaming a
/// registered type is a breaking change for instances in flight (see <see cref="TaskOrchestrator{TInput, TOutput}"/>).
/// </summary>
public sealed class DurableTaskRegistry
{
    private readonly Dictionary<string, Func<IServiceProvider, ITaskOrchestrator>> orchestrators = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Func<IServiceProvider, ITaskActivity>> activities = new(StringComparer.Ordinal);

    /// <summary>Registers <typeparamref name="T"/> under <paramref name="name"/> (default: the class name), created from DI per run.</summary>
    public DurableTaskRegistry AddOrchestrator<T>(string? name = null)
        where T : class, ITaskOrchestrator
    {
        Add(orchestrators, name ?? typeof(T).Name, sp => ActivatorUtilities.CreateInstance<T>(sp), "orchestrator");
        return this;
    }

    /// <summary>Registers <typeparamref name="T"/> under <paramref name="name"/> (default: the class name), created from DI per call.</summary>
    public DurableTaskRegistry AddActivity<T>(string? name = null)
        where T : class, ITaskActivity
    {
        Add(activities, name ?? typeof(T).Name, sp => ActivatorUtilities.CreateInstance<T>(sp), "activity");
        return this;
    }

    /// <summary>Registers a delegate as an activity.</summary>
    public DurableTaskRegistry AddActivity<TInput, TOutput>(string name, Func<TaskActivityContext, TInput, Task<TOutput>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Add(activities, name, _ => new FuncActivity<TInput, TOutput>(body), "activity");
        return this;
    }

    internal ITaskOrchestrator? CreateOrchestrator(string name, IServiceProvider services) =>
        orchestrators.TryGetValue(name, out var factory) ? factory(services) : null;

    internal ITaskActivity? CreateActivity(string name, IServiceProvider services) =>
        activities.TryGetValue(name, out var factory) ? factory(services) : null;

    private static void Add<T>(Dictionary<string, Func<IServiceProvider, T>> map, string name, Func<IServiceProvider, T> factory, string what)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!map.TryAdd(name, factory))
        {
            throw new ArgumentException($"An {what} named '{name}' is already registered.", nameof(name));
        }
    }
}
