namespace Serverless.Core.Storage.Documents;

/// <summary>A document's id and its body as stored UTF-8 JSON bytes (not parsed).</summary>
public sealed record RawDocument(string Id, ReadOnlyMemory<byte> Utf8Body);

/// <summary>One page of <see cref="RawDocument"/>s; a continuation token when more remain.</summary>
public sealed record RawQueryPage(IReadOnlyList<RawDocument> Items, string? ContinuationToken);

/// <summary>
/// Optional capability of a <see cref="IDocumentContainer"/>: the same query as
/// <see cref="IDocumentContainer.QueryAsync"/>, answered with the bodies' bytes instead of parsed trees.
/// </summary>
/// <remarks>
/// Bulk readers (exports) that scan millions of documents and pick a few fields spend most of their time
/// building <c>JsonObject</c> trees; with the bytes they read what they need with a forward-only reader.
/// Adapters that hold the bytes anyway (SQLite) implement it; callers test for it and fall back to
/// <see cref="IDocumentContainer.QueryAsync"/>. Pages and continuation tokens are those of <c>QueryAsync</c>.
/// </remarks>
public interface IRawDocumentQuery
{
    /// <summary>Runs <paramref name="query"/> and returns the bodies' bytes.</summary>
    Task<RawQueryPage> QueryRawAsync(DocumentQuery query, CancellationToken cancellationToken = default);
}
