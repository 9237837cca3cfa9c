using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serverless.Core.Imports;

/// <summary>One value met at the top level of a JSON object document.</summary>
/// <param name="Property">The top-level property it belongs to.</param>
/// <param name="Index">Its position in that property's array; -1 for the property's own value.</param>
/// <param name="Value">The element; for a property that is not read as an array, its value when it is a scalar (objects and arrays are skipped: null).</param>
public sealed record JsonArrayElement(string Property, int Index, JsonNode? Value);

/// <summary>The document is not JSON, or not shaped as an import needs; the message says where.</summary>
public sealed class ImportFormatException(string message) : Exception(message);

/// <summary>
/// Reads a JSON object document from a stream, one element of its chosen top-level arrays at a time, without
/// holding the document in memory: only the element being read is buffered (so memory is bounded by the largest
/// element, at most <see cref="MaxElementBytes"/>). Used to import label files of hundreds of megabytes.
/// </summary>
public static class JsonArrayReader
{
    /// <summary>Largest single element (one item with its annotations, one COCO annotation) accepted.</summary>
    public const int MaxElementBytes = 64 * 1024 * 1024;

    private const int InitialBuffer = 64 * 1024;

    private enum Stage
    {
        Start,
        Property,
        Value,
        InArray,
        Done,
    }

    /// <summary>
    /// Yields every element of the top-level arrays named in <paramref name="arrays"/>, and each other top-level
    /// property once (with its scalar value, or null for an object or array, which is skipped).
    /// </summary>
    /// <exception cref="ImportFormatException">Not JSON, not an object, a chosen property is not an array, or an element is too large.</exception>
    public static async IAsyncEnumerable<JsonArrayElement> ReadAsync(Stream stream, IReadOnlySet<string> arrays, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(arrays);
        var walker = new Walker(arrays);
        var buffer = new byte[InitialBuffer];
        var filled = 0;
        var final = false;
        var output = new List<JsonArrayElement>();
        while (walker.Stage != Stage.Done)
        {
            if (!final && filled < buffer.Length)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(filled), ct);
                filled += read;
                final = read == 0;
                if (!final && filled < buffer.Length)
                {
                    continue;
                }
            }

            var consumed = walker.Step(buffer.AsSpan(0, filled), final, output);
            foreach (var element in output)
            {
                yield return element;
            }

            output.Clear();
            if (walker.Stage == Stage.Done)
            {
                break;
            }

            if (final && consumed == 0)
            {
                throw new ImportFormatException($"The JSON ends early, at byte {walker.Offset + filled}: the document is incomplete.");
            }

            if (consumed == 0 && filled == buffer.Length)
            {
                if (buffer.Length >= MaxElementBytes)
                {
                    throw new ImportFormatException($"An entry starting near byte {walker.Offset} is larger than {MaxElementBytes} bytes.");
                }

                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxElementBytes));
            }

            buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
            filled -= consumed;
        }
    }

    /// <summary>The synchronous part: the reader is a ref struct and cannot live across an await.</summary>
    private sealed class Walker(IReadOnlySet<string> arrays)
    {
        private JsonReaderState _state = new(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        private string _property = string.Empty;
        private int _index;

        public Stage Stage { get; private set; } = Stage.Start;

        /// <summary>Bytes of the document consumed before the current buffer.</summary>
        public long Offset { get; private set; }

        public int Step(ReadOnlySpan<byte> data, bool final, List<JsonArrayElement> output)
        {
            var reader = new Utf8JsonReader(data, final, _state);
            var kept = reader;
            try
            {
                while (Stage != Stage.Done)
                {
                    kept = reader;
                    if (!reader.Read())
                    {
                        break;
                    }

                    if (!Handle(ref reader, data, output))
                    {
                        reader = kept;
                        break;
                    }
                }
            }
            catch (JsonException ex)
            {
                throw new ImportFormatException($"Not valid JSON near byte {Offset + reader.BytesConsumed}: {ex.Message}");
            }

            if (Stage == Stage.Done && final)
            {
                // Anything after the document's closing brace other than whitespace is an error.
                try
                {
                    if (reader.Read())
                    {
                        throw new ImportFormatException($"Unexpected content after the end of the document, near byte {Offset + reader.TokenStartIndex}.");
                    }
                }
                catch (JsonException ex)
                {
                    throw new ImportFormatException($"Not valid JSON near byte {Offset + reader.BytesConsumed}: {ex.Message}");
                }
            }

            var consumed = (int)reader.BytesConsumed;
            _state = reader.CurrentState;
            Offset += consumed;
            return consumed;
        }

        /// <summary>Handles the token just read; false when the value it starts is not all in the buffer yet.</summary>
        private bool Handle(ref Utf8JsonReader reader, ReadOnlySpan<byte> data, List<JsonArrayElement> output)
        {
            switch (Stage)
            {
                case Stage.Start:
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw new ImportFormatException("The document must be a JSON object.");
                    }

                    Stage = Stage.Property;
                    return true;
                case Stage.Property:
                    if (reader.TokenType == JsonTokenType.EndObject)
                    {
                        Stage = Stage.Done;
                        return true;
                    }

                    _property = reader.GetString()!;
                    Stage = Stage.Value;
                    return true;
                case Stage.Value:
                    if (arrays.Contains(_property))
                    {
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            throw new ImportFormatException($"'{_property}' must be an array.");
                        }

                        _index = 0;
                        Stage = Stage.InArray;
                        return true;
                    }

                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        if (!reader.TrySkip())
                        {
                            return false;
                        }

                        output.Add(new JsonArrayElement(_property, -1, null));
                    }
                    else
                    {
                        output.Add(new JsonArrayElement(_property, -1, Scalar(ref reader, data)));
                    }

                    Stage = Stage.Property;
                    return true;
                default:
                    if (reader.TokenType == JsonTokenType.EndArray)
                    {
                        Stage = Stage.Property;
                        return true;
                    }

                    var start = (int)reader.TokenStartIndex;
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        if (!reader.TrySkip())
                        {
                            return false;
                        }

                        output.Add(new JsonArrayElement(_property, _index++, JsonNode.Parse(data[start..(int)reader.BytesConsumed])));
                    }
                    else
                    {
                        output.Add(new JsonArrayElement(_property, _index++, Scalar(ref reader, data)));
                    }

                    return true;
            }
        }

        private static JsonNode? Scalar(ref Utf8JsonReader reader, ReadOnlySpan<byte> data) =>
            reader.TokenType == JsonTokenType.Null ? null : JsonNode.Parse(data[(int)reader.TokenStartIndex..(int)reader.BytesConsumed]);
    }
}
