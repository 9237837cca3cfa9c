namespace Serverless.Functions.Local;

/// <summary>Settings of the standalone stand-ins for the Functions host's triggers (section <c>LocalHost</c>).</summary>
public sealed record LocalHostOptions
{
    public const string Section = "LocalHost";

    /// <summary>Default upload container watched for new blobs.</summary>
    public const string DefaultUploadContainer = "uploads";

    /// <summary>Containers whose new blobs raise BlobCreated (as the Event Grid subscription does in Azure). Default: <c>uploads</c>.</summary>
    public string[]? UploadContainers { get; set; }

    /// <summary>Messages received per poll (1..32).</summary>
    public int QueueBatchSize { get; set; } = 16;

    /// <summary>How long a received message stays hidden while its handler runs.</summary>
    public TimeSpan QueueVisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts before a message moves to <c>{queue}-poison</c> (the Functions host's default is 5).</summary>
    public int MaxDequeueCount { get; set; } = 5;

    /// <summary>Wait after an empty poll; doubles while the queue stays empty, up to <see cref="MaxQueuePollInterval"/>.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxQueuePollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the upload containers are listed.</summary>
    public TimeSpan BlobPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The containers actually watched.</summary>
    public IReadOnlyList<string> EffectiveUploadContainers =>
        UploadContainers is { Length: > 0 } containers ? containers.Distinct(StringComparer.Ordinal).ToArray() : [DefaultUploadContainer];

    /// <summary>Every problem with the settings, phrased with the configuration key to fix.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (QueueBatchSize is < 1 or > 32)
        {
            errors.Add($"LocalHost:QueueBatchSize is {QueueBatchSize}; use 1..32 (Azure Queue Storage's limit).");
        }

        if (MaxDequeueCount < 1)
        {
            errors.Add($"LocalHost:MaxDequeueCount is {MaxDequeueCount}; use 1 or more.");
        }

        if (QueueVisibilityTimeout < TimeSpan.FromSeconds(1) || QueueVisibilityTimeout > TimeSpan.FromDays(7))
        {
            errors.Add("LocalHost:QueueVisibilityTimeout must be between 1 second and 7 days.");
        }

        if (QueuePollInterval <= TimeSpan.Zero || MaxQueuePollInterval < QueuePollInterval)
        {
            errors.Add("LocalHost:QueuePollInterval must be positive and not above LocalHost:MaxQueuePollInterval.");
        }

        if (BlobPollInterval <= TimeSpan.Zero)
        {
            errors.Add("LocalHost:BlobPollInterval must be positive.");
        }

        return errors;
    }
}
