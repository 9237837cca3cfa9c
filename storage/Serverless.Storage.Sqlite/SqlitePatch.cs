using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// Applies patch operations to a parsed body. Rules (as in Cosmos DB): 1 to 10 operations; a path's parent
/// objects must exist; Remove of a missing field fails; Increment needs a number (a missing field counts
/// as 0); the system fields <c>id</c> and <c>pk</c> cannot be patched. Any failure leaves the document unchanged.
/// </summary>
internal static class SqlitePatch
{
    public static void Validate(IReadOnlyList<PatchOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count is 0 or > DocumentLimits.MaxPatchOperations)
        {
            throw new InvalidDocumentException($"A patch holds 1 to {DocumentLimits.MaxPatchOperations} operations; this one holds {operations.Count}.");
        }

        foreach (var op in operations)
        {
            if (op is null)
            {
                throw new InvalidDocumentException("A patch operation is null.");
            }

            try
            {
                DocumentRules.ValidatePath(op.Path);
            }
            catch (InvalidQueryException e)
            {
                throw new InvalidDocumentException($"Patch path is invalid: {e.Message}");
            }

            if (op.Path is "id" or "pk")
            {
                throw new InvalidDocumentException($"The system field '{op.Path}' cannot be patched.");
            }

            if (op.Kind == PatchKind.Increment && op.Value?.GetValueKind() != JsonValueKind.Number)
            {
                throw new InvalidDocumentException($"Increment of '{op.Path}' needs a number.");
            }

            if (op.Kind is not (PatchKind.Set or PatchKind.Remove or PatchKind.Increment))
            {
                throw new InvalidDocumentException($"Unknown patch operation kind {op.Kind}.");
            }
        }
    }

    public static void Apply(JsonObject body, IReadOnlyList<PatchOperation> operations)
    {
        foreach (var op in operations)
        {
            var segments = op.Path.Split('.');
            var parent = Parent(body, segments, op.Path);
            var name = segments[^1];
            switch (op.Kind)
            {
                case PatchKind.Set:
                    parent[name] = op.Value?.DeepClone();
                    break;
                case PatchKind.Remove:
                    if (!parent.Remove(name))
                    {
                        throw new InvalidDocumentException($"Cannot remove '{op.Path}': the field does not exist.");
                    }

                    break;
                case PatchKind.Increment:
                    parent.TryGetPropertyValue(name, out var current);
                    parent[name] = Add(current, op.Value!, op.Path);
                    break;
            }
        }
    }

    private static JsonObject Parent(JsonObject body, string[] segments, string path)
    {
        var node = body;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            node = node[segments[i]] as JsonObject
                ?? throw new InvalidDocumentException($"Cannot patch '{path}': '{string.Join('.', segments[..(i + 1)])}' is not an object.");
        }

        return node;
    }

    private static JsonValue Add(JsonNode? current, JsonNode by, string path)
    {
        if (current is not null && current.GetValueKind() != JsonValueKind.Number)
        {
            throw new InvalidDocumentException($"Cannot increment '{path}': it holds a {current.GetValueKind()}, not a number.");
        }

        var left = current is null ? 0L : SqliteFilterCompiler.Number(current.ToJsonString());
        var right = SqliteFilterCompiler.Number(by.ToJsonString());
        if (left is long a && right is long b)
        {
            try
            {
                return JsonValue.Create(checked(a + b));
            }
            catch (OverflowException)
            {
                throw new InvalidDocumentException($"Cannot increment '{path}': the result overflows a 64-bit integer.");
            }
        }

        return JsonValue.Create(Convert.ToDouble(left, CultureInfo.InvariantCulture) + Convert.ToDouble(right, CultureInfo.InvariantCulture));
    }
}
