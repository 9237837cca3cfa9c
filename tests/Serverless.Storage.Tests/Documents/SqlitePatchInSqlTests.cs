using System.Text.Json.Nodes;
using Serverless.Core.Storage.Documents;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>
/// Patches applied inside SQLite (<see cref="SqlitePatch.InSql"/>, used for <see cref="BatchOperation.PatchWithoutResult"/>):
/// which patches qualify, and that the statement stores every JSON value exactly as the .NET patch would.
/// </summary>
public sealed class SqlitePatchInSqlTests : IDisposable
{
    private static readonly SqliteFields Fields = new("items", ["size", "meta.kind"]);
    private readonly SqliteTempFiles _files = new();

    public void Dispose() => _files.Dispose();

    public static TheoryData<string> Eligible => new()
    {
        "set status.t1", "remove status.t1", "set status.t1|remove status.t2|set other", "set size", "remove size", "set meta", "set meta.kind|set size",
    };

    public static TheoryData<string> NotEligible => new()
    {
        "increment n", "increment size", "remove meta.kind.x", "set meta.kind.x", "set status|set status.t1", "set a.b|remove a.b",
    };

    [Theory]
    [MemberData(nameof(Eligible))]
    public void InSql_SetsAndRemovesOfSeparatePathsNotInsideAKey_AreOneStatement(string patch) =>
        Assert.NotNull(SqlitePatch.InSql(Fields, Operations(patch)));

    [Theory]
    [MemberData(nameof(NotEligible))]
    public void InSql_IncrementsPathsInsideKeysOrNestedPaths_AreLeftToDotNet(string patch) =>
        Assert.Null(SqlitePatch.InSql(Fields, Operations(patch)));

    [Theory]
    [MemberData(nameof(SqliteKeysTests.PatchableValues), MemberType = typeof(SqliteKeysTests))]
    public async Task Statement_EveryJsonValue_IsStoredAsTheDotNetPatchStoresIt(string value)
    {
        var path = _files.NewPath();
        var operations = new[] { PatchOperation.Set("status.t1", JsonNode.Parse(value)), PatchOperation.Remove("status.gone") };
        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["size", "meta.kind"]));
            await store.Container("items").CreateAsync("p1", "viaSql", Json("""{"size":1,"status":{"gone":true}}"""));
            await store.Container("items").CreateAsync("p1", "viaDotNet", Json("""{"size":1,"status":{"gone":true}}"""));
            await store.Container("items").PatchAsync("p1", "viaDotNet", operations);
        }

        var statement = SqlitePatch.InSql(Fields, operations)!;
        using (var connection = SqliteTempFiles.Open(path))
        {
            using var command = connection.CreateCommand();
#pragma warning disable CA2100 // The statement under test.
            command.CommandText = statement.Sql;
#pragma warning restore CA2100
            command.Parameters.AddWithValue("@p0", "p1");
            command.Parameters.AddWithValue("@p1", "viaSql");
            command.Parameters.AddWithValue("@p2", "\"new\"");
            command.Parameters.AddWithValue("@p4", DBNull.Value);
            command.Parameters.AddWithValue("@v0", statement.Values[0]);
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        await using (var store = new SqliteDocumentStore(new SqliteDocumentStoreOptions(path)))
        {
            await store.EnsureContainerAsync(new ContainerSpec("items", ["size", "meta.kind"]));
            var viaSql = (await store.Container("items").ReadAsync("p1", "viaSql"))!;
            var viaDotNet = (await store.Container("items").ReadAsync("p1", "viaDotNet"))!;
            Assert.Equal("\"new\"", viaSql.ETag);
            viaSql.Body["id"] = "viaDotNet";
            Assert.True(JsonNode.DeepEquals(viaDotNet.Body, viaSql.Body), $"{viaSql.Body.ToJsonString()} vs {viaDotNet.Body.ToJsonString()}");
            Assert.Equal(viaDotNet.Body["status"]!["t1"]?.ToJsonString(), viaSql.Body["status"]!["t1"]?.ToJsonString());
        }
    }

    private static PatchOperation[] Operations(string patch) => [.. patch.Split('|').Select(op => op.Split(' ') switch
    {
        ["set", var p] => PatchOperation.Set(p, "x"),
        ["remove", var p] => PatchOperation.Remove(p),
        [_, var p] => PatchOperation.Increment(p, 1),
        _ => throw new ArgumentException(op),
    })];

    private static JsonObject Json(string text) => JsonNode.Parse(text)!.AsObject();
}
