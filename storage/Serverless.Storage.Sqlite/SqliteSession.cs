using Microsoft.Data.Sqlite;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// One connection and its prepared statements. A session is used by one caller at a time (the
/// store hands out reader sessions from a pool and guards the single writer session with a lock),
/// so statements can be prepared once and re-bound on every call.
/// </summary>
internal sealed class SqliteSession : IDisposable
{
    // Queries whose filters differ in shape produce different SQL; bounding the cache keeps a
    // stream of ad-hoc filters from holding an unbounded number of statements.
    private const int MaxCachedCommands = 256;

    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SqliteWriteStatement> _writes = new(StringComparer.Ordinal);

    /// <summary>
    /// SQLite's memory statistics off, before the first connection opens: with them on, every allocation and free in SQLite
    /// takes one process-wide mutex to count bytes, which the writer, the readers and the checkpointer share (pthread mutex
    /// calls and futex waits, from this and other locks, were ~8% of the CPU of a batch status at 1M items; with the
    /// statistics off they left the top of the profile). Nothing here reads the statistics. SQLite refuses the setting (SQLITE_MISUSE, ignored) once another component has opened a connection.
    /// Then <see cref="SqliteWalVfs"/> becomes SQLite's default file system, for every connection opened after it.
    /// </summary>
    static SqliteSession()
    {
        SQLitePCL.Batteries_V2.Init();
        _ = SQLitePCL.raw.sqlite3_config(SQLitePCL.raw.SQLITE_CONFIG_MEMSTATUS, 0);
        SqliteWalVfs.Register();
    }

    public SqliteSession(string databasePath, bool readOnly)
    {
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            // The store pools its own sessions so that prepared statements survive between calls.
            Pooling = false,
        }.ToString();
        Connection = new SqliteConnection(connectionString);
        Connection.Open();

        // The writer (and the checkpointer) read pages through mmap, straight from the OS cache (~20% more point reads on
        // 1M documents). Readers do not: SQLite unmaps a connection's whole mapping whenever it starts a read transaction
        // after another connection committed, so under steady writes every reader unmapped and remapped the ~2 GB file of
        // a 1M-item project per query and page-faulted each page back in (strace: dozens of 2 GB munmap/mmap pairs a
        // second during a batch status). Readers read with pread into their page cache, which a quiet database keeps
        // warm. This build of SQLite caps mmap at 2 GB (MAX_MMAP_SIZE); the rest of a larger file is read with pread.
        Execute(
            "PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA foreign_keys=OFF; " +
            (readOnly ? "PRAGMA mmap_size=0; PRAGMA query_only=1;" : "PRAGMA mmap_size=4294967296;"));
    }

    public SqliteConnection Connection { get; }

    /// <summary>A prepared command for <paramref name="sql"/> with its parameters cleared.</summary>
    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            if (_commands.Count >= MaxCachedCommands)
            {
                ClearCache();
            }

            command = Connection.CreateCommand();
#pragma warning disable CA2100 // The text is built from validated paths and container names; values are parameters.
            command.CommandText = sql;
#pragma warning restore CA2100
            command.Prepare();
            _commands[sql] = command;
        }

        command.Parameters.Clear();
        return command;
    }

    /// <summary>The document write statement for <paramref name="sql"/>, prepared once (see <see cref="SqliteWriteStatement"/>).</summary>
    public SqliteWriteStatement Write(string sql)
    {
        if (!_writes.TryGetValue(sql, out var statement))
        {
            if (_writes.Count >= MaxCachedCommands)
            {
                ClearCache();
            }

            statement = new SqliteWriteStatement(Connection.Handle!, sql);
            _writes[sql] = statement;
        }

        return statement;
    }

    public int Execute(string sql)
    {
        using var command = Connection.CreateCommand();
#pragma warning disable CA2100 // Fixed statements (pragmas, DDL from validated names).
        command.CommandText = sql;
#pragma warning restore CA2100
        return command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        ClearCache();
        Connection.Dispose();
    }

    private void ClearCache()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        foreach (var statement in _writes.Values)
        {
            statement.Dispose();
        }

        _commands.Clear();
        _writes.Clear();
    }
}
