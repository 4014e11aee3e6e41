using System.Runtime.CompilerServices;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace CtcDrafter.Training.Tests;

internal static class TestSetup
{
    [ModuleInitializer]
    internal static void BeforeAnyTest() => TorchRuntime.Prepare();
}

/// <summary>Locations the tests use: the repository root, its committed tokenizer, the shared data folder.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Tokenizer => Path.Combine(RepoRoot, "models", "tokenizer", "tokenizer.model");

    public static string SharedData => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CtcDrafter.sln"))) return dir.FullName;
        throw new InvalidOperationException("CtcDrafter.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that is skipped, saying why, when the shared data folder (../shared/data) is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (!Directory.Exists(Path.Combine(TestPaths.SharedData, "corpora")))
            Skip = $"shared data folder not found: {TestPaths.SharedData}";
    }
}

/// <summary>A temporary folder deleted at the end of the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ctcdrafter-tests-" + Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
