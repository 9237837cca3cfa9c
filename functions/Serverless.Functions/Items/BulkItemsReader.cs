using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Serverless.Functions.Items;

/// <summary>One entry of a bulk request as read: its path, its content and metadata re-serialized, or why it is unusable.</summary>
/// <param name="Path">The path as sent (not yet normalized); null when absent or JSON null.</param>
/// <param name="Content">The content value serialized as <see cref="JsonSerializer"/> writes it; null when absent or JSON null.</param>
/// <param name="Metadata">The metadata object serialized likewise; null when absent or JSON null.</param>
/// <param name="Error">Set when the entry is not an object or a field has the wrong JSON type.</param>
public readonly record struct BulkEntry(string? Path, byte[]? Content, byte[]? Metadata, string? Error);

/// <summary>
/// Reads a bulk request body (<c>{"items": [entries]}</c>, <see cref="BulkItemsRequest"/>) from its UTF-8 bytes
/// without building a JSON tree: each entry's content and metadata are copied token by token into the bytes the
/// item document stores, so a 5,000-entry request allocates no node per value and its entries can be written while
/// later ones are still read.
/// </summary>
/// <remarks>
/// It reads what the model binder read before it (web defaults): property names case-insensitive, unknown properties
/// ignored, the last of repeated properties wins, depth at most 64, no comments or trailing commas. Content and metadata
/// come out byte for byte as <see cref="JsonSerializer"/> wrote the bound nodes: strings and names unescaped and escaped
/// again by the default encoder, numbers as sent, repeated names inside them kept. Unlike the binder, an entry whose
/// <c>path</c>, <c>metadata</c> or whole value has the wrong JSON type fails alone (400 for that entry) instead of
/// failing the request.
/// </remarks>
public static class BulkItemsReader
{
    /// <summary>Where the entries are: the offset in the body of the items array's <c>[</c> (-1 when absent or null) and how many it holds.</summary>
    public readonly record struct Shape(int ItemsStart, int Count);

    /// <summary>Checks that the whole body is JSON of the request's shape and finds its entries.</summary>
    /// <exception cref="BulkRequestException">Not JSON, not an object, or <c>items</c> is neither an array nor null.</exception>
    public static Shape Inspect(ReadOnlySpan<byte> body)
    {
        // A UTF-8 byte order mark is skipped, as the binder's stream reading skipped it.
        var bom = body.StartsWith("\uFEFF"u8) ? 3 : 0;
        var reader = new Utf8JsonReader(body[bom..]);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new BulkRequestException("body", "The body must be a JSON object: {\"items\": [...]}.");
            }

            var shape = new Shape(-1, 0);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isItems = NameIs(ref reader, "items");
                reader.Read();
                if (!isItems)
                {
                    reader.Skip();
                }
                else if (reader.TokenType == JsonTokenType.Null)
                {
                    shape = new Shape(-1, 0);
                }
                else if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw new BulkRequestException("items", "'items' must be an array of entries.");
                }
                else
                {
                    var start = bom + checked((int)reader.TokenStartIndex);
                    var count = 0;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        reader.Skip();
                        count++;
                    }

                    shape = new Shape(start, count);
                }
            }

            // Anything after the root object is an error too, as the binder reported it.
            while (reader.Read())
            {
            }

            return shape;
        }
        catch (JsonException ex)
        {
            throw new BulkRequestException("body", $"The body is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>Reads the entries of a body that <see cref="Inspect"/> accepted, in order, handing each to <paramref name="entry"/>.</summary>
    public static void ReadEntries(ReadOnlySpan<byte> body, Shape shape, Action<int, BulkEntry> entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (shape.ItemsStart < 0)
        {
            return;
        }

        var reader = new Utf8JsonReader(body[shape.ItemsStart..]);
        reader.Read();
        var buffer = new ArrayBufferWriter<byte>(256);
        using var writer = new Utf8JsonWriter(buffer);
        for (var index = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; index++)
        {
            entry(index, ReadEntry(ref reader, buffer, writer));
        }
    }

    private static BulkEntry ReadEntry(ref Utf8JsonReader reader, ArrayBufferWriter<byte> buffer, Utf8JsonWriter writer)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return new BulkEntry(null, null, null, null);
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return new BulkEntry(null, null, null, "Each entry must be a JSON object with 'path' and 'content'.");
        }

        string? path = null, error = null;
        byte[]? content = null, metadata = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FieldOf(ref reader);
            reader.Read();
            switch (field)
            {
                case 1 when reader.TokenType is JsonTokenType.String or JsonTokenType.Null:
                    path = reader.TokenType == JsonTokenType.Null ? null : Text(ref reader, "'path'", ref error);
                    break;
                case 1:
                    error ??= "'path' must be a string.";
                    reader.Skip();
                    break;
                case 2:
                    content = reader.TokenType == JsonTokenType.Null ? null : Copy(ref reader, buffer, writer, "'content'", ref error);
                    break;
                case 3 when reader.TokenType is JsonTokenType.StartObject or JsonTokenType.Null:
                    metadata = reader.TokenType == JsonTokenType.Null ? null : Copy(ref reader, buffer, writer, "'metadata'", ref error);
                    break;
                case 3:
                    error ??= "'metadata' must be a JSON object.";
                    reader.Skip();
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return new BulkEntry(path, content, metadata, error);
    }

    /// <summary>The value at the reader (a whole object or array included) as the serializer writes it.</summary>
    private static byte[]? Copy(ref Utf8JsonReader reader, ArrayBufferWriter<byte> buffer, Utf8JsonWriter writer, string field, ref string? error)
    {
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        var depth = reader.CurrentDepth;
        var container = reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray;
        try
        {
            while (true)
            {
                WriteToken(ref reader, writer);

                // A container ends with its closing token at its own depth; anything else is one token.
                if (reader.CurrentDepth == depth && (!container || reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray))
                {
                    break;
                }

                reader.Read();
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // A string the writer cannot encode (invalid UTF-8, a lone surrogate): this entry fails, the others go on.
            error ??= NotUnicode(field);
            while (container && !(reader.CurrentDepth == depth && reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray))
            {
                reader.Read();
            }

            return null;
        }

        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteToken(ref Utf8JsonReader reader, Utf8JsonWriter writer)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                writer.WriteStartObject();
                break;
            case JsonTokenType.EndObject:
                writer.WriteEndObject();
                break;
            case JsonTokenType.StartArray:
                writer.WriteStartArray();
                break;
            case JsonTokenType.EndArray:
                writer.WriteEndArray();
                break;
            case JsonTokenType.PropertyName:
                WriteUnescaped(ref reader, writer, name: true);
                break;
            case JsonTokenType.String:
                WriteUnescaped(ref reader, writer, name: false);
                break;
            case JsonTokenType.Number:
                // As sent ("1.50e3" stays so), as the serializer writes a parsed number.
                writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                break;
            case JsonTokenType.True or JsonTokenType.False:
                writer.WriteBooleanValue(reader.TokenType == JsonTokenType.True);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }

    private static void WriteUnescaped(ref Utf8JsonReader reader, Utf8JsonWriter writer, bool name)
    {
        var rented = reader.ValueIsEscaped ? ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length) : null;
        try
        {
            var text = rented is null ? reader.ValueSpan : rented.AsSpan(0, reader.CopyString(rented));
            if (name)
            {
                writer.WritePropertyName(text);
            }
            else
            {
                writer.WriteStringValue(text);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static string? Text(ref Utf8JsonReader reader, string field, ref string? error)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            error ??= NotUnicode(field);
            return null;
        }
    }

    private static string NotUnicode(string field) => $"{field} holds text that is not valid Unicode.";

    /// <summary>Which entry field the property name at the reader names: 1 path, 2 content, 3 metadata, 0 another.</summary>
    private static int FieldOf(ref Utf8JsonReader reader)
    {
        // An escaped name is unescaped once, not once per field it is compared with.
        var escaped = reader.ValueIsEscaped ? reader.GetString() : null;
        return Matches(escaped, reader.ValueSpan, "path") ? 1 : Matches(escaped, reader.ValueSpan, "content") ? 2 : Matches(escaped, reader.ValueSpan, "metadata") ? 3 : 0;
    }

    /// <summary>Whether the property name at the reader is <paramref name="name"/>, ignoring case as the binder did.</summary>
    private static bool NameIs(ref Utf8JsonReader reader, string name) =>
        Matches(reader.ValueIsEscaped ? reader.GetString() : null, reader.ValueSpan, name);

    /// <summary>A property name (unescaped text when it was escaped, else its raw bytes) against a field name, ignoring case.</summary>
    private static bool Matches(string? escaped, ReadOnlySpan<byte> raw, string name) =>
        escaped is not null
            ? string.Equals(escaped, name, StringComparison.OrdinalIgnoreCase)
            : raw.Length == name.Length && Ascii.EqualsIgnoreCase(raw, name);
}

/// <summary>A bulk request body that cannot be read at all; <see cref="Field"/> names what is wrong.</summary>
public sealed class BulkRequestException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
