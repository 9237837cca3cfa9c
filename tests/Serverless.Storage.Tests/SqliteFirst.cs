using System.Runtime.CompilerServices;

namespace Serverless.Storage.Tests;

/// <summary>
/// Configures SQLite as the store does before anything in this test process opens a connection: several tests open
/// their own connections to a store's file, and SQLite takes process-wide settings only before its first connection.
/// </summary>
internal static class SqliteFirst
{
    [ModuleInitializer]
    internal static void ConfigureSqlite() => RuntimeHelpers.RunClassConstructor(typeof(Serverless.Storage.Sqlite.SqliteSession).TypeHandle);
}
