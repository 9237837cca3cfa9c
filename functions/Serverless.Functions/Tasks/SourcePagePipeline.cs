namespace Serverless.Functions.Tasks;

/// <summary>What <see cref="SourcePagePipeline.RunAsync"/> did: items read, each page's result, and where the next page starts.</summary>
public sealed record PipelinedPages<T>(int Seen, IReadOnlyList<T> Results, string? NextToken, string? LastId);

/// <summary>
/// Applies a change to up to a number of consecutive source pages inside one activity (a task split, a status change
/// by filter): each next page is read while the one before is applied, and two pages' applications stay in flight,
/// so the single SQLite writer has the next batches queued while this thread prepares them. Read one at a time, the
/// writer sat idle ~40% of a split.
/// </summary>
public static class SourcePagePipeline
{
    /// <param name="read">Reads the page after a token.</param>
    /// <param name="token">Where the first page starts.</param>
    /// <param name="pages">Most pages to take (an explicit id list is always one page).</param>
    /// <param name="apply">Starts applying a page whose first item is at the given offset from the first page's.</param>
    public static async Task<PipelinedPages<T>> RunAsync<T>(Func<string?, Task<TaskSourcePage>> read, string? token, int pages, Func<TaskSourcePage, int, Task<T>> apply)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(apply);
        var page = await read(token);
        var seen = 0;
        var applied = new List<Task<T>>(pages);
        for (var taken = 1; ; taken++)
        {
            applied.Add(apply(page, seen));
            seen += page.Items.Count;

            // On a pool thread: the SQLite store answers a read synchronously, which would otherwise wait for this
            // thread instead of running beside the page being applied.
            var next = taken < pages && page.NextToken is { } after ? Task.Run(() => read(after)) : null;
            if (applied.Count >= 2)
            {
                await applied[^2];
            }

            if (next is null)
            {
                return new PipelinedPages<T>(seen, await Task.WhenAll(applied), page.NextToken, page.Items.Count > 0 ? page.Items[^1].Id : null);
            }

            page = await next;
        }
    }
}
