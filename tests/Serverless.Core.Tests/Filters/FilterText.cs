using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Tests.Filters;

/// <summary>
/// Renders a compiled filter as canonical text, so golden tests compare whole trees (the records hold
/// JsonNodes and lists, which compare by reference).
/// </summary>
internal static class FilterText
{
    public static string Render(Filter? filter) => filter switch
    {
        null => "all",
        Comparison c => $"{Name(c.Operator)}({c.Path},{Value(c.Value)})",
        InList l => $"{(l.Negated ? "nin" : "in")}({l.Path},[{string.Join(",", l.Values.Select(Value))}])",
        FieldExists e => $"{(e.ShouldExist ? "exists" : "missing")}({e.Path})",
        AllOf a => $"and({string.Join(", ", a.Filters.Select(Render))})",
        AnyOf o => $"or({string.Join(", ", o.Filters.Select(Render))})",
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };

    private static string Name(ComparisonOperator op) => op switch
    {
        ComparisonOperator.StartsWith => "startsWith",
        ComparisonOperator.EndsWith => "endsWith",
        ComparisonOperator.Contains => "contains",
        ComparisonOperator.HasElement => "hasElement",
        _ => op.ToString().ToLowerInvariant(),
    };

    private static string Value(JsonNode? value) => value is null ? "null" : value.ToJsonString();
}
