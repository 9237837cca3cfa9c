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
/// name their parameters as every write statement does (<c>@p0</c>..<c>@p4</c> and <c>@k0</c>..: see
/// <see cref="SqliteFields"/>); the positions are resolved once here.
/// </remarks>
internal sealed class SqliteWriteStatement : IDisposable
{
    /// <summary>Slots 0-4 are <c>@p0</c>-<c>@p4</c>; slot 5 + i is <c>@k{i}</c>.</summary>
    private const int FirstKeySlot = 5;

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    private readonly int[] _positions;

    public SqliteWriteStatement(sqlite3 db, string sql)
    {
        _db = db;
        var rc = raw.sqlite3_prepare_v3(db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        var count = raw.sqlite3_bind_parameter_count(_statement);
        var slots = new List<(int Slot, int Position)>(count);
        for (var position = 1; position <= count; position++)
        {
            var name = raw.sqlite3_bind_parameter_name(_statement, position).utf8_to_string();
            slots.Add((SlotOf(name), position));
        }

        _positions = new int[slots.Count == 0 ? 0 : slots.Max(s => s.Slot) + 1];
        foreach (var (slot, position) in slots)
        {
            _positions[slot] = position;
        }
    }

    /// <summary>Binds <c>@p{index}</c> (when the statement names it).</summary>
    public void BindParameter(int index, object? value) => Bind(index, value);

    /// <summary>Binds <c>@k{index}</c> (when the statement names it).</summary>
    public void BindKey(int index, object? value) => Bind(FirstKeySlot + index, value);

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

    private static int SlotOf(string name) =>
        name.Length >= 3 && name[0] == '@' && int.TryParse(name.AsSpan(2), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? name[1] switch
            {
                'p' when n < FirstKeySlot => n,
                'k' => FirstKeySlot + n,
                _ => throw new ArgumentException($"Write statements name parameters @p0-@p4 and @k0...; found {name}."),
            }
            : throw new ArgumentException($"Write statements name parameters @p0-@p4 and @k0...; found {name}.");

    private void Bind(int slot, object? value)
    {
        if (slot >= _positions.Length || _positions[slot] == 0)
        {
            return;
        }

        var position = _positions[slot];
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
