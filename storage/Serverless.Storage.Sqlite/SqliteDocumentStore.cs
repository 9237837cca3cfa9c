using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Core.Storage.Documents;

namespace Serverless.Storage.Sqlite;

/// <summary>Where the SQLite document store keeps its data.</summary>
/// <param name="DatabasePath">Path of the database file; created (with its -wal and -shm files) when missing.</param>
public sealed record SqliteDocumentStoreOptions(string DatabasePath);

/// <summary>
/// The embedded document store: one SQLite file in WAL mode, one table per container, bodies stored
/// as JSONB with a key column per indexed path (<see cref="SqliteFields"/>), filters compiled to SQL over the key
/// columns and <c>json_extract</c> (see <see cref="IDocumentStore"/> for the contract).
/// </summary>
/// <remarks>
/// All writes go through one connection guarded by an async lock, each in a transaction, so prepared
/// statements are reused and conditional writes (ETag checks, patches) are atomic without retry loops; reads use a pool of
/// connections that run concurrently with the writer (WAL). <c>synchronous=NORMAL</c>: a committed
/// write survives a process crash, the last few may be lost on power loss, which suits a local store.
/// Several processes may open the same file; their writes serialize through <c>BEGIN IMMEDIATE</c>
/// and the busy timeout. Concurrent writes that queue behind a commit share the next transaction
/// (group commit, one savepoint each), so each still succeeds or fails on its own. The WAL is copied into the
/// database file by a background checkpointer on its own connection (<see cref="SqliteCheckpointer"/>), never
/// inside a writer's commit.
/// <para>Query semantics (pinned by the conformance suite; the Cosmos adapter mirrors them):</para>
/// <list type="bullet">
/// <item>A comparison matches only a field of the same JSON type as the value: <c>gt 5</c> never matches a
/// string, <c>eq "1"</c> never matches the number 1, <c>eq true</c> never matches 1. Booleans order false &lt; true.</item>
/// <item>A missing field matches no comparison; <c>eq null</c> matches JSON null only. <c>ne</c> and <c>nin</c>
/// match documents where the field exists and is not equal to (any of) the value(s), whatever its type.</item>
/// <item><c>gt</c>/<c>gte</c>/<c>lt</c>/<c>lte</c> with a null value match nothing.</item>
/// <item><c>contains</c>: case-sensitive substring of a string field, or an array element equal to the string.
/// <c>startsWith</c>: case-sensitive prefix. <c>exists</c>: present, even when JSON null.</item>
/// <item>Sort: per path, missing &lt; null &lt; numbers &lt; strings &lt; booleans &lt; arrays/objects, then by
/// value; descending reverses the whole order. Ties break by id (then partition key across partitions).</item>
/// <item>Continuation tokens are keyset positions (last row's sort values and id) bound to the query's
/// container, partition, filter values and sort by a hash; any other token is an <see cref="InvalidQueryException"/>.
/// Writes between pages never cause duplicates or gaps among documents that did not change.</item>
/// <item>CountBy puts missing and null in one null group; groups come in the sort order above.</item>
/// <item>Upsert with ifMatch on a document that no longer exists fails with
/// <see cref="DocumentPreconditionFailedException"/> (the version the caller read is gone).</item>
/// <item>Patch: 1 to 10 operations; parents must exist; Remove of a missing field, Increment of a non-number
/// and patching <c>id</c>/<c>pk</c> fail with <see cref="InvalidDocumentException"/>; nothing is applied then.</item>
/// </list>
/// </remarks>
public sealed partial class SqliteDocumentStore : IDocumentStore, IAsyncDisposable
{
    private const int MaxPooledReaders = 8;
    private const int MaxGroupedWrites = 64;
    private const long WalSizeLimit = 64L << 20;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentQueue<WriteItem> _pending = new();
    private readonly ConcurrentBag<SqliteSession> _readers = [];
    private readonly ConcurrentDictionary<string, SqliteDocumentContainer> _containers = new(StringComparer.Ordinal);
    private readonly ILogger<SqliteDocumentStore> _logger;
    private readonly string _path;
    private readonly SqliteCheckpointer _checkpointer;
    private readonly FileStream _databaseFile;
    private SqliteSession? _writer;

    public SqliteDocumentStore(SqliteDocumentStoreOptions options, ILogger<SqliteDocumentStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DatabasePath);
        _path = Path.GetFullPath(options.DatabasePath);
        _logger = logger ?? NullLogger<SqliteDocumentStore>.Instance;
        try
        {
            _writer = new SqliteSession(_path, readOnly: false);
            // Fails fast (instead of on first use) when the file is not a database or is locked exclusively.
            var mode = _writer.Command("PRAGMA journal_mode=WAL").ExecuteScalar() as string;
            // No checkpoints on the writer: one ran inside whichever COMMIT crossed the threshold, copying and syncing
            // up to 40 MB into the database file while every queued write waited (commits of 140-220 ms, the single
            // status p99). The checkpointer below does it on its own connection, beside the writer.
            _writer.Execute("PRAGMA wal_autocheckpoint=0");

            // When the writer starts the WAL over, it also cuts the file back to this size: a burst leaves no huge file behind.
            _writer.Execute($"PRAGMA journal_size_limit={WalSizeLimit}");
            _writer.Execute(SqliteSql.CreateKeyTable);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new DocumentStoreUnavailableException($"SQLite database '{_path}' could not switch to WAL mode (journal_mode is '{mode}').");
            }

            // Opened for writing only because .NET flushes to disk only a stream that can write; nothing is written through it.
            _databaseFile = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            _checkpointer = new SqliteCheckpointer(_path, _databaseFile, _logger);
            Log.Opened(_logger, _path);
        }
        catch (Exception e) when (e is SqliteException or DocumentStoreException or IOException or UnauthorizedAccessException)
        {
            _writer?.Dispose();
            _databaseFile?.Dispose();
            throw e as DocumentStoreException ?? new DocumentStoreUnavailableException($"SQLite database '{_path}' could not be opened: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task EnsureContainerAsync(ContainerSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        DocumentRules.ValidateContainerName(spec.Name);
        var indexes = new List<(string Name, string Sql)>();
        var groups = spec.IndexedPaths.Distinct(StringComparer.Ordinal).Select(p => (IReadOnlyList<string>)[p])
            .Concat(spec.CompositeIndexes ?? []);
        foreach (var paths in groups)
        {
            try
            {
                if (paths.Count == 0)
                {
                    throw new InvalidQueryException("A composite index needs at least one path.");
                }

                indexes.Add((SqliteSql.IndexName(spec.Name, string.Join('+', paths)).Trim('"'), SqliteSql.CreateIndex(spec.Name, paths)));
            }
            catch (InvalidQueryException e)
            {
                throw new InvalidDocumentException($"Container '{spec.Name}' declares an invalid indexed path: {e.Message}");
            }
        }

        var elementPaths = (spec.ElementIndexedPaths ?? []).Distinct(StringComparer.Ordinal).ToList();
        try
        {
            elementPaths.ForEach(DocumentRules.ValidatePath);
        }
        catch (InvalidQueryException e)
        {
            throw new InvalidDocumentException($"Container '{spec.Name}' declares an invalid element-indexed path: {e.Message}");
        }

        var fields = new SqliteFields(spec.Name, groups.SelectMany(paths => paths), elementPaths);
        await WriteAsync(
            session =>
            {
                session.Execute(SqliteSql.CreateTable(spec.Name));
                EnsureKeyColumns(session, spec.Name, fields);
                foreach (var (name, sql) in indexes)
                {
                    // A file written by an earlier version may hold an index of this name with another definition
                    // (before partial indexes): replace it, once, so the file gets the current one.
                    var existing = session.Command("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = @p0");
                    existing.Parameters.AddWithValue("@p0", name);
                    if (existing.ExecuteScalar() is string current && current != sql.Replace("IF NOT EXISTS ", string.Empty, StringComparison.Ordinal))
                    {
                        session.Execute($"DROP INDEX \"{name}\"");
                    }

                    session.Execute(sql);
                }

                // An index the spec no longer declares costs every write and serves no query: drop it.
                var stale = session.Command("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = @p0 AND name LIKE @p1 ESCAPE '\\'");
                stale.Parameters.AddWithValue("@p0", "doc_" + spec.Name);
                stale.Parameters.AddWithValue("@p1", SqliteSql.IndexName(spec.Name, string.Empty).Trim('"').Replace("_", "\\_", StringComparison.Ordinal) + "%");
                var declared = indexes.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
                var drop = new List<string>();
                using (var reader = stale.ExecuteReader())
                {
                    while (reader.Read())
                    {
                        if (!declared.Contains(reader.GetString(0)))
                        {
                            drop.Add(reader.GetString(0));
                        }
                    }
                }

                drop.ForEach(name => session.Execute($"DROP INDEX \"{name}\""));
                EnsureElementIndexes(session, spec.Name, elementPaths);
                return 0;
            },
            cancellationToken);
        _containers.GetOrAdd(spec.Name, name => new SqliteDocumentContainer(this, name, fields)).Fields = fields;
        Log.ContainerEnsured(_logger, spec.Name, spec.IndexedPaths.Count);
    }

    /// <summary>
    /// Creates the element indexes <paramref name="paths"/> declares that the file lacks (filled from the documents already
    /// stored, once) and drops those it holds but no longer declares, which no write keeps any more.
    /// </summary>
    private static void EnsureElementIndexes(SqliteSession session, string container, IReadOnlyList<string> paths)
    {
        var existing = ElementIndexesIn(session, container);
        foreach (var path in paths.Where(p => !existing.Contains(p)))
        {
            foreach (var sql in SqliteElementIndex.Create(container, path))
            {
                session.Execute(sql);
            }
        }

        foreach (var path in existing.Where(p => !paths.Contains(p)))
        {
            foreach (var sql in SqliteElementIndex.Drop(container, path))
            {
                session.Execute(sql);
            }
        }
    }

    /// <summary>The paths of the element indexes the file holds for a container.</summary>
    private static List<string> ElementIndexesIn(SqliteSession session, string container)
    {
        var prefix = SqliteElementIndex.TablePrefix(container);
        var read = session.Command("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, length(@p0)) = @p0");
        read.Parameters.AddWithValue("@p0", prefix);
        using var reader = read.ExecuteReader();
        var paths = new List<string>();
        while (reader.Read())
        {
            paths.Add(reader.GetString(0)[prefix.Length..]);
        }

        return paths;
    }

    /// <summary>
    /// Gives the container a key column for each of <paramref name="fields"/>' paths (see <see cref="SqliteFields"/>),
    /// filled from every document's body when the column is new or the path was not indexed before (a file from
    /// before key columns, or a new index), before the indexes over them are built. Columns of paths no longer indexed
    /// stay (SQLite cannot drop a column an index still names at this point) but are no longer written or read.
    /// </summary>
    private void EnsureKeyColumns(SqliteSession session, string container, SqliteFields fields)
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        var read = session.Command("SELECT name FROM pragma_table_info(@p0)");
        read.Parameters.AddWithValue("@p0", "doc_" + container);
        using (var reader = read.ExecuteReader())
        {
            while (reader.Read())
            {
                columns.Add(reader.GetString(0));
            }
        }

        var stored = session.Command("SELECT paths FROM meta_keys WHERE container = @p0");
        stored.Parameters.AddWithValue("@p0", container);
        var before = SqliteFields.StoredPaths(stored.ExecuteScalar() as string).ToHashSet(StringComparer.Ordinal);
        var fill = new List<string>();
        foreach (var path in fields.KeyPaths)
        {
            if (!columns.Contains(SqliteFields.ColumnName(path)))
            {
                session.Execute($"ALTER TABLE {SqliteSql.Table(container)} ADD COLUMN {SqliteFields.Column(path)}");
                fill.Add(path);
            }
            else if (!before.Contains(path))
            {
                fill.Add(path);
            }
        }

        if (fill.Count > 0)
        {
            // On a file of millions of documents this takes a while, once: say so.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var documents = session.Execute(fields.FillKeysSql(fill));
            Log.KeysFilled(_logger, fill, container, documents, watch.ElapsedMilliseconds);
        }

        if (!before.SetEquals(fields.KeyPaths))
        {
            var save = session.Command("INSERT INTO meta_keys (container, paths) VALUES (@p0, @p1) ON CONFLICT (container) DO UPDATE SET paths = excluded.paths");
            save.Parameters.AddWithValue("@p0", container);
            save.Parameters.AddWithValue("@p1", fields.Stored);
            save.ExecuteNonQuery();
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDocumentException">The container was never created (neither by this instance nor in the file).</exception>
    public IDocumentContainer Container(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_containers.TryGetValue(name, out var container))
        {
            return container;
        }

        DocumentRules.ValidateContainerName(name);
        var (exists, keyPaths, elementPaths) = Read(session =>
        {
            var command = session.Command("SELECT count(*), (SELECT paths FROM meta_keys WHERE container = @p1) FROM sqlite_master WHERE type = 'table' AND name = @p0");
            command.Parameters.AddWithValue("@p0", "doc_" + name);
            command.Parameters.AddWithValue("@p1", name);
            using var reader = command.ExecuteReader();
            reader.Read();
            return (reader.GetInt64(0) > 0, reader.IsDBNull(1) ? null : reader.GetString(1), ElementIndexesIn(session, name));
        });

        // The element indexes the file holds are kept by this instance's writes too, though it never saw the spec.
        return exists
            ? _containers.GetOrAdd(name, n => new SqliteDocumentContainer(this, n, SqliteFields.FromStored(n, keyPaths, elementPaths)))
            : throw new InvalidDocumentException($"Container '{name}' does not exist; call EnsureContainerAsync at start-up.");
    }

    /// <inheritdoc />
    public Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return Task.FromResult(Read(session => session.Command("SELECT 1").ExecuteScalar() is long));
        }
        catch (DocumentStoreException)
        {
            return Task.FromResult(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _checkpointer.DisposeAsync();
        await _writeLock.WaitAsync();
        try
        {
            if (_writer is null)
            {
                return;
            }

            try
            {
                // Keeps the planner's statistics fresh for the next start (cheap: only analyzes what changed).
                _writer.Execute("PRAGMA optimize");
            }
            catch (SqliteException e)
            {
                Log.OptimizeFailed(_logger, e);
            }

            _writer.Dispose();
            _writer = null;
            while (_readers.TryTake(out var reader))
            {
                reader.Dispose();
            }

            // Last: closing it drops SQLite's POSIX locks on the file in this process.
            await _databaseFile.DisposeAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the writer connection inside a transaction: all of its statements
    /// commit, or (when it throws) none does. Writes that queue up while another commits are run by
    /// whichever caller gets the lock next, together in one transaction with a savepoint each (group
    /// commit): concurrent writers share one commit instead of paying one each.
    /// </summary>
    /// <param name="work">The statements; throws a typed error to undo them.</param>
    /// <param name="cancellationToken">Cancels only while the write still waits for the lock.</param>
    /// <param name="singleStatement">True when <paramref name="work"/> modifies data with one statement at most
    /// (it may still read): run alone, it then commits by itself, saving the BEGIN/COMMIT round trips.</param>
    internal async Task<T> WriteAsync<T>(Func<SqliteSession, T> work, CancellationToken cancellationToken, bool singleStatement = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var item = new WriteItem<T>(work) { SingleStatement = singleStatement };
        _pending.Enqueue(item);
        try
        {
            await _writeLock.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (item.TryCancel())
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            // Another caller already started this write: its outcome is the caller's outcome.
            return await item.Task;
        }

        try
        {
            if (!item.Task.IsCompleted)
            {
                RunPendingWrites();
            }
        }
        finally
        {
            _writeLock.Release();
        }

        return await item.Task;
    }

    private void RunPendingWrites()
    {
        var group = new List<WriteItem>();
        while (group.Count < MaxGroupedWrites && _pending.TryDequeue(out var next))
        {
            if (next.TryClaim())
            {
                group.Add(next);
            }
        }

        if (group.Count == 0)
        {
            return;
        }

        var writer = _writer;
        if (writer is null)
        {
            group.ForEach(w => w.Fail(new ObjectDisposedException(nameof(SqliteDocumentStore))));
            return;
        }

        FinishCheckpoint(writer);

        try
        {
            RunGroup(writer, group);
        }
#pragma warning disable CA1031 // Reported to every caller of the group through its task.
        catch (Exception e)
#pragma warning restore CA1031
        {
            // Unexpected (the group's own error handling failed): undo everything and tell every caller.
            Rollback(writer);
            var error = e as DocumentStoreException ?? new DocumentStoreUnavailableException($"SQLite write failed: {e.Message}", e);
            group.ForEach(w => w.Fail(error));
        }
    }

    private void RunGroup(SqliteSession writer, List<WriteItem> group)
    {
        if (group is [{ SingleStatement: true } single])
        {
            try
            {
                single.Run(writer);
                _checkpointer.Committed();
                single.Succeed();
            }
#pragma warning disable CA1031 // Reported to the caller through its task.
            catch (Exception e)
#pragma warning restore CA1031
            {
                single.Fail(e is SqliteException sqlite ? Translate(sqlite) : e);
            }

            return;
        }

        try
        {
            writer.Command("BEGIN IMMEDIATE").ExecuteNonQuery();
        }
        catch (SqliteException e)
        {
            var error = Translate(e);
            group.ForEach(w => w.Fail(error));
            return;
        }

        var useSavepoints = group.Count > 1;
        var failures = new Exception?[group.Count];
        for (var i = 0; i < group.Count; i++)
        {
            if (useSavepoints)
            {
                writer.Command("SAVEPOINT w").ExecuteNonQuery();
            }

            try
            {
                group[i].Run(writer);
                if (useSavepoints)
                {
                    writer.Command("RELEASE w").ExecuteNonQuery();
                }
            }
#pragma warning disable CA1031 // Any failure of one write must reach its caller, never strand the group.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures[i] = e is SqliteException sqlite ? Translate(sqlite) : e;
                if (!useSavepoints || !TryRollbackToSavepoint(writer))
                {
                    // Without a savepoint (or when SQLite already abandoned the transaction) the whole
                    // group is undone, so no item may report success.
                    Rollback(writer);
                    for (var j = 0; j < group.Count; j++)
                    {
                        group[j].Fail(failures[j] ?? new DocumentStoreUnavailableException("The write was rolled back because another write in its transaction failed; retry it.", e));
                    }

                    return;
                }
            }
        }

        try
        {
            writer.Command("COMMIT").ExecuteNonQuery();
            _checkpointer.Committed();
        }
        catch (SqliteException e)
        {
            Rollback(writer);
            var error = Translate(e);
            group.ForEach(w => w.Fail(error));
            return;
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (failures[i] is { } failure)
            {
                group[i].Fail(failure);
            }
            else
            {
                group[i].Succeed();
            }
        }
    }

    /// <summary>
    /// Copies the last few WAL frames when the checkpointer asks (see <see cref="SqliteCheckpointer"/>): with all of
    /// the WAL in the database file, the transaction that follows starts the WAL over instead of appending to it.
    /// </summary>
    private void FinishCheckpoint(SqliteSession writer)
    {
        if (!_checkpointer.TakeFinishRequest())
        {
            return;
        }

        try
        {
            writer.Execute("PRAGMA wal_checkpoint(PASSIVE)");
        }
        catch (SqliteException e)
        {
            Log.SqliteError(_logger, e.SqliteErrorCode, e);
        }
    }

    private static bool TryRollbackToSavepoint(SqliteSession writer)
    {
        if (SQLitePCL.raw.sqlite3_get_autocommit(writer.Connection.Handle) != 0)
        {
            return false;
        }

        try
        {
            writer.Command("ROLLBACK TO w").ExecuteNonQuery();
            writer.Command("RELEASE w").ExecuteNonQuery();
            return true;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    private void Rollback(SqliteSession writer)
    {
        if (SQLitePCL.raw.sqlite3_get_autocommit(writer.Connection.Handle) != 0)
        {
            return;
        }

        try
        {
            writer.Command("ROLLBACK").ExecuteNonQuery();
        }
        catch (SqliteException e)
        {
            Log.SqliteError(_logger, e.SqliteErrorCode, e);
        }
    }

    /// <summary>Runs <paramref name="work"/> on a pooled reader connection.</summary>
    internal T Read<T>(Func<SqliteSession, T> work)
    {
        ObjectDisposedException.ThrowIf(_writer is null, this);
        if (!_readers.TryTake(out var session))
        {
            try
            {
                session = new SqliteSession(_path, readOnly: true);
            }
            catch (SqliteException e)
            {
                throw Translate(e);
            }
        }

        try
        {
            return work(session);
        }
        catch (SqliteException e)
        {
            throw Translate(e);
        }
        finally
        {
            if (_writer is not null && _readers.Count < MaxPooledReaders)
            {
                _readers.Add(session);
            }
            else
            {
                session.Dispose();
            }
        }
    }

    private DocumentStoreUnavailableException Translate(SqliteException e)
    {
        Log.SqliteError(_logger, e.SqliteErrorCode, e);
        return new DocumentStoreUnavailableException($"SQLite database '{_path}' failed: {e.Message}", e);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Opened SQLite document store {Path} (WAL)")]
        public static partial void Opened(ILogger logger, string path);

        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Ensured container {Container} with {IndexCount} indexed paths")]
        public static partial void ContainerEnsured(ILogger logger, string container, int indexCount);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "SQLite error {ErrorCode}")]
        public static partial void SqliteError(ILogger logger, int errorCode, Exception exception);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "PRAGMA optimize failed on close")]
        public static partial void OptimizeFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Filled key columns {Paths} of container {Container} from {Documents} documents in {Milliseconds} ms (indexes over them are rebuilt next)")]
        public static partial void KeysFilled(ILogger logger, IEnumerable<string> paths, string container, int documents, long milliseconds);
    }
}
