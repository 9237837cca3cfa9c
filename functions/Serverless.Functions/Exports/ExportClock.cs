namespace Serverless.Functions.Exports;

/// <summary>
/// The clock an export reads its <c>createdAt</c> from: the only time written into an export's bytes. A service
/// of its own so that tests can fix it and compare two runs byte for byte.
/// </summary>
public sealed class ExportClock(Func<DateTimeOffset> now)
{
    public ExportClock(TimeProvider time)
        : this(() => (time ?? throw new ArgumentNullException(nameof(time))).GetUtcNow())
    {
    }

    /// <summary>Now, truncated to whole seconds (the resolution COCO's <c>date_created</c> has).</summary>
    public DateTimeOffset Now()
    {
        var value = now();
        return new DateTimeOffset(value.Ticks - (value.Ticks % TimeSpan.TicksPerSecond), value.Offset);
    }
}
