using Microsoft.Data.Sqlite;
using Serverless.Storage.Sqlite;

namespace Serverless.Storage.Tests.Documents;

/// <summary>Runs alone: one test counts the process's WAL writes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SqliteWalVfsAlone
{
    public const string Name = "sqlite-wal-vfs";
}

/// <summary>
/// The VFS that gathers WAL frames into large writes (<see cref="SqliteWalVfs"/>): it is what every connection of this
/// process uses, it writes far fewer times than SQLite's two calls per frame, and no commit is ever visible to a reader,
/// or missing from the files after a crash, because its frames were still in the buffer. The VFS flushes at a commit's
/// last frame, at the shared-memory barrier and at the write lock's release; in these one-thread sequences any one of the
/// three is enough, and with all three removed three of these tests fail (checked).
/// </summary>
[Collection(SqliteWalVfsAlone.Name)]
public sealed class SqliteWalVfsTests : IDisposable
{
    private readonly SqliteTempFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Commit_OfManyPages_ReachesTheWalInFewWrites()
    {
        Assert.True(SqliteWalVfs.Registered);
        using var connection = OpenWal(_files.NewPath());
        var before = SqliteWalVfs.WalWrites;

        Insert(connection, first: 0, count: 2000);

        // ~2,000 rows of 1 KB and their index entries, all in the page cache until the commit writes them: over 1,000
        // frames, two write calls each without the VFS.
        var frames = WalFrames(connection);
        var writes = SqliteWalVfs.WalWrites - before;
        Assert.True(frames > 1000, $"{frames} frames");
        Assert.InRange(writes, 1, (frames / 20) + 4);
    }

    [Fact]
    public void EveryCommit_OfAnySize_IsReadAtOnceByAnotherConnection()
    {
        var path = _files.NewPath();
        using var writer = OpenWal(path);
        using var reader = SqliteTempFiles.Open(path);
        var total = 0;
        foreach (var count in new[] { 1, 3, 40, 1, 300, 2, 700, 1 })
        {
            Insert(writer, total, count);
            total += count;

            // Every row's payload read back whole: a page still in the writer's buffer would read as stale bytes here.
            Assert.Equal(total, Scalar(reader, "SELECT count(*) FROM t"));
            Assert.Equal(total, Scalar(reader, "SELECT count(*) FROM t WHERE payload = printf('%.1000c', char(65 + (id % 26)))"));
        }
    }

    /// <summary>
    /// What a crash leaves: the files copied while the writer is still open, then opened elsewhere, which makes SQLite
    /// recover the WAL from its bytes alone (checksums and commit marks). Every commit made before the copy is there.
    /// </summary>
    [Fact]
    public void Files_CopiedWhileTheWriterIsOpen_HoldEveryCommit()
    {
        var path = _files.NewPath();
        using var writer = OpenWal(path);
        Insert(writer, 0, 900);
        Insert(writer, 900, 1);

        var copy = _files.NewPath();
        File.Copy(path, copy);
        File.Copy(path + "-wal", copy + "-wal");
        using var recovered = SqliteTempFiles.Open(copy);

        Assert.Equal(901, Scalar(recovered, "SELECT count(*) FROM t"));
        Assert.Equal("ok", Text(recovered, "PRAGMA integrity_check"));
    }

    /// <summary>
    /// A transaction too big for its page cache spills frames into the WAL before it commits; rolled back, those frames
    /// are garbage that another writer then writes over. They must have left the first connection's buffer by then (a
    /// read of the WAL during the rollback or the write lock's release flushes them), or a later flush would write them
    /// over the other writer's commit.
    /// </summary>
    [Fact]
    public void RolledBackSpill_ThenAnotherWritersCommit_StaysIntact()
    {
        var path = _files.NewPath();
        using var spiller = OpenWal(path);
        Execute(spiller, "PRAGMA cache_size=20");
        using var other = OpenWal(path);

        using (var transaction = spiller.BeginTransaction())
        {
            Insert(spiller, 0, 400, transaction);
            transaction.Rollback();
        }

        Insert(other, 1000, 300);
        Insert(spiller, 2000, 5);

        using var reader = SqliteTempFiles.Open(path);
        Assert.Equal(305, Scalar(reader, "SELECT count(*) FROM t"));
        Assert.Equal(300, Scalar(reader, "SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 1299 AND payload = printf('%.1000c', char(65 + (id % 26)))"));
        Assert.Equal("ok", Text(reader, "PRAGMA integrity_check"));
    }

    /// <summary>A writer set as the store sets its own: synchronous=NORMAL (a commit does not sync the WAL, so nothing but the VFS flushes its frames) and a page cache large enough for a transaction.</summary>
    private static SqliteConnection OpenWal(string path)
    {
        var connection = SqliteTempFiles.Open(path);
        Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=0; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL); CREATE INDEX IF NOT EXISTS t_payload ON t (payload)");
        return connection;
    }

    /// <summary>Rows <paramref name="first"/>.. in one transaction, each with a 1,000-character payload derived from its id.</summary>
    private static void Insert(SqliteConnection connection, int first, int count, SqliteTransaction? transaction = null)
    {
        using var own = transaction is null ? connection.BeginTransaction() : null;
        using var command = connection.CreateCommand();
        command.Transaction = transaction ?? own;
        command.CommandText = "INSERT INTO t (id, payload) VALUES ($id, printf('%.1000c', char(65 + ($id % 26))))";
        var id = command.Parameters.Add("$id", SqliteType.Integer);
        for (var i = first; i < first + count; i++)
        {
            id.Value = i;
            command.ExecuteNonQuery();
        }

        own?.Commit();
    }

    private static long WalFrames(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var reader = command.ExecuteReader();
        reader.Read();
        return reader.GetInt64(1);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static string Text(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (string)command.ExecuteScalar()!;
    }
}
