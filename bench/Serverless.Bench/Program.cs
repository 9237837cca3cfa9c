using System.Text.Json;
using Serverless.Bench;

// Usage: dotnet run -c Release --project bench/Serverless.Bench -- NAME   (./bench.sh NAME does this)
// Prints progress lines, then one final line of JSON with the suite's figures.
var suites = BenchSuites.All.ToDictionary(s => s.Name, StringComparer.OrdinalIgnoreCase);
if (args.Length != 1 || !suites.TryGetValue(args[0], out var suite))
{
    Console.Error.WriteLine($"usage: bench.sh NAME   where NAME is one of: {string.Join(", ", suites.Keys)}");
    return 2;
}

var figures = await suite.RunAsync(Console.Out);
Console.WriteLine(JsonSerializer.Serialize(figures));
return 0;
