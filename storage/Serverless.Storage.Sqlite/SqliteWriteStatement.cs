using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Serverless.Storage.Sqlite;

/// <summary>
/// A document write statement prepared once on the writer connection and bound by parameter position through
/// SQLitePCL directly: no parameter objects, no name lookups and no UTF-8 copies per execution.
/// </summary>
/// <remarks>
/// Writes run thousands of times a second on the single writer, and a command of Microsoft.Data.Sqlite allocated a
/// parameter object per value, looked each name up in the statement and copied each string to UTF-8 on every call
/// (~5 KB and ~60 allocations per bulk item across its two inserts; their collections paused the writer). The statements
/// name their parameters as every write statement does (<c>@p0</c>..<c>@p4</c>, keys <c>@k0</c>.. (see
/// <see cref="SqliteFields"/>) and patch values <c>@v0</c>.. (see <see cref="SqlitePatch.InSql"/>)); the positions are
/// resolved once here.
/// </remarks>
internal sealed class SqliteWriteStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    // Position of each parameter by its letter and number (0 when the statement does not name it).
    private readonly int[] _p;
    private readonly int[] _k;
    private readonly int[] _v;

    public SqliteWriteStatement(sqlite3 db, string sql)
    {
        _db = db;
        var rc = raw.sqlite3_prepare_v3(db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        var named = new List<(char Letter, int Number, int Position)>();
        for (var position = 1; position <= raw.sqlite3_bind_parameter_count(_statement); position++)
        {
            var name = raw.sqlite3_bind_parameter_name(_statement, position).utf8_to_string();
            if (name is not ['@', 'p' or 'k' or 'v', _, ..] || !int.TryParse(name.AsSpan(2), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                _statement.Dispose();
                throw new ArgumentException($"Write statements name parameters @p0.., @k0.. and @v0..; found {name}.");
            }

            named.Add((name[1], number, position));
        }

        _p = Positions(named, 'p');
        _k = Positions(named, 'k');
        _v = Positions(named, 'v');
    }

    /// <summary>Binds <c>@p{index}</c> (when the statement names it).</summary>
    public void BindParameter(int index, object? value) => Bind(_p, index, value);

    /// <summary>Binds <c>@k{index}</c> (when the statement names it).</summary>
    public void BindKey(int index, object? value) => Bind(_k, index, value);

    /// <summary>Binds <c>@v{index}</c> (when the statement names it).</summary>
    public void BindValue(int index, object? value) => Bind(_v, index, value);

    /// <summary>Runs the statement to completion and returns how many rows it changed.</summary>
    public int Execute()
    {
        try
        {
            var rc = raw.sqlite3_step(_statement);
            if (rc is not raw.SQLITE_DONE and not raw.SQLITE_ROW)
            {
                SqliteException.ThrowExceptionForRC(rc, _db);
            }

            return raw.sqlite3_changes(_db);
        }
        finally
        {
            // Released at once, so the statement holds no read snapshot between writes.
            raw.sqlite3_reset(_statement);
        }
    }

    public void Dispose() => _statement.Dispose();

    private static int[] Positions(List<(char Letter, int Number, int Position)> named, char letter)
    {
        var mine = named.Where(n => n.Letter == letter).ToList();
        var positions = new int[mine.Count == 0 ? 0 : mine.Max(n => n.Number) + 1];
        foreach (var (_, number, position) in mine)
        {
            positions[number] = position;
        }

        return positions;
    }

    private void Bind(int[] positions, int index, object? value)
    {
        if (index >= positions.Length || positions[index] == 0)
        {
            return;
        }

        var position = positions[index];
        var rc = value switch
        {
            null => raw.sqlite3_bind_null(_statement, position),

            // An empty span would be bound from a null pointer, which SQLite reads as NULL: "" and empty bytes are bound apart.
            "" => raw.sqlite3_bind_text(_statement, position, string.Empty),
            string text => raw.sqlite3_bind_text16(_statement, position, text.AsSpan()),
            long number => raw.sqlite3_bind_int64(_statement, position, number),
            byte[] { Length: 0 } => raw.sqlite3_bind_zeroblob(_statement, position, 0),
            byte[] bytes => raw.sqlite3_bind_blob(_statement, position, bytes),
            _ => throw new ArgumentException($"A write binds strings, whole numbers, bytes or null; got {value.GetType().Name}."),
        };
        SqliteException.ThrowExceptionForRC(rc, _db);
    }
}
