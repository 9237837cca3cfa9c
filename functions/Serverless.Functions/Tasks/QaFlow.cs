using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Serverless.Durable.Orchestration;

namespace Serverless.Functions.Tasks;

/// <summary>Input and state of <see cref="QaHandoffOrchestrator"/>.</summary>
public sealed record QaHandoffInput(string ProjectId, string QaTaskId, string SourceTaskId, IReadOnlyList<string> Reviewers, bool Swept = false, string? Token = null);

/// <summary>An item completed in the annotation task, raised to the hand-off as event <see cref="QaHandoffOrchestrator.ItemCompleted"/>.</summary>
public sealed record CompletedItem(string ItemId, string DatasetId, string Name);

/// <summary>Input of the activities that move items into the QA task.</summary>
public sealed record QaSweepRequest(string QaTaskId, string SourceTaskId, IReadOnlyList<string> Reviewers, string? Token);

/// <summary>Input of <see cref="AddToQa"/>.</summary>
public sealed record AddToQaRequest(string QaTaskId, IReadOnlyList<string> Reviewers, CompletedItem Item);

/// <summary>
/// Feeds a QA task: first sweeps every item already COMPLETED in the annotation task, then waits for
/// <see cref="ItemCompleted"/> events (raised as annotators complete items; events raised meanwhile are buffered)
/// and adds each item to the QA task. Adds are idempotent, so an item completed during the sweep and also
/// raised is reviewed once. It continues as new every <see cref="EventsPerExecution"/> events to keep history small.
/// </summary>
public sealed class QaHandoffOrchestrator : TaskOrchestrator<QaHandoffInput, int>
{
    public const string ItemCompleted = "ItemCompleted";
    public const int EventsPerExecution = 100;

    public override async Task<int> RunAsync(TaskOrchestrationContext context, QaHandoffInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        if (!input.Swept)
        {
            var token = input.Token;
            do
            {
                token = await context.CallActivityAsync<string?>(nameof(SweepCompletedToQa), new QaSweepRequest(input.QaTaskId, input.SourceTaskId, input.Reviewers, token));
            }
            while (token is not null);
        }

        for (var handled = 0; handled < EventsPerExecution; handled++)
        {
            var item = await context.WaitForExternalEvent<CompletedItem>(ItemCompleted);
            await context.CallActivityAsync<int>(nameof(AddToQa), new AddToQaRequest(input.QaTaskId, input.Reviewers, item));
            context.SetCustomStatus(new { handled = handled + 1 });
        }

        context.ContinueAsNew(input with { Swept = true, Token = null });
        return 0;
    }

    /// <summary>The reviewer of an item: fixed by a hash of its id, so every retry and every re-completion picks the same one.</summary>
    public static string ReviewerFor(string itemId, IReadOnlyList<string> reviewers)
    {
        ArgumentNullException.ThrowIfNull(reviewers);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(Encoding.UTF8.GetBytes(itemId)));
        return reviewers[(int)(hash % (ulong)reviewers.Count)];
    }
}

/// <summary>Moves one page of the annotation task's COMPLETED items into the QA task; returns the next page's token.</summary>
public sealed class SweepCompletedToQa(TaskStore tasks) : TaskActivity<QaSweepRequest, string?>
{
    public override async Task<string?> RunAsync(TaskActivityContext context, QaSweepRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var page = await tasks.ItemsWithStatusAsync(input.SourceTaskId, "COMPLETED", 500, input.Token, CancellationToken.None);
        await tasks.AddItemsAsync(input.QaTaskId, [.. page.Items.Select(i => new TaskItem(i.ItemId, i.DatasetId, i.Name, QaHandoffOrchestrator.ReviewerFor(i.ItemId, input.Reviewers), null, null, null, 0, false))], CancellationToken.None);
        return page.ContinuationToken;
    }
}

/// <summary>Adds one completed item to the QA task (idempotent).</summary>
public sealed class AddToQa(TaskStore tasks) : TaskActivity<AddToQaRequest, int>
{
    public override Task<int> RunAsync(TaskActivityContext context, AddToQaRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var item = input.Item;
        return tasks.AddItemsAsync(input.QaTaskId, [new TaskItem(item.ItemId, item.DatasetId, item.Name, QaHandoffOrchestrator.ReviewerFor(item.ItemId, input.Reviewers), null, null, null, 0, false)], CancellationToken.None);
    }
}

/// <summary>Input of <see cref="IssueLoopOrchestrator"/>.</summary>
public sealed record IssueLoopInput(string ProjectId, string QaTaskId, string SourceTaskId, string ItemId, int Rounds = 0, int Events = 0);

/// <summary>A human step in the loop, raised as event <see cref="IssueLoopOrchestrator.IssueEvent"/>: opened, for_review, resolved, reopened, or decided (APPROVED/DISCARDED in QA).</summary>
public sealed record IssueLoopEvent(string Kind, string? IssueId, string Actor);

/// <summary>Custom status of the loop: where the item stands and how many times it went back to its annotator.</summary>
public sealed record IssueLoopStatus(string Stage, int Rounds);

/// <summary>Input of <see cref="ReopenForAnnotator"/>.</summary>
public sealed record ReopenRequest(string ProjectId, string SourceTaskId, string ItemId, string Actor);

/// <summary>
/// One per reviewed item with issues. Each opened (or reopened) issue sends the item back: its status in the
/// annotation task is cleared and it is marked reopened in its annotator's queue. The loop follows the human
/// steps (external events, delivered in order) as many rounds as needed and ends when the reviewer approves or
/// discards the item in the QA task.
/// </summary>
public sealed class IssueLoopOrchestrator : TaskOrchestrator<IssueLoopInput, IssueLoopStatus>
{
    public const string IssueEvent = "Issue";
    public const int EventsPerExecution = 50;

    public override async Task<IssueLoopStatus> RunAsync(TaskOrchestrationContext context, IssueLoopInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var state = input;
        for (var i = 0; i < EventsPerExecution; i++)
        {
            var step = await context.WaitForExternalEvent<IssueLoopEvent>(IssueEvent);
            state = state with { Events = state.Events + 1 };
            switch (step.Kind)
            {
                case "opened" or "reopened":
                    await context.CallActivityAsync<bool>(nameof(ReopenForAnnotator), new ReopenRequest(state.ProjectId, state.SourceTaskId, state.ItemId, step.Actor));
                    state = state with { Rounds = state.Rounds + 1 };
                    context.SetCustomStatus(new IssueLoopStatus("with_annotator", state.Rounds));
                    break;
                case "for_review":
                    context.SetCustomStatus(new IssueLoopStatus("with_reviewer", state.Rounds));
                    break;
                case "resolved":
                    context.SetCustomStatus(new IssueLoopStatus("resolved", state.Rounds));
                    break;
                case "decided":
                    var done = new IssueLoopStatus("decided", state.Rounds);
                    context.SetCustomStatus(done);
                    return done;
            }
        }

        context.ContinueAsNew(state);
        return new IssueLoopStatus("continued", state.Rounds);
    }
}

/// <summary>Clears the item's status in the annotation task, marks it reopened and reopens the task (idempotent).</summary>
public sealed class ReopenForAnnotator(TaskStore tasks) : TaskActivity<ReopenRequest, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, ReopenRequest input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var result = await tasks.SetStatusAsync(input.SourceTaskId, input.ItemId, null, input.Actor, null, CancellationToken.None, reopen: true);
        if (result is { } r)
        {
            await tasks.SyncStateAsync(await tasks.GetAsync(input.ProjectId, input.SourceTaskId, CancellationToken.None), r.Progress, CancellationToken.None);
        }

        return result is not null;
    }
}
