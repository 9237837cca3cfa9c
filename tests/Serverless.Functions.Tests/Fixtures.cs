namespace Serverless.Functions.Tests;

/// <summary>Reads the recorded invocation payloads copied next to the test assembly.</summary>
public static class Fixtures
{
    public static string Read(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));
}
