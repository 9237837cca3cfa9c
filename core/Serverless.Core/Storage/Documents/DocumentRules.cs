using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serverless.Core.Storage.Documents;

/// <summary>
/// Input checks shared by every adapter, so both reject the same things with the same errors
/// before touching storage.
/// </summary>
public static class DocumentRules
{
    /// <summary>Ids and partition keys: 1..255 characters, no '/', '\', '?', '#' (Cosmos DB's rules), no control characters.</summary>
    public static void ValidateKey(string value, string what)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new InvalidDocumentException($"The {what} must not be empty.");
        }

        if (value.Length > DocumentLimits.MaxKeyLength)
        {
            throw new InvalidDocumentException($"The {what} is {value.Length} characters long; the limit is {DocumentLimits.MaxKeyLength}.");
        }

        foreach (var c in value)
        {
            if (c is '/' or '\\' or '?' or '#' || char.IsControl(c))
            {
                throw new InvalidDocumentException($"The {what} '{Printable(value)}' contains '{Printable(c.ToString())}', which is not allowed (no '/', '\\', '?', '#' or control characters).");
            }
        }
    }

    /// <summary>Container names: 3..63 of lowercase letters, digits and '-', starting with a letter.</summary>
    public static void ValidateContainerName(string name)
    {
        if (name.Length is < 3 or > 63 || !char.IsAsciiLetterLower(name[0]) ||
            !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new InvalidDocumentException($"Container name '{Printable(name)}' is invalid: use 3 to 63 lowercase letters, digits and '-', starting with a letter.");
        }
    }

    /// <summary>Field paths: dot-separated segments of letters, digits and '_' (no leading digit).</summary>
    public static void ValidatePath(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new InvalidQueryException("A field path must not be empty.", path);
        }

        foreach (var segment in path.Split('.'))
        {
            if (segment.Length == 0 || char.IsAsciiDigit(segment[0]) ||
                !segment.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new InvalidQueryException($"Field path '{Printable(path)}' is invalid: use dot-separated names of letters, digits and '_'.", path);
            }
        }
    }

    /// <summary>
    /// Sets the system fields <c>id</c> and <c>pk</c> on <paramref name="body"/> (the object is changed:
    /// pass a copy to keep the caller's) and returns its UTF-8 serialization, rejecting bodies over
    /// <see cref="DocumentLimits.MaxDocumentBytes"/>.
    /// </summary>
    public static byte[] Serialize(string partitionKey, string id, JsonObject body)
    {
        ValidateKey(partitionKey, "partition key");
        ValidateKey(id, "document id");
        body["id"] = id;
        body["pk"] = partitionKey;
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        if (bytes.Length > DocumentLimits.MaxDocumentBytes)
        {
            throw new InvalidDocumentException($"Document '{id}' is {bytes.Length} bytes; the limit is {DocumentLimits.MaxDocumentBytes} bytes.");
        }

        return bytes;
    }

    /// <summary>
    /// Checks a body serialized by the caller (<see cref="BatchOperation.CreateRaw"/>) in one forward-only pass: a single
    /// JSON object of at most <see cref="DocumentLimits.MaxDocumentBytes"/> whose top-level <c>id</c> and <c>pk</c> are
    /// <paramref name="id"/> and <paramref name="partitionKey"/>, as <see cref="Serialize"/> would have set them.
    /// </summary>
    public static void ValidateRaw(string partitionKey, string id, ReadOnlySpan<byte> utf8)
    {
        ValidateKey(partitionKey, "partition key");
        ValidateKey(id, "document id");
        if (utf8.Length > DocumentLimits.MaxDocumentBytes)
        {
            throw new InvalidDocumentException($"Document '{id}' is {utf8.Length} bytes; the limit is {DocumentLimits.MaxDocumentBytes} bytes.");
        }

        bool idSeen = false, pkSeen = false;
        try
        {
            var reader = new Utf8JsonReader(utf8);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new InvalidDocumentException($"Document '{id}' is not a JSON object.");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                var isPk = !isId && reader.ValueTextEquals("pk"u8);
                reader.Read();
                if (isId || isPk)
                {
                    var expected = isId ? id : partitionKey;
                    if ((isId ? idSeen : pkSeen) || reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals(expected))
                    {
                        throw new InvalidDocumentException($"Document '{id}' must hold \"{(isId ? "id" : "pk")}\": \"{Printable(expected)}\" once.");
                    }

                    idSeen |= isId;
                    pkSeen |= isPk;
                }

                reader.Skip();
            }

            // Anything after the object (another value) makes Read throw.
            if (reader.Read())
            {
                throw new InvalidDocumentException($"Document '{id}' holds more than one JSON value.");
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDocumentException($"Document '{id}' is not valid JSON: {e.Message}");
        }

        if (!idSeen || !pkSeen)
        {
            throw new InvalidDocumentException($"Document '{id}' must hold \"id\" and \"pk\".");
        }
    }

    private static string Printable(string s) =>
        new(s.Select(c => char.IsControl(c) ? '?' : c).Take(80).ToArray());
}
