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

    /// <summary>
    /// Calls <paramref name="activity"/> (which deletes one page and returns how many it found) until it finds nothing,
    /// spending one call each time it found some; false when the budget ran out meanwhile.
    /// </summary>
    public async Task<bool> DrainAsync(string activity, object input, TaskOptions options)
    {
        while (await context.CallActivityAsync<int>(activity, input, options) > 0)
        {
            if (!Spend())
            {
                return false;
            }
        }

        return true;
    }
}
