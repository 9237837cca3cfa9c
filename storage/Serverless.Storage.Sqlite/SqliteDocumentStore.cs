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
/// as JSONB, filters compiled to <c>json_extract</c> SQL (see <see cref="IDocumentStore"/> for the contract).
/// </summary>
/// <remarks>
/// All writes go through one connection guarded by an async lock, so prepared statements are reused
/// and conditional writes (ETag checks, patches) are atomic without retry loops; reads use a pool of
/// connections that run concurrently with the writer (WAL). <c>synchronous=NORMAL</c>: a committed
/// write survives a process crash, the last few may be lost on power loss, which suits a local store.
/// Several processes may open the same file; batches and patches then serialize through
/// <c>BEGIN IMMEDIATE</c> and the busy timeout.
/// </remarks>
public sealed partial class SqliteDocumentStore : IDocumentStore, IAsyncDisposable
{
    private const int MaxPooledReaders = 8;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentBag<SqliteSession> _readers = [];
    private readonly ConcurrentDictionary<string, SqliteDocumentContainer> _containers = new(StringComparer.Ordinal);
    private readonly ILogger<SqliteDocumentStore> _logger;
    private readonly string _path;
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
            var mode = _writer.Command("PRAGMA journal_mode=WAL").ExecuteScalar() as string;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new DocumentStoreUnavailableException($"SQLite database '{_path}' could not switch to WAL mode (journal_mode is '{mode}').");
            }

            Log.Opened(_logger, _path);
        }
        catch (SqliteException e)
        {
            _writer?.Dispose();
            throw new DocumentStoreUnavailableException($"SQLite database '{_path}' could not be opened: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task EnsureContainerAsync(ContainerSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        DocumentRules.ValidateContainerName(spec.Name);
        var ddl = new List<string> { SqliteSql.CreateTable(spec.Name) };
        foreach (var path in spec.IndexedPaths.Distinct(StringComparer.Ordinal))
        {
            try
            {
                ddl.Add(SqliteSql.CreateIndex(spec.Name, path));
            }
            catch (InvalidQueryException e)
            {
                throw new InvalidDocumentException($"Container '{spec.Name}' declares an invalid indexed path: {e.Message}");
            }
        }

        await WriteAsync(
            session =>
            {
                session.Execute("BEGIN IMMEDIATE");
                try
                {
                    foreach (var statement in ddl)
                    {
                        session.Execute(statement);
                    }

                    session.Execute("COMMIT");
                }
                catch
                {
                    session.Execute("ROLLBACK");
                    throw;
                }

                return 0;
            },
            cancellationToken);
        _containers.TryAdd(spec.Name, new SqliteDocumentContainer(this, spec.Name));
        Log.ContainerEnsured(_logger, spec.Name, spec.IndexedPaths.Count);
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
        var exists = Read(session =>
        {
            var command = session.Command("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = @p0");
            command.Parameters.AddWithValue("@p0", "doc_" + name);
            return (long)command.ExecuteScalar()! > 0;
        });
        return exists
            ? _containers.GetOrAdd(name, n => new SqliteDocumentContainer(this, n))
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
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> on the writer connection, one caller at a time.</summary>
    internal async Task<T> WriteAsync<T>(Func<SqliteSession, T> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var writer = _writer ?? throw new ObjectDisposedException(nameof(SqliteDocumentStore));
            return work(writer);
        }
        catch (SqliteException e)
        {
            throw Translate(e);
        }
        finally
        {
            _writeLock.Release();
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
    }
}
