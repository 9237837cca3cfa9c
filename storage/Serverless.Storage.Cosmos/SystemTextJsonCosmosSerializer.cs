using System.Text.Json;
using Microsoft.Azure.Cosmos;

namespace Serverless.Storage.Cosmos;

/// <summary>
/// Serializes the SDK's user payloads (patch values, query parameters, typed results) with
/// System.Text.Json, so that <see cref="System.Text.Json.Nodes.JsonObject"/> bodies travel unchanged
/// and Newtonsoft never reinterprets them (dates, large numbers).
/// </summary>
internal sealed class SystemTextJsonCosmosSerializer : CosmosSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public override T FromStream<T>(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (typeof(Stream).IsAssignableFrom(typeof(T)))
        {
            return (T)(object)stream;
        }

        using (stream)
        {
            return JsonSerializer.Deserialize<T>(stream, Options)!;
        }
    }

    public override Stream ToStream<T>(T input)
    {
        var stream = new MemoryStream();
        JsonSerializer.Serialize(stream, input, Options);
        stream.Position = 0;
        return stream;
    }
}
