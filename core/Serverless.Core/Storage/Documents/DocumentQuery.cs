using System.Text.Json.Nodes;

namespace Serverless.Core.Storage.Documents;

/// <summary>
/// The typed query model every adapter compiles to its own language (Cosmos SQL, SQLite JSON SQL),
/// always with parameters for values, never spliced text.
/// </summary>
/// <param name="PartitionKey">Restricts the query to one partition (every hot query does); null = cross-partition.</param>
/// <param name="Where">Filter, or null for all documents.</param>
/// <param name="OrderBy">Sort keys; the document id is always the final tie-breaker so paging is stable.</param>
/// <param name="PageSize">1 to <see cref="DocumentLimits.MaxPageSize"/>.</param>
/// <param name="ContinuationToken">Opaque token from the previous page, or null for the first page.</param>
public sealed record DocumentQuery(
    string? PartitionKey = null,
    Filter? Where = null,
    IReadOnlyList<SortField>? OrderBy = null,
    int PageSize = 100,
    string? ContinuationToken = null);

/// <summary>One page of results and the token for the next one (null at the end).</summary>
public sealed record QueryPage(IReadOnlyList<StoredDocument> Items, string? ContinuationToken);

/// <summary>Sort key: a field path and direction.</summary>
public sealed record SortField(string Path, bool Descending = false);

/// <summary>A filter expression over document fields. Paths use dots: <c>meta.size</c>.</summary>
public abstract record Filter
{
    public static Filter Eq(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Eq, value);
    public static Filter Ne(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Ne, value);
    public static Filter Gt(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Gt, value);
    public static Filter Gte(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Gte, value);
    public static Filter Lt(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Lt, value);
    public static Filter Lte(string path, JsonNode? value) => new Comparison(path, ComparisonOperator.Lte, value);
    public static Filter Contains(string path, string value) => new Comparison(path, ComparisonOperator.Contains, value);
    public static Filter HasElement(string path, string value) => new Comparison(path, ComparisonOperator.HasElement, value);
    public static Filter StartsWith(string path, string value) => new Comparison(path, ComparisonOperator.StartsWith, value);
    public static Filter EndsWith(string path, string value) => new Comparison(path, ComparisonOperator.EndsWith, value);
    public static Filter In(string path, params JsonNode?[] values) => new InList(path, values, Negated: false);
    public static Filter NotIn(string path, params JsonNode?[] values) => new InList(path, values, Negated: true);
    public static Filter Exists(string path, bool exists = true) => new FieldExists(path, exists);
    public static Filter And(params Filter[] filters) => new AllOf(filters);
    public static Filter Or(params Filter[] filters) => new AnyOf(filters);
}

/// <summary>Compares a field with a scalar (string, number, boolean or null).</summary>
/// <remarks><see cref="ComparisonOperator.Contains"/>, <see cref="ComparisonOperator.StartsWith"/> and
/// <see cref="ComparisonOperator.EndsWith"/> take a string and match strings case-sensitively; <c>Contains</c> on an array field matches an element equal to the value.
/// <see cref="ComparisonOperator.HasElement"/> takes a string and matches only an array holding an element equal to it
/// (a string field never matches); on a path of <see cref="ContainerSpec.ElementIndexedPaths"/> it reads an index.</remarks>
public sealed record Comparison(string Path, ComparisonOperator Operator, JsonNode? Value) : Filter;

public enum ComparisonOperator
{
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    HasElement,
    StartsWith,
    EndsWith,
}

/// <summary>Field value is (or with <paramref name="Negated"/>, is not) one of the scalars listed.</summary>
public sealed record InList(string Path, IReadOnlyList<JsonNode?> Values, bool Negated) : Filter;

/// <summary>Field is present (or absent). A field holding JSON null counts as present.</summary>
public sealed record FieldExists(string Path, bool ShouldExist) : Filter;

/// <summary>All of the filters match.</summary>
public sealed record AllOf(IReadOnlyList<Filter> Filters) : Filter;

/// <summary>At least one of the filters matches.</summary>
public sealed record AnyOf(IReadOnlyList<Filter> Filters) : Filter;
