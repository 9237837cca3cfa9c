using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Datasets;

namespace Serverless.Functions.Items;

/// <summary>
/// The path-claim documents that keep item paths unique in a dataset: a claim's id is derived from the item's path,
/// so a second item with the same path conflicts inside the store, in the same atomic batch as the item.
/// </summary>
/// <remarks>
/// <para>The id is the path itself, escaped (<see cref="Id"/>), so that the claims of one folder sit side by side in
/// the store's primary-key index and a bulk load appends to it. Claims used to be <c>path_</c> + SHA-256 of the path
/// (<see cref="LegacyId"/>): every claim landed on a random page of that index, and SQLite rewrote ~1 index page per
/// item into its WAL (bulk at 200k items: 10,305 items/s with hashed ids, 12,464 with these; seeding 9,758 → 13,332).
/// A path too long for an id (255 characters) still gets the hashed form, which is then the same in both schemes.</para>
/// <para>Datasets written before that hold hashed claims. They are not rewritten: where a lookup does not find the
/// escaped id, it asks whether the dataset holds any hashed claim (<see cref="HasLegacyAsync"/>, one index seek, once
/// per bulk call) and, if so, also tries the hashed id, so an old item's path stays taken and its delete finds its claim.</para>
/// </remarks>
public sealed class PathClaims(IDocumentStore store)
{
    private const string Prefix = "p:";
    private const string LegacyPrefix = "path_";

    /// <summary>The claim's field holding its item's id (claims written before it hold <c>itemId</c>).</summary>
    public const string ItemField = "item";

    /// <summary>Hashed claims are read this many ids per query when a bulk write checks a legacy dataset.</summary>
    private const int LegacyReadChunk = 100;

    private IDocumentContainer Items => store.Container(DatasetContainers.Items);

    /// <summary>Id of the document that claims <paramref name="path"/> in a dataset.</summary>
    public static string Id(string path)
    {
        ArgumentNullException.ThrowIfNull(path);

        // Injective (every '%' is escaped too) and free of the characters ids may not hold.
        var escaped = new StringBuilder(Prefix, path.Length + 8);
        foreach (var c in path)
        {
            _ = c switch
            {
                '%' => escaped.Append("%25"),
                '/' => escaped.Append("%2F"),
                '\\' => escaped.Append("%5C"),
                '?' => escaped.Append("%3F"),
                '#' => escaped.Append("%23"),
                _ => escaped.Append(c),
            };
        }

        return escaped.Length <= DocumentLimits.MaxKeyLength ? escaped.ToString() : LegacyId(path);
    }

    /// <summary>The id of the item a claim document names, in either form (<see cref="ItemField"/> or <c>itemId</c>).</summary>
    public static string? ItemIdOf(StoredDocument claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return (claim.Body[ItemField] ?? claim.Body["itemId"]) is JsonValue value && value.TryGetValue<string>(out var id) ? id : null;
    }

    /// <summary>The hashed claim id used before <see cref="Id"/>; still used for paths too long to escape into an id.</summary>
    public static string LegacyId(string path) => LegacyPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path)));

    /// <summary>The claim of <paramref name="path"/> in the dataset, or null when the path is free.</summary>
    public async Task<StoredDocument?> FindAsync(string datasetId, string path, CancellationToken ct)
    {
        var partition = DatasetContainers.ItemPartition(datasetId);
        var id = Id(path);
        if (await Items.ReadAsync(partition, id, ct) is { } claim)
        {
            return claim;
        }

        var legacy = LegacyId(path);
        return legacy != id && await HasLegacyAsync(partition, ct) ? await Items.ReadAsync(partition, legacy, ct) : null;
    }

    /// <summary>
    /// The positions in <paramref name="paths"/> that hashed claims already take, in a partition that holds any
    /// (<see cref="HasLegacyAsync"/>; other partitions need not ask).
    /// </summary>
    public async Task<IReadOnlySet<int>> LegacyTakenAsync(string partition, IReadOnlyList<string> paths, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var wanted = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var k = 0; k < paths.Count; k++)
        {
            var legacy = LegacyId(paths[k]);
            if (legacy != Id(paths[k]))
            {
                (wanted.TryGetValue(legacy, out var at) ? at : wanted[legacy] = []).Add(k);
            }
        }

        var taken = new HashSet<int>();
        foreach (var chunk in wanted.Keys.Chunk(LegacyReadChunk))
        {
            var page = await Items.QueryAsync(new DocumentQuery(partition, Filter.In("id", [.. chunk.Select(id => (JsonNode?)id)]), null, chunk.Length, null), ct);
            foreach (var doc in page.Items)
            {
                taken.UnionWith(wanted[doc.Id]);
            }
        }

        return taken;
    }

    /// <summary>Whether the partition holds any hashed claim.</summary>
    public async Task<bool> HasLegacyAsync(string partition, CancellationToken ct)
    {
        // A range on the id walks the primary key (pk, id): one index seek, whatever the partition's size.
        // ('`' follows '_', so the range holds exactly the ids that start with "path_".)
        var range = Filter.And(Filter.Gte("id", LegacyPrefix), Filter.Lt("id", "path`"));
        var page = await Items.QueryAsync(new DocumentQuery(partition, range, null, 1, null), ct);
        return page.Items.Count > 0;
    }
}
