using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Durable;

/// <summary>
/// Counts an orchestration's activity calls and continues it as new (with <paramref name="input"/>) once
/// <paramref name="calls"/> were made, so a long cascade keeps its history small. For flows whose every step
/// re-reads what is left: the new execution simply starts over and finds less to do.
/// </summary>
public sealed class CallBudget(TaskOrchestrationContext context, object input, int calls)
{
    private int _made;

    /// <summary>Records one call; false once the budget is spent (the orchestration then returns at once).</summary>
    public bool Spend()
    {
        if (++_made < calls)
        {
            return true;
        }

        context.ContinueAsNew(input);
        return false;
    }
}
