using Serverless.Core.Storage.Documents;
using Serverless.Durable.Runtime;

namespace Serverless.Durable.Storage;

/// <summary>Settings of <see cref="StorageOrchestrationBackend"/>.</summary>
/// <param name="TaskHub">Prefix of every queue, container and blob container the backend owns (lowercase letters, digits, '-').</param>
/// <param name="ControlPartitions">Control queues; an instance's messages go to partition <c>hash(instanceId) % ControlPartitions</c>.</param>
/// <param name="MessageLease">How long a received message stays hidden while it is processed, and how long a
/// message this process sent to itself (or the watchdog of its in-process activities) stays hidden from other
/// workers. After a crash, recovery starts once it expires.</param>
/// <param name="InProcessDispatch">Run what this process schedules at once, in process, with the queue message as the
/// durable fallback (see <see cref="StorageOrchestrationBackend"/>). False for a client-only backend.</param>
/// <param name="PollQueues">Receive from the queues in <c>Fetch*</c>. False when something else delivers queue
/// messages (the Functions host through <see cref="StorageOrchestrationBackend.DeliverAsync"/>).</param>
/// <param name="MaxDequeueCount">Deliveries after which a message goes to the poison queue and its instance is marked Failed.</param>
/// <param name="QueuePollInterval">Shortest time between polls of the control (or work) queues; after empty polls the
/// interval doubles up to <see cref="MaxQueuePollInterval"/>, so idle polling costs the queue service little.</param>
/// <param name="MaxQueuePollIntervalSetting">Longest time between polls (default 1 s): how late a message from another process is seen at worst.</param>
/// <param name="CrashAt">Fault injection for tests: returning true throws <see cref="SimulatedCrashException"/> at that
/// commit stage, and the backend then refuses every further call, as a dead process would.</param>
public sealed record StorageBackendOptions(
    string TaskHub = "durable",
    int ControlPartitions = 4,
    TimeSpan? MessageLease = null,
    bool InProcessDispatch = true,
    bool PollQueues = true,
    int MaxDequeueCount = 5,
    TimeSpan? QueuePollInterval = null,
    Func<CommitStage, string, bool>? CrashAt = null,
    TimeSpan? MaxQueuePollIntervalSetting = null)
{
    /// <summary>Effective longest time between polls.</summary>
    public TimeSpan MaxQueuePollInterval => MaxQueuePollIntervalSetting ?? TimeSpan.FromSeconds(1);

    /// <summary>Effective <see cref="MessageLease"/> (default 30 s).</summary>
    public TimeSpan Lease => MessageLease ?? TimeSpan.FromSeconds(30);

    /// <summary>The instances-and-history document container.</summary>
    public string InstancesContainer => $"{TaskHub}-instances";

    /// <summary>How that container is declared (its indexed paths serve instance queries by status, name and time).</summary>
    public ContainerSpec InstancesContainerSpec => new(InstancesContainer, ["docType", "status", "name", "createdAt"]);

    /// <summary>The blob container for payloads too large for a queue message or a document.</summary>
    public string PayloadContainer => $"{TaskHub}-payloads";

    /// <summary>The shared activity queue.</summary>
    public string WorkQueue => $"{TaskHub}-work";

    /// <summary>Where messages that could not be processed end up, for inspection.</summary>
    public string PoisonQueue => $"{TaskHub}-poison";

    /// <summary>Control queue <paramref name="partition"/>; with one partition the name has no suffix.</summary>
    public string ControlQueue(int partition) => ControlPartitions == 1 ? $"{TaskHub}-control" : $"{TaskHub}-control-{partition}";

    /// <summary>The control queue of <paramref name="instanceId"/> (stable FNV-1a hash, the same in every process).</summary>
    public string ControlQueueOf(string instanceId) => ControlQueue((int)(StableHash.Of(instanceId) % (ulong)ControlPartitions));

    /// <summary>Throws <see cref="ArgumentException"/> for settings storage cannot use.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(TaskHub) || TaskHub.Length > 40 || !TaskHub.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
        {
            throw new ArgumentException($"Task hub '{TaskHub}' must be 1..40 lowercase letters, digits or '-'.", nameof(TaskHub));
        }

        if (ControlPartitions is < 1 or > 16)
        {
            throw new ArgumentException("Use 1 to 16 control partitions.", nameof(ControlPartitions));
        }

        if (Lease <= TimeSpan.Zero || Lease > TimeSpan.FromHours(1))
        {
            throw new ArgumentException("The message lease must be positive and at most an hour.", nameof(MessageLease));
        }

        if (MaxDequeueCount < 1)
        {
            throw new ArgumentException("MaxDequeueCount must be at least 1.", nameof(MaxDequeueCount));
        }
    }
}

/// <summary>A hash that is the same in every process (string.GetHashCode is randomized per process).</summary>
internal static class StableHash
{
    public static ulong Of(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    public static ulong Of(string a, string? b) => Of(a + "\u0001" + (b ?? "\u0002"));
}
