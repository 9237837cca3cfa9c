using Serverless.Bench.Storage;

namespace Serverless.Bench;

/// <summary>A named benchmark suite; returns its figures, keys naming metric and unit (e.g. <c>point_reads_per_s</c>).</summary>
internal interface IBenchSuite
{
    string Name { get; }

    Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log);
}

/// <summary>Every suite that <c>bench.sh</c> can run.</summary>
internal static class BenchSuites
{
    public static IReadOnlyList<IBenchSuite> All { get; } =
    [
        new StorageSuite(), new Durable.DurableSuite(), new Exports.ExportsSuite(), new Exports.RawZipBench(), new Items.ItemsSuite(),
        new Dashboard.DashboardSuite(), new Tasks.TasksSuite(), new Analytics.AnalyticsSuite(),
    ];
}

/// <summary>The storage adapters: document store (SQLite) figures, then queue and blob figures on a fresh Azurite.</summary>
internal sealed class StorageSuite : IBenchSuite
{
    public string Name => "storage";

    public async Task<IReadOnlyDictionary<string, double>> RunAsync(TextWriter log)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        await DocumentStoreBench.RunAsync(log, figures);
        await QueueBench.RunAsync(log, figures);
        return figures;
    }
}
