using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.Functions.CustomHandler;

/// <summary>
/// What the Functions host POSTs to <c>/{FunctionName}</c> for a non-HTTP trigger: binding values under
/// <c>Data</c> (keyed by binding name) and trigger metadata under <c>Metadata</c>.
/// </summary>
/// <remarks>
/// Values are kept as raw JSON because the host serializes them unevenly: a queue message arrives as a
/// JSON string that may hold another JSON string (the host serializes the text once more before
/// writing the payload), metadata numbers arrive as strings, objects as objects. See <see cref="TolerantJson"/>.
/// </remarks>
public sealed record InvocationRequest(
    [property: JsonPropertyName("Data")] IReadOnlyDictionary<string, JsonElement>? Data,
    [property: JsonPropertyName("Metadata")] IReadOnlyDictionary<string, JsonElement>? Metadata)
{
    /// <summary>The value of binding <paramref name="name"/>; with a single entry, that entry whatever its name.</summary>
    public JsonElement? FindData(string name) => Find(Data, name, fallbackToSingle: true);

    /// <summary>The metadata value <paramref name="name"/> (case-insensitive), if present and not null.</summary>
    public JsonElement? FindMetadata(string name) => Find(Metadata, name, fallbackToSingle: false);

    private static JsonElement? Find(IReadOnlyDictionary<string, JsonElement>? values, string name, bool fallbackToSingle)
    {
        if (values is null || values.Count == 0)
        {
            return null;
        }

        if (values.TryGetValue(name, out var exact))
        {
            return exact.ValueKind == JsonValueKind.Null ? null : exact;
        }

        foreach (var (key, value) in values)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value.ValueKind == JsonValueKind.Null ? null : value;
            }
        }

        return fallbackToSingle && values.Count == 1 ? values.Values.First() : null;
    }
}

/// <summary>
/// What the Functions host expects back: output binding values, log lines for the invocation log, and
/// the <c>$return</c> value. A non-success status code fails the invocation (the host then retries;
/// for queues, the message eventually goes to the poison queue).
/// </summary>
public sealed record InvocationResponse(
    [property: JsonPropertyName("Outputs")] IReadOnlyDictionary<string, object?> Outputs,
    [property: JsonPropertyName("Logs")] IReadOnlyList<string> Logs,
    [property: JsonPropertyName("ReturnValue")] object? ReturnValue)
{
    public static InvocationResponse FromLogs(params IReadOnlyList<string> logs) =>
        new(new Dictionary<string, object?>(), logs, null);
}

/// <summary>The invocation payload cannot be understood (a bad request from the host or a caller).</summary>
public sealed class InvalidInvocationException(string message) : Exception(message);
