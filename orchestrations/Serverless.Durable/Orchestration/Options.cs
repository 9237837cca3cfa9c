namespace Serverless.Durable.Orchestration;

/// <summary>
/// Retries for an activity or sub-orchestration call. The wait between attempts is a durable timer,
/// so a retry survives restarts and costs nothing while waiting.
/// </summary>
/// <param name="MaxNumberOfAttempts">Total attempts including the first (at least 1).</param>
/// <param name="FirstRetryInterval">Wait before the second attempt (positive).</param>
/// <param name="BackoffCoefficient">Each further wait is the previous one times this (at least 1).</param>
/// <param name="MaxRetryInterval">Cap on any single wait (default: none).</param>
/// <param name="Handle">Decides from the failure whether to retry (default: always).</param>
public sealed record RetryPolicy(
    int MaxNumberOfAttempts,
    TimeSpan FirstRetryInterval,
    double BackoffCoefficient = 1.0,
    TimeSpan? MaxRetryInterval = null,
    Func<History.FailureDetails, bool>? Handle = null)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a field is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNumberOfAttempts, 1, nameof(MaxNumberOfAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FirstRetryInterval, TimeSpan.Zero, nameof(FirstRetryInterval));
        if (double.IsNaN(BackoffCoefficient) || BackoffCoefficient < 1.0)
        {
            throw new ArgumentOutOfRangeException(nameof(BackoffCoefficient), BackoffCoefficient, "The backoff coefficient must be at least 1.");
        }

        if (MaxRetryInterval is { } max && max < FirstRetryInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetryInterval), max, "The maximum retry interval must not be shorter than the first.");
        }
    }

    /// <summary>The wait before attempt <paramref name="nextAttempt"/> (2 for the first retry).</summary>
    public TimeSpan DelayBefore(int nextAttempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nextAttempt, 2);
        var ticks = FirstRetryInterval.Ticks * Math.Pow(BackoffCoefficient, nextAttempt - 2);
        var capped = MaxRetryInterval is { } max ? Math.Min(ticks, max.Ticks) : ticks;
        return TimeSpan.FromTicks((long)Math.Min(capped, TimeSpan.MaxValue.Ticks / 2));
    }
}

/// <summary>Options for an activity call.</summary>
public sealed record TaskOptions(RetryPolicy? Retry = null);

/// <summary>Options for a sub-orchestration call.</summary>
/// <param name="InstanceId">The child's instance id (default: derived from the parent's id and the task id, so it is stable on replay).</param>
/// <param name="Retry">Retries; each retry starts a new child instance.</param>
public sealed record SubOrchestrationOptions(string? InstanceId = null, RetryPolicy? Retry = null);
