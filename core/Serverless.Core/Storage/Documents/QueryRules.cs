using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serverless.Core.Storage.Documents;

/// <summary>Checks a query before any adapter compiles it, so both adapters reject the same queries alike.</summary>
public static class QueryRules
{
    public static void Validate(DocumentQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > DocumentLimits.MaxPageSize)
        {
            throw new InvalidQueryException($"Page size {query.PageSize} is out of range: use 1 to {DocumentLimits.MaxPageSize}.", "pageSize");
        }

        if (query.PartitionKey is not null)
        {
            DocumentRules.ValidateKey(query.PartitionKey, "partition key");
        }

        foreach (var sort in query.OrderBy ?? [])
        {
            DocumentRules.ValidatePath(sort.Path);
        }

        if (query.Where is not null)
        {
            ValidateFilter(query.Where);
        }
    }

    public static void ValidateFilter(Filter filter) => Validate(filter, depth: 1, location: "where");

    private static void Validate(Filter filter, int depth, string location)
    {
        if (depth > DocumentLimits.MaxFilterDepth)
        {
            throw new InvalidQueryException($"The filter at '{location}' nests deeper than {DocumentLimits.MaxFilterDepth} levels.", location);
        }

        switch (filter)
        {
            case Comparison c:
                DocumentRules.ValidatePath(c.Path);
                RequireScalar(c.Value, c.Path);
                if (c.Operator is ComparisonOperator.Contains or ComparisonOperator.HasElement or ComparisonOperator.StartsWith or ComparisonOperator.EndsWith &&
                    c.Value?.GetValueKind() != JsonValueKind.String)
                {
                    throw new InvalidQueryException($"Operator {c.Operator} on '{c.Path}' needs a string value.", c.Path);
                }

                break;
            case InList list:
                DocumentRules.ValidatePath(list.Path);
                if (list.Values.Count is 0 or > 256)
                {
                    throw new InvalidQueryException($"The list for '{list.Path}' must hold 1 to 256 values; it holds {list.Values.Count}.", list.Path);
                }

                foreach (var value in list.Values)
                {
                    RequireScalar(value, list.Path);
                }

                break;
            case FieldExists e:
                DocumentRules.ValidatePath(e.Path);
                break;
            case AllOf all:
                ValidateGroup(all.Filters, depth, location + ".and");
                break;
            case AnyOf any:
                ValidateGroup(any.Filters, depth, location + ".or");
                break;
            default:
                throw new InvalidQueryException($"Unsupported filter type {filter.GetType().Name} at '{location}'.", location);
        }
    }

    private static void ValidateGroup(IReadOnlyList<Filter> filters, int depth, string location)
    {
        if (filters.Count == 0)
        {
            throw new InvalidQueryException($"The group at '{location}' is empty.", location);
        }

        for (var i = 0; i < filters.Count; i++)
        {
            Validate(filters[i], depth + 1, $"{location}[{i}]");
        }
    }

    private static void RequireScalar(JsonNode? value, string path)
    {
        if (value is not null and not JsonValue)
        {
            throw new InvalidQueryException($"The value compared with '{path}' must be a string, number, boolean or null.", path);
        }
    }
}
