namespace Serverless.Functions.Functions;

/// <summary>
/// The registered queue handlers, checked against <see cref="FunctionCatalog"/>: each must name a
/// queue-triggered function and its queue, at most one per function. Built at start-up so that a
/// mismatch stops the app instead of losing messages.
/// </summary>
public sealed class QueueHandlerCatalog
{
    private readonly Dictionary<string, IQueueMessageHandler> _byFunction = new(StringComparer.Ordinal);

    public QueueHandlerCatalog(IEnumerable<IQueueMessageHandler> handlers)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        foreach (var handler in handlers)
        {
            if (!FunctionCatalog.All.TryGetValue(handler.FunctionName, out var function) || function.Trigger != TriggerKind.Queue)
            {
                throw new InvalidOperationException($"Queue handler {handler.GetType().Name} names function '{handler.FunctionName}', which FunctionCatalog does not declare as queue-triggered.");
            }

            if (!string.Equals(function.QueueName, handler.QueueName, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"Queue handler {handler.GetType().Name} reads queue '{handler.QueueName}' but function '{function.Name}' is triggered by queue '{function.QueueName}'.");
            }

            if (!_byFunction.TryAdd(handler.FunctionName, handler))
            {
                throw new InvalidOperationException($"Two queue handlers serve function '{handler.FunctionName}': {_byFunction[handler.FunctionName].GetType().Name} and {handler.GetType().Name}.");
            }
        }
    }

    /// <summary>The handlers, one per queue-triggered function that has one.</summary>
    public IReadOnlyCollection<IQueueMessageHandler> Handlers => _byFunction.Values;

    /// <summary>The handler of <paramref name="functionName"/>, or null when none is registered yet.</summary>
    public IQueueMessageHandler? Find(string functionName) => _byFunction.GetValueOrDefault(functionName);
}
