using Microsoft.Extensions.Logging;

namespace Serverless.Durable.Orchestration;

/// <summary>Writes only while the orchestrator is not replaying, so each line appears once per real step.</summary>
internal sealed class ReplaySafeLogger(TaskOrchestrationContext context, ILogger inner) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => !context.IsReplaying && inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!context.IsReplaying)
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
