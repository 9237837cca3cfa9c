using Serverless.Core.Storage.Documents;

namespace Serverless.Core.Filters;

/// <summary>Bounds on a filter request, so one request cannot make the store do unbounded work.</summary>
public static class FilterLimits
{
    /// <summary>Largest filter request accepted, in UTF-8 bytes.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>Deepest nesting of the compiled expression: the document store's own limit.</summary>
    public const int MaxDepth = DocumentLimits.MaxFilterDepth;

    /// <summary>Most conditions (field/operator pairs) in one filter.</summary>
    public const int MaxConditions = 100;

    /// <summary>Most values in one <c>$in</c>/<c>$nin</c> list (the store's limit).</summary>
    public const int MaxListValues = 256;

    /// <summary>Longest string value or glob pattern, in characters.</summary>
    public const int MaxStringLength = 1024;

    /// <summary>Most sort keys.</summary>
    public const int MaxSortFields = 3;

    /// <summary>Page size when the request names none.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>Largest page size (the store's limit).</summary>
    public const int MaxPageSize = DocumentLimits.MaxPageSize;

    /// <summary>Longest continuation token accepted.</summary>
    public const int MaxContinuationLength = 8 * 1024;
}
