namespace Serverless.Core.Filters;

/// <summary>
/// A filter request was rejected: malformed JSON, unknown field or operator, wrong value type, too deep,
/// too many conditions, bad sort or page size. The HTTP layer turns it into problem details.
/// </summary>
/// <param name="location">A JSON pointer (RFC 6901) to the offending part of the request, such as
/// <c>/filter/$and/1/name/$glob</c>; the empty string means the whole request.</param>
/// <param name="message">What is wrong and what would be accepted instead.</param>
public sealed class FilterException(string location, string message) : Exception(message)
{
    /// <summary>JSON pointer to the offending part of the request (empty for the whole request).</summary>
    public string Path { get; } = location;
}
