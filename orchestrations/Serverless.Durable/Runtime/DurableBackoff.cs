namespace Serverless.Durable.Runtime;

/// <summary>
/// How long a message that failed without committing stays hidden before its next attempt: <c>2^attempts</c>
/// seconds, capped at <see cref="Max"/> (the Durable Task Azure Storage backend's rule). A transient fault (storage
/// throttling, a dependency restarting) gets time to clear instead of burning the attempts that lead to the poison
/// queue within a second.
/// </summary>
public static class DurableBackoff
{
    /// <summary>The longest back-off.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromMinutes(5);

    /// <summary>The delay after the <paramref name="failedAttempts"/>-th failed attempt (1 → 2 s, 2 → 4 s, ...).</summary>
    public static TimeSpan For(long failedAttempts)
    {
        if (failedAttempts < 1)
        {
            return TimeSpan.Zero;
        }

        return failedAttempts >= 9 ? Max : TimeSpan.FromSeconds(Math.Min(Math.Pow(2, failedAttempts), Max.TotalSeconds));
    }
}
