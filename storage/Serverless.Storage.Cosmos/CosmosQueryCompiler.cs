using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Cosmos;

/// <summary>
/// Compiles the port's <see cref="DocumentQuery"/> and <see cref="Filter"/> to Cosmos SQL, with every
/// value passed as a parameter (<c>@p0</c>, <c>@p1</c>, ...) and every path validated and written in
/// bracket form (<c>c["meta"]["size"]</c>) so that no input text reaches the query and reserved words
/// (<c>value</c>, <c>order</c>) need no escaping.
/// </summary>
/// <remarks>
/// The semantics match the SQLite adapter's:
/// <list type="bullet">
/// <item><c>eq</c>, <c>gt</c>, <c>gte</c>, <c>lt</c>, <c>lte</c> and <c>in</c> match only values of the
/// compared value's JSON type; Cosmos already yields <c>undefined</c> (no match) across types and for missing fields.</item>
/// <item><c>ne</c> and <c>nin</c> match every present value that differs, of any type (JSON null included),
/// but never a missing field: hence <c>IS_DEFINED</c> plus a type guard, since a bare <c>!=</c> across
/// types is <c>undefined</c> in Cosmos.</item>
/// <item><c>contains</c> is a case-sensitive substring test on strings and an element test on arrays.</item>
/// <item><c>exists</c> is <c>IS_DEFINED</c>: a field holding null exists.</item>
/// </list>
/// </remarks>
public static class CosmosQueryCompiler
{
    /// <summary>The SELECT for one page: filter, then the sort keys and <c>c.id</c> as the final tie-breaker.</summary>
    public static QueryDefinition CompileSelect(DocumentQuery query)
    {
        QueryRules.Validate(query);
        var builder = new Builder();
        var sql = new StringBuilder("SELECT * FROM c");
        AppendWhere(builder, sql, query.PartitionKey, query.Where);
        sql.Append(" ORDER BY ");
        foreach (var sort in query.OrderBy ?? [])
        {
            if (sort.Path == "id")
            {
                // Ids are unique, so keys after an explicit id sort could never matter.
                sql.Append(sort.Descending ? "c.id DESC" : "c.id ASC");
                return builder.Build(sql.ToString());
            }

            sql.Append(PathExpression(sort.Path)).Append(sort.Descending ? " DESC, " : " ASC, ");
        }

        sql.Append("c.id ASC");
        return builder.Build(sql.ToString());
    }

    /// <summary><c>SELECT VALUE COUNT(1)</c> over the filter.</summary>
    public static QueryDefinition CompileCount(string? partitionKey, Filter? where)
    {
        ValidatePartitionKey(partitionKey);
        if (where is not null)
        {
            QueryRules.ValidateFilter(where);
        }

        var builder = new Builder();
        var sql = new StringBuilder("SELECT VALUE COUNT(1) FROM c");
        AppendWhere(builder, sql, partitionKey, where);
        return builder.Build(sql.ToString());
    }

    /// <summary>Counts per distinct value of <paramref name="groupByPath"/>; rows come back as <c>{"v": value, "n": count}</c>
    /// (<c>v</c> absent for documents missing the field).</summary>
    public static QueryDefinition CompileCountBy(string? partitionKey, Filter? where, string groupByPath)
    {
        ValidatePartitionKey(partitionKey);
        DocumentRules.ValidatePath(groupByPath);
        if (where is not null)
        {
            QueryRules.ValidateFilter(where);
        }

        var builder = new Builder();
        var path = PathExpression(groupByPath);
        var sql = new StringBuilder($"SELECT {path} AS v, COUNT(1) AS n FROM c");
        AppendWhere(builder, sql, partitionKey, where);
        sql.Append(" GROUP BY ").Append(path);
        return builder.Build(sql.ToString());
    }

    /// <summary>The filter alone as a boolean expression over <c>c</c>, parameters numbered from <c>@p0</c>.</summary>
    public static QueryDefinition CompileFilter(Filter where)
    {
        QueryRules.ValidateFilter(where);
        var builder = new Builder();
        var text = builder.Expression(where);
        return builder.Build(text);
    }

    /// <summary>A validated dotted path written as <c>c["a"]["b"]</c>.</summary>
    public static string PathExpression(string path)
    {
        DocumentRules.ValidatePath(path);
        var sb = new StringBuilder("c");
        foreach (var segment in path.Split('.'))
        {
            sb.Append("[\"").Append(segment).Append("\"]");
        }

        return sb.ToString();
    }

    /// <summary>A stable hash of the query's text, parameters and partition, which a continuation token must carry.</summary>
    internal static string ShapeHash(QueryDefinition definition, string? partitionKey)
    {
        var sb = new StringBuilder(definition.QueryText).Append('\n').Append(partitionKey ?? "\u0001cross");
        foreach (var (name, value) in definition.GetQueryParameters())
        {
            sb.Append('\n').Append(name).Append('=').Append(JsonSerializer.Serialize(value));
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()));
        return Convert.ToHexString(hash, 0, 12);
    }

    /// <summary>
    /// The partition key travels in the request options and is repeated as <c>c.pk = @pk</c>: Cosmos
    /// ignores the redundancy, and servers that route by the query text (the local test server) need it.
    /// </summary>
    private static void AppendWhere(Builder builder, StringBuilder sql, string? partitionKey, Filter? where)
    {
        var conditions = new List<string>(2);
        if (partitionKey is not null)
        {
            conditions.Add("c.pk = " + builder.AddNamed("@pk", partitionKey));
        }

        if (where is not null)
        {
            // Groups come back parenthesized, so AND-ing them onto the partition condition keeps their meaning.
            conditions.Add(builder.Expression(where));
        }

        if (conditions.Count > 0)
        {
            sql.Append(" WHERE ").Append(string.Join(" AND ", conditions));
        }
    }

    private static void ValidatePartitionKey(string? partitionKey)
    {
        if (partitionKey is not null)
        {
            DocumentRules.ValidateKey(partitionKey, "partition key");
        }
    }

    /// <summary>Turns a JSON scalar into the CLR value the SDK sends as a parameter.</summary>
    internal static object? ParameterValue(JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }

        var element = JsonSerializer.SerializeToElement(node);
        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            JsonValueKind.Number when element.TryGetInt64(out var l) => l,
            JsonValueKind.Number => element.GetDouble(),
            _ => throw new InvalidQueryException($"Value '{element.GetRawText()}' is not a scalar."),
        };
    }

    private sealed class Builder
    {
        private readonly List<(string Name, object? Value)> _parameters = [];
        private int _next;

        public QueryDefinition Build(string text)
        {
            var definition = new QueryDefinition(text);
            foreach (var (name, value) in _parameters)
            {
                definition = definition.WithParameter(name, value);
            }

            return definition;
        }

        public string Expression(Filter filter) => filter switch
        {
            Comparison c => Compare(c),
            InList list => list.Negated ? NotIn(list) : In(list),
            FieldExists e => e.ShouldExist ? $"IS_DEFINED({PathExpression(e.Path)})" : $"NOT IS_DEFINED({PathExpression(e.Path)})",
            AllOf all => Group(all.Filters, " AND "),
            AnyOf any => Group(any.Filters, " OR "),
            _ => throw new InvalidQueryException($"Unsupported filter type {filter.GetType().Name}."),
        };

        private string Group(IReadOnlyList<Filter> filters, string separator) =>
            filters.Count == 1 ? Expression(filters[0]) : "(" + string.Join(separator, filters.Select(Expression)) + ")";

        private string Compare(Comparison c)
        {
            var path = PathExpression(c.Path);
            switch (c.Operator)
            {
                case ComparisonOperator.Ne:
                    return NotEqual(path, c.Value);
                case ComparisonOperator.Contains:
                    {
                        var p = Add(c.Value);
                        return $"((IS_STRING({path}) AND CONTAINS({path}, {p})) OR (IS_ARRAY({path}) AND ARRAY_CONTAINS({path}, {p})))";
                    }

                case ComparisonOperator.HasElement:
                    return $"(IS_ARRAY({path}) AND ARRAY_CONTAINS({path}, {Add(c.Value)}))";
                case ComparisonOperator.StartsWith:
                    return $"STARTSWITH({path}, {Add(c.Value)})";
                case ComparisonOperator.EndsWith:
                    return $"ENDSWITH({path}, {Add(c.Value)})";
                default:
                    var op = c.Operator switch
                    {
                        ComparisonOperator.Eq => "=",
                        ComparisonOperator.Gt => ">",
                        ComparisonOperator.Gte => ">=",
                        ComparisonOperator.Lt => "<",
                        ComparisonOperator.Lte => "<=",
                        _ => throw new InvalidQueryException($"Unsupported operator {c.Operator}.", c.Path),
                    };
                    return $"{path} {op} {Add(c.Value)}";
            }
        }

        private string NotEqual(string path, JsonNode? value)
        {
            var guard = TypeCheck(value);
            if (guard is null)
            {
                return $"(IS_DEFINED({path}) AND NOT IS_NULL({path}))";
            }

            return $"(IS_DEFINED({path}) AND (NOT {guard}({path}) OR {path} != {Add(value)}))";
        }

        private string In(InList list)
        {
            var path = PathExpression(list.Path);
            return $"{path} IN ({string.Join(", ", list.Values.Select(Add))})";
        }

        private string NotIn(InList list)
        {
            // ARRAY_CONTAINS is true or false for any present value, where NOT (x IN (...)) would be
            // undefined for a value of another type and wrongly exclude it.
            var path = PathExpression(list.Path);
            return $"(IS_DEFINED({path}) AND NOT ARRAY_CONTAINS([{string.Join(", ", list.Values.Select(Add))}], {path}))";
        }

        private static string? TypeCheck(JsonNode? value) => value?.GetValueKind() switch
        {
            JsonValueKind.String => "IS_STRING",
            JsonValueKind.Number => "IS_NUMBER",
            JsonValueKind.True or JsonValueKind.False => "IS_BOOL",
            _ => null,
        };

        public string AddNamed(string name, object? value)
        {
            _parameters.Add((name, value));
            return name;
        }

        private string Add(JsonNode? value)
        {
            var name = "@p" + _next++.ToString(CultureInfo.InvariantCulture);
            _parameters.Add((name, ParameterValue(value)));
            return name;
        }
    }
}
