using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Serverless.Core.Storage.Documents;

namespace Serverless.Functions.Identity;

/// <summary>An organization: owns users and projects.</summary>
public sealed record Organization(string Id, string Name, DateTimeOffset CreatedAt);

/// <summary>A user of the platform. Each user belongs to one organization (labeling companies come later).</summary>
public sealed record UserAccount(string Id, string Name, string? Email, string OrgId, OrgRole OrgRole, bool IsPlatformAdmin, DateTimeOffset CreatedAt);

/// <summary>An API key as listed: never the key itself.</summary>
public sealed record ApiKeyInfo(string Id, string Description, DateTimeOffset CreatedAt);

/// <summary>A key just created: the only response that carries <see cref="Key"/>.</summary>
public sealed record CreatedApiKey(string Id, string Key, string Description, DateTimeOffset CreatedAt);

/// <summary>
/// Containers and partition keys of identity data. Synthetic keys keep each hot query in one
/// partition: a user's keys and project memberships sit under <c>user:{id}</c>, an organization's
/// users and projects under <c>org:{id}</c>, and each key's authentication record under
/// <c>apikey:{id}</c> (a point read per request).
/// </summary>
public static class IdentityContainers
{
    public const string Organizations = "organizations";
    public const string Users = "users";
    public const string ApiKeys = "apikeys";

    /// <summary>Document types (the <c>type</c> field).</summary>
    public const string OrgType = "org";
    public const string OrgUserType = "orgUser";
    public const string OrgProjectType = "orgProject";
    public const string UserType = "user";
    public const string UserKeyType = "apiKey";
    public const string UserProjectType = "projectMembership";

    public static IReadOnlyList<ContainerSpec> All { get; } =
    [
        new(Organizations, ["type", "createdAt"]),
        new(Users, ["type", "createdAt"]),
        new(ApiKeys, []),
    ];

    public static string OrgPartition(string orgId) => $"org:{orgId}";

    public static string UserPartition(string userId) => $"user:{userId}";

    public static string ApiKeyPartition(string keyId) => $"apikey:{keyId}";
}

/// <summary>Serialization of stored documents: camelCase, enums as names.</summary>
public static class DocumentJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}

/// <summary>Identifiers: a type prefix plus 80 random bits, safe as document ids and partition keys.</summary>
public static class Ids
{
    public static string New(string prefix) => prefix + "_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10));

    /// <summary>
    /// A type prefix, 12 hex digits of <paramref name="now"/> in Unix milliseconds, then 64 random bits: ids created
    /// together sort together. For documents written in bulk (items): the store's indexes end in the id, so random ids
    /// put every insert on a random B-tree page and each commit rewrote hundreds of scattered pages; these append.
    /// The creation time they reveal is the item's <c>createdAt</c> anyway.
    /// </summary>
    public static string NewTimeOrdered(string prefix, DateTimeOffset now)
    {
        Span<byte> bytes = stackalloc byte[14];
        var milliseconds = now.ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--)
        {
            bytes[i] = (byte)milliseconds;
            milliseconds >>= 8;
        }

        FillRandom(bytes[6..]);
        return prefix + "_" + Convert.ToHexStringLower(bytes);
    }

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_randomUsed;

    /// <summary>
    /// Cryptographically random bytes handed out from a per-thread buffer filled 4 KB at a time: a bulk call takes 5,000
    /// ids, and a call into the OS random source per id was ~3% of its CPU. Every byte is handed out once.
    /// </summary>
    private static void FillRandom(Span<byte> destination)
    {
        var pool = t_random ??= new byte[4096];
        if (t_randomUsed == 0 || t_randomUsed + destination.Length > pool.Length)
        {
            RandomNumberGenerator.Fill(pool);
            t_randomUsed = 0;
        }

        pool.AsSpan(t_randomUsed, destination.Length).CopyTo(destination);
        t_randomUsed += destination.Length;
    }

    /// <summary>Route ids are checked before they reach the store, so a malformed id is a clean 404, not a store error.</summary>
    public static bool IsWellFormed(string? id) =>
        id is { Length: > 0 and <= 64 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
