using System.Text.Json;

namespace Serverless.Durable.Orchestration;

/// <summary>
/// The one serializer for inputs, outputs, event payloads and history, so that what an orchestrator
/// saw when it ran is exactly what it sees on replay.
/// </summary>
public static class DurableJson
{
    /// <summary>Web defaults (camelCase, case-insensitive reads); shared so that every payload round-trips alike.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>JSON text for <paramref name="value"/>, or null for null.</summary>
    public static string? Serialize(object? value) =>
        value is null ? null : JsonSerializer.Serialize(value, value.GetType(), Options);

    /// <summary>Reads <paramref name="json"/> as <paramref name="type"/>; null text gives the type's default.</summary>
    public static object? Deserialize(string? json, Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (json is null)
        {
            return type.IsValueType && Nullable.GetUnderlyingType(type) is null ? Activator.CreateInstance(type) : null;
        }

        return JsonSerializer.Deserialize(json, type, Options);
    }

    /// <summary>Reads <paramref name="json"/> as <typeparamref name="T"/>; null text gives default.</summary>
    public static T? Deserialize<T>(string? json) => (T?)Deserialize(json, typeof(T));
}
