using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>A compiled page query: SQL, its parameters, and what is needed to write the next token.</summary>
internal sealed record SqlitePageQuery(string Sql, SqlParameters Parameters, int SortColumnCount, bool CrossPartition, string ShapeHash);

/// <summary>
/// Compiles a <see cref="DocumentQuery"/> to one keyset-paged SELECT.
/// </summary>
/// <remarks>
/// Sort order: each sort path orders by type rank first (missing &lt; null &lt; numbers &lt; strings &lt;
/// booleans &lt; arrays/objects), then by value within the type (descending reverses both), then by id,
/// then (cross-partition only) by partition key. Continuation tokens hold the last row's sort values and
/// a hash of the query's shape (container, partition, filter with its values, sort), so a page is
/// resumed strictly after the last row even when documents are written in between, and a token is
/// refused by any other query.
/// </remarks>
internal static class SqliteQueryBuilder
{
    private const int ColumnsBeforeSortValues = 4;

    /// <param name="container">The container's name.</param>
    /// <param name="fields">How its SQL reads fields.</param>
    /// <param name="query">The query, validated.</param>
    /// <param name="elementRead">One of <see cref="ElementConditions"/> and how the page reads its holders: as its driving
    /// table (<see cref="SqliteElementIndex.DrivenFrom"/>, another FROM clause), or as a redundant condition that the rows
    /// are among them (<see cref="SqliteElementIndex.HeldBy"/>). The same rows either way, and the same continuation
    /// tokens: both are added after the token's hash, and neither changes the conditions or the order.</param>
    public static SqlitePageQuery BuildPage(string container, SqliteFields fields, DocumentQuery query, ElementRead? elementRead = null)
    {
        var parameters = new SqlParameters();
        var conditions = Conditions(query.PartitionKey, query.Where, fields, parameters);

        var keys = new List<(string Expression, bool Descending)>();
        foreach (var sort in query.OrderBy ?? [])
        {
            if (PinsType(query.Where, sort.Path))
            {
                // Every matching row holds a value of one JSON type at this path, so its rank is the same for all
                // and the value is never NULL: ordering by the bare value is the same order, and it is the
                // expression of the path's index, which then returns rows already sorted and stops after one page
                // instead of sorting every match (measured 105 ms -> 0.3 ms of CPU for a size range over 100k items).
                keys.Add((fields.Extract(sort.Path), sort.Descending));
                continue;
            }

            keys.Add((SqliteFields.SortRank(sort.Path), sort.Descending));
            keys.Add((fields.SortValue(sort.Path), sort.Descending));
        }

        var sortColumnCount = keys.Count;
        var crossPartition = query.PartitionKey is null;
        keys.Add(("id", false));
        if (crossPartition)
        {
            keys.Add(("pk", false));
        }

        var hash = ShapeHash(container, conditions, parameters, keys);
        if (query.ContinuationToken is not null)
        {
            var after = DecodeToken(query.ContinuationToken, hash, keys.Count);
            // First among the conditions: see KeysetCondition.
            conditions.Insert(0, KeysetCondition(keys, after, parameters));
        }

        var from = SqliteSql.Table(container);
        if (elementRead is { Element: var element })
        {
            var (partition, value) = (parameters.Add(query.PartitionKey), parameters.Add(SqliteFilterCompiler.Scalar(element.Value).Value));
            if (elementRead.Drives)
            {
                from = SqliteElementIndex.DrivenFrom(container, element.Path, partition, value);
            }
            else
            {
                conditions.Add(SqliteElementIndex.HeldBy(container, element.Path, partition, value));
            }
        }

        var sql = new StringBuilder("SELECT id, pk, etag, ").Append(SqliteSql.BodyOut);
        for (var i = 0; i < sortColumnCount; i++)
        {
            sql.Append(", ").Append(keys[i].Expression);
        }

        sql.Append(" FROM ").Append(from);
        AppendWhere(sql, conditions);
        sql.Append(" ORDER BY ").AppendJoin(", ", keys.Select(k => k.Expression + (k.Descending ? " DESC" : string.Empty)));
        sql.Append(" LIMIT ").Append(parameters.Add((long)query.PageSize + 1));
        return new SqlitePageQuery(sql.ToString(), parameters, sortColumnCount, crossPartition, hash);
    }

    /// <summary>
    /// The element tests a page may be read from: <see cref="ComparisonOperator.HasElement"/> on a path with an element
    /// index, ANDed with the rest of the filter at the top (so every match holds the element), in a single partition.
    /// </summary>
    public static IEnumerable<Comparison> ElementConditions(SqliteFields fields, DocumentQuery query) =>
        query.PartitionKey is null ? [] : TopLevelTerms(query.Where).OfType<Comparison>()
            .Where(c => c.Operator == ComparisonOperator.HasElement && fields.ElementPaths.Contains(c.Path));

    private static IEnumerable<Filter> TopLevelTerms(Filter? where) => where switch
    {
        null => [],
        AllOf all => all.Filters.SelectMany(TopLevelTerms),
        _ => [where],
    };

    /// <summary>
    /// True when <paramref name="where"/> only matches documents whose <paramref name="path"/> holds a non-null value
    /// of one sort rank: one of its AND terms (at any depth of nested ANDs) compares the path with a non-null value
    /// (a comparison matches only a field of the value's JSON type), or lists values of one type.
    /// </summary>
    internal static bool PinsType(Filter? where, string path) => TopLevelTerms(where).Any(term => term switch
    {
        Comparison c => c.Path == path && c.Value is not null && c.Operator is ComparisonOperator.Eq or ComparisonOperator.Gt
            or ComparisonOperator.Gte or ComparisonOperator.Lt or ComparisonOperator.Lte or ComparisonOperator.StartsWith
            && SqliteFilterCompiler.Scalar(c.Value).Kind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False,
        InList { Negated: false } list => list.Path == path && list.Values.Count > 0
            && list.Values.Select(v => SortRankOf(SqliteFilterCompiler.Scalar(v).Kind)).Distinct().Count() == 1
            && list.Values.All(v => v is not null && SqliteFilterCompiler.Scalar(v).Kind != JsonValueKind.Null),
        _ => false,
    });

    private static int SortRankOf(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Number => 2,
        JsonValueKind.String => 3,
        JsonValueKind.True or JsonValueKind.False => 4,
        _ => 0,
    };

    /// <summary>The WHERE conditions for a partition and filter (shared with count queries).</summary>
    public static List<string> Conditions(string? partitionKey, Filter? where, SqliteFields fields, SqlParameters parameters)
    {
        var conditions = new List<string>();
        if (partitionKey is not null)
        {
            conditions.Add("pk = " + parameters.Add(partitionKey));
        }

        if (where is not null)
        {
            conditions.Add(SqliteFilterCompiler.Compile(where, fields, parameters));
        }

        return conditions;
    }

    public static void AppendWhere(StringBuilder sql, IReadOnlyList<string> conditions)
    {
        if (conditions.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", conditions);
        }
    }

    /// <summary>The token for the page after <paramref name="row"/>: its sort values, id and partition key.</summary>
    public static string EncodeToken(SqlitePageQuery page, Microsoft.Data.Sqlite.SqliteDataReader row)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("h", page.ShapeHash);
            writer.WriteStartArray("k");
            for (var i = 0; i < page.SortColumnCount; i++)
            {
                switch (row.GetValue(ColumnsBeforeSortValues + i))
                {
                    case long l:
                        writer.WriteNumberValue(l);
                        break;
                    case double d:
                        writer.WriteNumberValue(d);
                        break;
                    case string s:
                        writer.WriteStringValue(s);
                        break;
                    case var other:
                        writer.WriteStringValue(Convert.ToString(other, CultureInfo.InvariantCulture));
                        break;
                }
            }

            writer.WriteStringValue(row.GetString(0));
            if (page.CrossPartition)
            {
                writer.WriteStringValue(row.GetString(1));
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Base64Url.EncodeToString(buffer.ToArray());
    }

    private static List<object> DecodeToken(string token, string expectedHash, int keyCount)
    {
        const string Malformed = "The continuation token is malformed; pass back the token of the previous page unchanged.";
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(token);
        }
        catch (FormatException)
        {
            throw new InvalidQueryException(Malformed, "continuationToken");
        }

        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("h", out var hash) || hash.ValueKind != JsonValueKind.String ||
                !root.TryGetProperty("k", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidQueryException(Malformed, "continuationToken");
            }

            if (hash.GetString() != expectedHash || keys.GetArrayLength() != keyCount)
            {
                throw new InvalidQueryException("The continuation token belongs to a different query (container, partition, filter or sort differ).", "continuationToken");
            }

            var values = new List<object>(keyCount);
            foreach (var key in keys.EnumerateArray())
            {
                values.Add(key.ValueKind switch
                {
                    JsonValueKind.Number => SqliteFilterCompiler.Number(key.GetRawText()),
                    JsonValueKind.String => key.GetString()!,
                    _ => throw new InvalidQueryException(Malformed, "continuationToken"),
                });
            }

            return values;
        }
        catch (JsonException)
        {
            throw new InvalidQueryException(Malformed, "continuationToken");
        }
    }

    /// <summary>
    /// (k1, k2, ...) strictly after (v1, v2, ...) in the sort order, as a range SQLite starts its index walk from. When
    /// every key ascends, the row value (k1, k2, ...) &gt; (v1, v2, ...), which SQLite seeks to directly. Otherwise the
    /// comparison spelled out per key (k1 &gt; v1 OR (k1 = v1 AND k2 &lt; v2) ...), behind a bound on the first key alone
    /// (k1 &gt;= v1, or &lt;= when it descends), since SQLite cannot start a walk from an OR. The caller puts this first
    /// among the conditions: of two ranges on one index column SQLite starts from the first. Without that, a page
    /// was found by walking the index from the start of the filter's own range on the sort field (at &gt;= x) and
    /// skipping every row of the pages before it: over 200k rows, pages of 1,000, 1.4 ms for the 10th page and
    /// 19 ms for the 190th; 0.5 ms for any page with the row value.
    /// </summary>
    private static string KeysetCondition(List<(string Expression, bool Descending)> keys, List<object> after, SqlParameters parameters)
    {
        var names = after.Select(parameters.Add).ToList();
        if (keys.All(k => !k.Descending))
        {
            // Alone: with the spelled-out form beside it, SQLite derived its range from that (k1 > v1) instead.
            return $"({string.Join(", ", keys.Select(k => k.Expression))}) > ({string.Join(", ", names)})";
        }

        var alternatives = new List<string>(keys.Count);
        for (var i = 0; i < keys.Count; i++)
        {
            var terms = new List<string>(i + 1);
            for (var j = 0; j < i; j++)
            {
                terms.Add($"{keys[j].Expression} = {names[j]}");
            }

            terms.Add($"{keys[i].Expression} {(keys[i].Descending ? "<" : ">")} {names[i]}");
            alternatives.Add("(" + string.Join(" AND ", terms) + ")");
        }

        return $"{keys[0].Expression} {(keys[0].Descending ? "<=" : ">=")} {names[0]} AND (" + string.Join(" OR ", alternatives) + ")";
    }

    private static string ShapeHash(string container, List<string> conditions, SqlParameters parameters, List<(string Expression, bool Descending)> keys)
    {
        var shape = new StringBuilder(container).Append('\u0001').AppendJoin(" AND ", conditions).Append('\u0001');
        foreach (var value in parameters.Values)
        {
            shape.Append(value?.GetType().Name).Append(':').Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append('\u0002');
        }

        shape.Append('\u0001').AppendJoin(",", keys.Select(k => k.Expression + (k.Descending ? " DESC" : string.Empty)));
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(shape.ToString())), 0, 12);
    }
}
