namespace Serverless.Functions.Functions;

/// <summary>How a function is triggered; decides which custom-handler payload it receives.</summary>
public enum TriggerKind
{
    /// <summary>HTTP, forwarded unchanged to the app's own routes.</summary>
    Http,

    /// <summary>Azure Storage queue message (POST /{FunctionName} with Data/Metadata).</summary>
    Queue,

    /// <summary>Event Grid event (POST /{FunctionName} with Data/Metadata).</summary>
    EventGrid,
}

/// <summary>One binding of a function, as written in its <c>function.json</c>.</summary>
/// <param name="Name">The binding's name: the key under <c>Data</c> (inputs) or <c>Outputs</c> (outputs).</param>
/// <param name="Type">The binding type, e.g. <c>queueTrigger</c>.</param>
/// <param name="Direction"><c>in</c> or <c>out</c>.</param>
/// <param name="QueueName">For queue bindings, the queue.</param>
public sealed record FunctionBinding(string Name, string Type, string Direction, string? QueueName = null);

/// <summary>A function the Functions host knows about; its trigger is the first binding.</summary>
public sealed record FunctionDefinition(string Name, TriggerKind Trigger, IReadOnlyList<FunctionBinding> Bindings)
{
    /// <summary>The trigger binding (always the first one, direction <c>in</c>).</summary>
    public FunctionBinding TriggerBinding => Bindings[0];

    /// <summary>The queue of a queue-triggered function, or null.</summary>
    public string? QueueName => Trigger == TriggerKind.Queue ? TriggerBinding.QueueName : null;
}

/// <summary>
/// Every function this app declares, in one place. The <c>function.json</c> files under
/// <c>Functions/&lt;Name&gt;/</c> must say exactly the same (a test reads them and compares both ways),
/// and queue handlers must name a function declared here.
/// </summary>
public static class FunctionCatalog
{
    /// <summary>The catch-all HTTP function; the host forwards every request to our own routes.</summary>
    public const string Api = "api";

    /// <summary>
    /// Orchestration control messages (start, raise event, terminate, timers) of control partition 0. Partitions 1..
    /// are <c>DurableControl1</c>... (<see cref="DurableControlFunction"/>); partition 0 keeps the name it had before
    /// there were partitions, so a deployed app keeps its function.
    /// </summary>
    public const string DurableControl = "DurableControl";

    /// <summary>
    /// Control queues of the durable runtime: an instance's messages go to partition <c>hash(instanceId) % 4</c>, and
    /// the host runs one queue-triggered function per partition, so several instances' steps run in parallel.
    /// </summary>
    public const int DurableControlPartitions = 4;

    /// <summary>Activity work items for the durable runtime.</summary>
    public const string DurableWork = "DurableWork";

    /// <summary>Event Grid <c>Microsoft.Storage.BlobCreated</c> events from the upload containers.</summary>
    public const string BlobCreated = "BlobCreated";

    /// <summary>Control partition 0's queue (<see cref="DurableControlQueueOf"/> names them all).</summary>
    public const string DurableControlQueue = "durable-control-0";

    public const string DurableWorkQueue = "durable-work";

    /// <summary>All functions, by name (ordinal, as the host matches folder names).</summary>
    public static IReadOnlyDictionary<string, FunctionDefinition> All { get; } = Definitions().ToDictionary(f => f.Name, StringComparer.Ordinal);

    private static FunctionDefinition[] Definitions() =>
    [
        new FunctionDefinition(Api, TriggerKind.Http, [
            new FunctionBinding("req", "httpTrigger", "in"),
            new FunctionBinding("res", "http", "out"),
        ]),
        .. Enumerable.Range(0, DurableControlPartitions).Select(p => new FunctionDefinition(DurableControlFunction(p), TriggerKind.Queue, [
            new FunctionBinding("message", "queueTrigger", "in", DurableControlQueueOf(p)),
        ])),
        new FunctionDefinition(DurableWork, TriggerKind.Queue, [
            new FunctionBinding("message", "queueTrigger", "in", DurableWorkQueue),
        ]),
        new FunctionDefinition(BlobCreated, TriggerKind.EventGrid, [
            new FunctionBinding("eventGridEvent", "eventGridTrigger", "in"),
        ]),
    ];

    /// <summary>The function that receives control partition <paramref name="partition"/>'s queue.</summary>
    public static string DurableControlFunction(int partition) =>
        partition == 0 ? DurableControl : DurableControl + partition.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Control partition <paramref name="partition"/>'s queue (the durable runtime's <c>ControlQueue(partition)</c> for task hub <c>durable</c>).</summary>
    public static string DurableControlQueueOf(int partition) =>
        "durable-control-" + partition.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The binding type the host uses for each trigger kind.</summary>
    public static string TriggerBindingType(TriggerKind kind) => kind switch
    {
        TriggerKind.Http => "httpTrigger",
        TriggerKind.Queue => "queueTrigger",
        TriggerKind.EventGrid => "eventGridTrigger",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown trigger kind."),
    };
}
