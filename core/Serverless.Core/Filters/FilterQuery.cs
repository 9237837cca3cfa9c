using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Filters;

/// <summary>
/// A validated, compiled filter request: the store's typed filter, sort keys (document paths), page
/// size and continuation token. Turn it into a <see cref="DocumentQuery"/> with the partition to search.
/// </summary>
public sealed record FilterQuery(Filter? Where, IReadOnlyList<SortField> OrderBy, int PageSize, string? ContinuationToken)
{
    /// <summary>
    /// The store query over one partition (or all, with null). <paramref name="scope"/> is ANDed with the
    /// user's filter (e.g. the dataset id when several datasets share a partition).
    /// </summary>
    /// <exception cref="FilterException">The user's filter is already as deep as the store allows, so the
    /// scope cannot be added around it.</exception>
    public DocumentQuery ToDocumentQuery(string? partitionKey, Filter? scope = null)
    {
        var where = Combine(scope, Where);
        if (where is not null && scope is not null)
        {
            try
            {
                QueryRules.ValidateFilter(where);
            }
            catch (InvalidQueryException e)
            {
                throw new FilterException("/filter", $"The filter is too deep to be combined with the request's scope: {e.Message}");
            }
        }

        return new DocumentQuery(partitionKey, where, OrderBy, PageSize, ContinuationToken);
    }

    /// <summary>Both filters ANDed (either may be null), the parts of an AND among them listed in its place.</summary>
    internal static Filter? Combine(Filter? scope, Filter? where)
    {
        if (scope is null)
        {
            return where;
        }

        if (where is null)
        {
            return scope;
        }

        var parts = new List<Filter>();
        foreach (var f in new[] { scope, where })
        {
            if (f is AllOf all)
            {
                parts.AddRange(all.Filters);
            }
            else
            {
                parts.Add(f);
            }
        }

        return new AllOf(parts);
    }
}
