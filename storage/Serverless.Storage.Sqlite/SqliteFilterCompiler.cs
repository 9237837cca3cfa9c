using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>Values bound to a statement, named @p0, @p1, ... in the order they were added.</summary>
internal sealed class SqlParameters
{
    private readonly List<object?> _values = [];

    public IReadOnlyList<object?> Values => _values;

    public string Add(object? value)
    {
        _values.Add(value);
        return "@p" + (_values.Count - 1).ToString(CultureInfo.InvariantCulture);
    }

    public void BindTo(SqliteCommand command)
    {
        for (var i = 0; i < _values.Count; i++)
        {
            command.Parameters.AddWithValue("@p" + i.ToString(CultureInfo.InvariantCulture), _values[i] ?? DBNull.Value);
        }
    }
}

/// <summary>
/// Compiles the typed filter model to a SQLite boolean expression over <c>json_extract</c>/<c>json_type</c>
/// (indexed fields read from their key columns, see <see cref="SqliteFields"/>).
/// Values always become parameters; paths are validated before they are written into a JSON path literal.
/// </summary>
/// <remarks>
/// Semantics (the Cosmos adapter mirrors them):
/// <list type="bullet">
/// <item>A comparison matches only a field of the same JSON type as the value: <c>gt 5</c> never matches a
/// string, <c>eq "1"</c> never matches the number 1, <c>eq true</c> never matches 1. Booleans order false &lt; true.</item>
/// <item>A missing field matches no comparison. <c>eq null</c> matches a field holding JSON null only.</item>
/// <item><c>ne</c> and <c>nin</c> match documents where the field exists and is not equal to (any of) the
/// value(s); so <c>ne "a"</c> matches a field holding 5 or null, but not a missing field.</item>
/// <item><c>gt</c>/<c>gte</c>/<c>lt</c>/<c>lte</c> with a null value match nothing (null has no order).</item>
/// <item><c>contains</c>: on a string field, case-sensitive substring; on an array field, an element that is that string.</item>
/// <item><c>hasElement</c>: an array field holding an element that is that string (read from the element index of
/// a path that has one, see <see cref="SqliteElementIndex"/>).</item>
/// <item><c>startsWith</c>/<c>endsWith</c>: case-sensitive prefix/suffix of a string field.</item>
/// <item><c>exists</c>: the field is present, even when it holds JSON null.</item>
/// </list>
/// </remarks>
internal static class SqliteFilterCompiler
{
    public static string Compile(Filter filter, SqliteFields fields, SqlParameters parameters)
    {
        var sql = new StringBuilder();
        Append(filter, fields, parameters, sql);
        return sql.ToString();
    }

    /// <summary>The SQL value and JSON kind of a scalar filter value (booleans bind as 1/0, as json_extract returns them).</summary>
    public static (JsonValueKind Kind, object? Value) Scalar(JsonNode? node)
    {
        if (node is null)
        {
            return (JsonValueKind.Null, null);
        }

        var kind = node.GetValueKind();
        return kind switch
        {
            JsonValueKind.String => (kind, node.GetValue<string>()),
            JsonValueKind.Number => (kind, Number(node.ToJsonString())),
            JsonValueKind.True => (kind, 1L),
            JsonValueKind.False => (kind, 0L),
            JsonValueKind.Null => (kind, null),
            _ => throw new InvalidQueryException("Filter values must be a string, number, boolean or null."),
        };
    }

    public static object Number(string json) =>
        long.TryParse(json, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole)
            ? whole
            : double.Parse(json, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static void Append(Filter filter, SqliteFields fields, SqlParameters parameters, StringBuilder sql)
    {
        switch (filter)
        {
            case Comparison c:
                sql.Append(Comparison(c, fields, parameters));
                break;
            case InList list:
                var inSql = In(list.Path, list.Values, fields, parameters);
                sql.Append(list.Negated ? $"({SqliteFields.Type(list.Path)} IS NOT NULL AND NOT {inSql})" : inSql);
                break;
            case FieldExists e:
                sql.Append('(').Append(SqliteFields.Type(e.Path)).Append(e.ShouldExist ? " IS NOT NULL)" : " IS NULL)");
                break;
            case AllOf all:
                Group(all.Filters, " AND ", fields, parameters, sql);
                break;
            case AnyOf any:
                Group(any.Filters, " OR ", fields, parameters, sql);
                break;
            default:
                throw new InvalidQueryException($"Unsupported filter type {filter.GetType().Name}.");
        }
    }

    /// <summary>True when the array at <paramref name="path"/> (known to be one) holds the string <paramref name="value"/>, read from the body.</summary>
    private static string ArrayHolds(string path, string value) =>
        $"EXISTS (SELECT 1 FROM json_each(body,{SqliteSql.JsonPath(path)}) WHERE type = 'text' AND value = {value})";

    private static void Group(IReadOnlyList<Filter> filters, string op, SqliteFields fields, SqlParameters parameters, StringBuilder sql)
    {
        sql.Append('(');
        for (var i = 0; i < filters.Count; i++)
        {
            if (i > 0)
            {
                sql.Append(op);
            }

            Append(filters[i], fields, parameters, sql);
        }

        sql.Append(')');
    }

    private static string Comparison(Comparison c, SqliteFields fields, SqlParameters parameters)
    {
        var value = fields.Extract(c.Path);
        var type = SqliteFields.Type(c.Path);
        var (kind, scalar) = Scalar(c.Value);
        switch (c.Operator)
        {
            case ComparisonOperator.Contains:
            {
                var p = parameters.Add(scalar);
                return $"(CASE {type} WHEN 'text' THEN instr({value},{p}) > 0 WHEN 'array' THEN {ArrayHolds(c.Path, p)} ELSE 0 END)";
            }

            case ComparisonOperator.HasElement:
            {
                var p = parameters.Add(scalar);
                return fields.ElementPaths.Contains(c.Path)
                    ? SqliteElementIndex.Probe(fields.Container, c.Path, p)
                    : $"({type} = 'array' AND {ArrayHolds(c.Path, p)})";
            }

            case ComparisonOperator.StartsWith:
            {
                // The lower bound lets an index on the path narrow the range; substr makes the match exact.
                var p = parameters.Add(scalar);
                return $"({value} >= {p} AND {type} = 'text' AND substr({value},1,length({p})) = {p})";
            }

            case ComparisonOperator.EndsWith:
            {
                // substr, not LIKE: the value may hold '%' or '_'. Starting one past length(value) - length(p)
                // makes an empty suffix match; the length check keeps a longer suffix from matching a shorter string.
                var p = parameters.Add(scalar);
                return $"({type} = 'text' AND length({value}) >= length({p}) AND substr({value},length({value}) - length({p}) + 1) = {p})";
            }

            case ComparisonOperator.Eq:
                return kind == JsonValueKind.Null ? $"({type} = 'null')" : $"({value} = {parameters.Add(scalar)} AND {TypeGuard(kind, c.Path, fields)})";
            case ComparisonOperator.Ne:
                return kind == JsonValueKind.Null
                    ? $"({type} IS NOT NULL AND {type} <> 'null')"
                    : $"({type} IS NOT NULL AND NOT ({value} = {parameters.Add(scalar)} AND {TypeGuard(kind, c.Path, fields)}))";
            default:
                if (kind == JsonValueKind.Null)
                {
                    return "(0)";
                }

                var op = c.Operator switch
                {
                    ComparisonOperator.Gt => ">",
                    ComparisonOperator.Gte => ">=",
                    ComparisonOperator.Lt => "<",
                    ComparisonOperator.Lte => "<=",
                    _ => throw new InvalidQueryException($"Unsupported operator {c.Operator}.", c.Path),
                };
                return $"({value} {op} {parameters.Add(scalar)} AND {TypeGuard(kind, c.Path, fields)})";
        }
    }

    private static string In(string path, IReadOnlyList<JsonNode?> values, SqliteFields fields, SqlParameters parameters)
    {
        var value = fields.Extract(path);
        var type = SqliteFields.Type(path);
        var byKind = new Dictionary<JsonValueKind, List<string>>();
        var hasNull = false;
        foreach (var node in values)
        {
            var (kind, scalar) = Scalar(node);
            if (kind == JsonValueKind.Null)
            {
                hasNull = true;
                continue;
            }

            // true and false share one guard, so they share one IN list.
            var group = kind == JsonValueKind.False ? JsonValueKind.True : kind;
            if (!byKind.TryGetValue(group, out var list))
            {
                byKind[group] = list = [];
            }

            list.Add(parameters.Add(scalar));
        }

        var terms = byKind.Select(g => $"({value} IN ({string.Join(',', g.Value)}) AND {TypeGuard(g.Key, path, fields)})").ToList();
        if (hasNull)
        {
            terms.Add($"({type} = 'null')");
        }

        return "(" + string.Join(" OR ", terms) + ")";
    }

    /// <summary>
    /// That the field holds a JSON value of <paramref name="kind"/>. On an indexed path the key column answers it alone for
    /// all but the values it cannot tell apart, so a range or count over its index reads no row: text is a string unless
    /// it starts with '[' or '{' (an array or object is kept as its JSON text), a number is one unless it is 0 or 1 (a
    /// boolean is kept as 0/1); only those, and booleans, are checked on the body. Measured on 300,000 log events, a count
    /// over 66,666 of them by stamp: 30 ms with the body's type read for every row, 15 ms with this guard.
    /// </summary>
    private static string TypeGuard(JsonValueKind kind, string path, SqliteFields fields)
    {
        var type = SqliteFields.Type(path);
        var column = fields.IsKey(path) ? fields.Extract(path) : null;
        return kind switch
        {
            JsonValueKind.String when column is not null => $"(typeof({column}) = 'text' AND (substr({column},1,1) NOT IN ('[','{{') OR {type} = 'text'))",
            JsonValueKind.String => $"{type} = 'text'",
            JsonValueKind.Number when column is not null => $"(typeof({column}) IN ('integer','real') AND ({column} NOT IN (0,1) OR {type} IN ('integer','real')))",
            JsonValueKind.Number => $"{type} IN ('integer','real')",
            JsonValueKind.True or JsonValueKind.False => $"{type} IN ('true','false')",
            _ => throw new InvalidQueryException("Filter values must be a string, number, boolean or null."),
        };
    }
}
