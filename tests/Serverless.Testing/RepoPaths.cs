namespace Serverless.Testing;

/// <summary>Locates the repository from a test's output folder (where Serverless.sln lives).</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>The repository's root folder.</summary>
    public static string Root => RootPath.Value;

    /// <summary>A tool installed by <c>npm ci</c> at the root, e.g. <c>azurite</c>.</summary>
    public static string NodeBin(string tool)
    {
        var path = Path.Combine(Root, "node_modules", ".bin", tool);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"'{tool}' is not installed: run 'npm ci' in {Root} (the README's test command does it).", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Serverless.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No Serverless.sln above {AppContext.BaseDirectory}.");
    }
}
