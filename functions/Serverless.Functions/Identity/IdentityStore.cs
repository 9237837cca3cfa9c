using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Functions.Http;

namespace Serverless.Functions.Identity;

/// <summary>The user already holds <see cref="IdentityStore.MaxApiKeysPerUser"/> keys.</summary>
public sealed class ApiKeyLimitException(int limit)
    : Exception($"A user may hold at most {limit} API keys; revoke one first.");

/// <summary>The authentication record of a key: whose it is and the hash to compare.</summary>
public sealed record ApiKeyRecord(string Id, string UserId, string Hash, string Description, DateTimeOffset CreatedAt);

/// <summary>
/// Organizations, users and API keys in the document store. Writes that span partitions are
/// ordered so that a crash leaves at worst an unreferenced document, never a dangling grant.
/// </summary>
public sealed class IdentityStore(IDocumentStore store, TimeProvider time)
{
    public const int MaxApiKeysPerUser = 10;

    private IDocumentContainer Orgs => store.Container(IdentityContainers.Organizations);

    private IDocumentContainer Users => store.Container(IdentityContainers.Users);

    private IDocumentContainer Keys => store.Container(IdentityContainers.ApiKeys);

    public async Task<Organization?> GetOrganizationAsync(string orgId, CancellationToken ct)
    {
        var doc = await Orgs.ReadAsync(IdentityContainers.OrgPartition(orgId), orgId, ct);
        return doc?.Body.Deserialize<Organization>(DocumentJson.Options);
    }

    /// <summary>Creates an organization; with <paramref name="fixedId"/> an existing one is kept (bootstrap).</summary>
    public async Task<Organization> CreateOrganizationAsync(string name, CancellationToken ct, string? fixedId = null)
    {
        var org = new Organization(fixedId ?? Ids.New("o"), name, time.GetUtcNow());
        try
        {
            await Orgs.CreateAsync(IdentityContainers.OrgPartition(org.Id), org.Id, Body(org, IdentityContainers.OrgType), ct);
        }
        catch (DocumentConflictException) when (fixedId is not null)
        {
            return (await GetOrganizationAsync(fixedId, ct))!;
        }

        return org;
    }

    public async Task<UserAccount?> GetUserAsync(string userId, CancellationToken ct)
    {
        var doc = await Users.ReadAsync(IdentityContainers.UserPartition(userId), userId, ct);
        return doc?.Body.Deserialize<UserAccount>(DocumentJson.Options);
    }

    /// <summary>Whether any user exists (one cross-partition page of one document; start-up only).</summary>
    public async Task<bool> AnyUserAsync(CancellationToken ct)
    {
        var page = await Users.QueryAsync(new DocumentQuery(Where: Filter.Eq("type", IdentityContainers.UserType), PageSize: 1), ct);
        return page.Items.Count > 0;
    }

    /// <summary>
    /// Creates the user document (the commit point: <see cref="DocumentConflictException"/> when the id
    /// is taken), then its entry in the organization's user list.
    /// </summary>
    public async Task<UserAccount> CreateUserAsync(UserAccount user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        await Users.CreateAsync(IdentityContainers.UserPartition(user.Id), user.Id, Body(user, IdentityContainers.UserType), ct);
        await Orgs.UpsertAsync(IdentityContainers.OrgPartition(user.OrgId), user.Id, Body(user, IdentityContainers.OrgUserType), cancellationToken: ct);
        return user;
    }

    public async Task<Page<UserAccount>> ListOrganizationUsersAsync(string orgId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Orgs.QueryAsync(
            new DocumentQuery(IdentityContainers.OrgPartition(orgId), Filter.Eq("type", IdentityContainers.OrgUserType), [new SortField("createdAt")], pageSize, continuationToken),
            ct);
        return new Page<UserAccount>([.. page.Items.Select(d => d.Body.Deserialize<UserAccount>(DocumentJson.Options)!)], page.ContinuationToken);
    }

    /// <summary>Looks up the authentication record of a key id (a hash prefix).</summary>
    public async Task<ApiKeyRecord?> FindApiKeyAsync(string keyId, CancellationToken ct)
    {
        var doc = await Keys.ReadAsync(IdentityContainers.ApiKeyPartition(keyId), keyId, ct);
        return doc?.Body.Deserialize<ApiKeyRecord>(DocumentJson.Options);
    }

    /// <summary>
    /// Creates a key for the user, enforcing <see cref="MaxApiKeysPerUser"/> even under concurrent
    /// creations: the new key's entry is written in one batch with an ETag-guarded rewrite of the user
    /// document, so two racing creations cannot both pass the count.
    /// </summary>
    public async Task<CreatedApiKey> CreateApiKeyAsync(string userId, string description, CancellationToken ct, string? presetKey = null)
    {
        var partition = IdentityContainers.UserPartition(userId);
        for (var attempt = 0; ; attempt++)
        {
            var userDoc = await Users.ReadAsync(partition, userId, ct)
                ?? throw new InvalidOperationException($"User '{userId}' does not exist.");
            var count = await Users.CountAsync(partition, Filter.Eq("type", IdentityContainers.UserKeyType), ct);
            if (count >= MaxApiKeysPerUser)
            {
                throw new ApiKeyLimitException(MaxApiKeysPerUser);
            }

            var key = presetKey ?? ApiKeyHashing.Generate();
            var hash = ApiKeyHashing.Hash(key);
            var record = new ApiKeyRecord(ApiKeyHashing.KeyId(hash), userId, Convert.ToHexStringLower(hash), description, time.GetUtcNow());
            try
            {
                await Keys.CreateAsync(IdentityContainers.ApiKeyPartition(record.Id), record.Id, Body(record, "apiKeyAuth"), ct);
            }
            catch (DocumentConflictException) when (presetKey is null && attempt < 3)
            {
                continue; // a 64-bit hash-prefix collision: draw another key
            }

            try
            {
                await Users.ExecuteBatchAsync(partition,
                [
                    BatchOperation.Replace(userId, userDoc.Body.DeepClone().AsObject(), userDoc.ETag),
                    BatchOperation.Create(record.Id, Body(new ApiKeyInfo(record.Id, description, record.CreatedAt), IdentityContainers.UserKeyType)),
                ], ct);
            }
            catch (DocumentBatchFailedException) when (attempt < 30)
            {
                // Another key was created (or revoked) meanwhile: this key was never shown, so drop it,
                // back off a little (random, so racers spread out) and recount.
                await DeleteIfExistsAsync(Keys, IdentityContainers.ApiKeyPartition(record.Id), record.Id, ct);
                await Task.Delay(Backoff(attempt), ct);
                continue;
            }

            return new CreatedApiKey(record.Id, key, description, record.CreatedAt);
        }
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(string userId, CancellationToken ct)
    {
        var page = await Users.QueryAsync(
            new DocumentQuery(IdentityContainers.UserPartition(userId), Filter.Eq("type", IdentityContainers.UserKeyType), [new SortField("createdAt")], MaxApiKeysPerUser * 2),
            ct);
        return [.. page.Items.Select(d => d.Body.Deserialize<ApiKeyInfo>(DocumentJson.Options)!)];
    }

    /// <summary>
    /// Revokes a key of the user: the authentication record goes first (the key stops working), then
    /// the listing entry. False when the user has no such key.
    /// </summary>
    public async Task<bool> RevokeApiKeyAsync(string userId, string keyId, CancellationToken ct)
    {
        var partition = IdentityContainers.UserPartition(userId);
        var entry = await Users.ReadAsync(partition, keyId, ct);
        if (entry is null || entry.Body["type"]?.GetValue<string>() != IdentityContainers.UserKeyType)
        {
            return false;
        }

        var record = await FindApiKeyAsync(keyId, ct);
        if (record is not null && record.UserId == userId)
        {
            await DeleteIfExistsAsync(Keys, IdentityContainers.ApiKeyPartition(keyId), keyId, ct);
        }

        await DeleteIfExistsAsync(Users, partition, keyId, ct);
        return true;
    }

    /// <summary>Indexes a project membership under the user, for "my projects".</summary>
    public Task IndexMembershipAsync(string userId, string projectId, string role, DateTimeOffset joinedAt, CancellationToken ct) =>
        Users.UpsertAsync(
            IdentityContainers.UserPartition(userId),
            projectId,
            new JsonObject { ["type"] = IdentityContainers.UserProjectType, ["projectId"] = projectId, ["role"] = role, ["createdAt"] = joinedAt },
            cancellationToken: ct);

    public Task RemoveMembershipIndexAsync(string userId, string projectId, CancellationToken ct) =>
        DeleteIfExistsAsync(Users, IdentityContainers.UserPartition(userId), projectId, ct);

    /// <summary>One page of the project ids the user is a member of, oldest membership first.</summary>
    public async Task<Page<string>> ListMembershipsAsync(string userId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Users.QueryAsync(
            new DocumentQuery(IdentityContainers.UserPartition(userId), Filter.Eq("type", IdentityContainers.UserProjectType), [new SortField("createdAt")], pageSize, continuationToken),
            ct);
        return new Page<string>([.. page.Items.Select(d => d.Id)], page.ContinuationToken);
    }

    /// <summary>Indexes a project under its organization, for organization admins.</summary>
    public Task IndexOrganizationProjectAsync(string orgId, string projectId, DateTimeOffset createdAt, CancellationToken ct) =>
        Orgs.UpsertAsync(
            IdentityContainers.OrgPartition(orgId),
            projectId,
            new JsonObject { ["type"] = IdentityContainers.OrgProjectType, ["projectId"] = projectId, ["createdAt"] = createdAt },
            cancellationToken: ct);

    public Task RemoveOrganizationProjectAsync(string orgId, string projectId, CancellationToken ct) =>
        DeleteIfExistsAsync(Orgs, IdentityContainers.OrgPartition(orgId), projectId, ct);

    public async Task<Page<string>> ListOrganizationProjectsAsync(string orgId, int pageSize, string? continuationToken, CancellationToken ct)
    {
        var page = await Orgs.QueryAsync(
            new DocumentQuery(IdentityContainers.OrgPartition(orgId), Filter.Eq("type", IdentityContainers.OrgProjectType), [new SortField("createdAt")], pageSize, continuationToken),
            ct);
        return new Page<string>([.. page.Items.Select(d => d.Id)], page.ContinuationToken);
    }

    /// <summary>Random back-off for optimistic-concurrency retries (not security-sensitive).</summary>
#pragma warning disable CA5394 // jitter needs no cryptographic randomness
    internal static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 * Math.Min(attempt + 1, 10)));
#pragma warning restore CA5394

    internal static async Task DeleteIfExistsAsync(IDocumentContainer container, string partition, string id, CancellationToken ct)
    {
        try
        {
            await container.DeleteAsync(partition, id, cancellationToken: ct);
        }
        catch (DocumentNotFoundException)
        {
            // Already gone: deletes are retried after partial failures, so absence is success.
        }
    }

    private static JsonObject Body<T>(T value, string type)
    {
        var body = JsonSerializer.SerializeToNode(value, DocumentJson.Options)!.AsObject();
        body["type"] = type;
        return body;
    }
}
