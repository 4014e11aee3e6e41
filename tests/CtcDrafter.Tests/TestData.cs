namespace CtcDrafter.Tests;

/// <summary>Locates the read-only shared data folder (<c>../shared/data</c> beside the repository).</summary>
public static class TestData
{
    /// <summary>The full path of <c>shared/data</c>, found by walking up from the test binaries and from the
    /// current directory; null when it is absent (a fresh machine), in which case tests that need it skip.</summary>
    public static string? SharedDataDir { get; } = Find();

    /// <summary>The repository root (the folder holding CtcDrafter.sln), found above the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CtcDrafter.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("repository root not found above the test binaries");
    }

    /// <summary>The reason given by tests skipped for lack of the shared data folder.</summary>
    public const string MissingReason =
        "needs the shared data folder (../shared/data beside the repository), which is absent on this machine";

    /// <summary>A path inside the shared data folder; only call it from a test marked
    /// <see cref="SharedDataFactAttribute"/> or <see cref="SharedDataTheoryAttribute"/>.</summary>
    public static string SharedPath(params string[] parts) =>
        Path.Combine([SharedDataDir ?? throw new InvalidOperationException(MissingReason), .. parts]);

    private static string? Find()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "data");
                if (Directory.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}

/// <summary>A fact that is skipped, with a clear reason, when the shared data folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (TestData.SharedDataDir is null) Skip = TestData.MissingReason;
    }
}

/// <summary>A theory that is skipped, with a clear reason, when the shared data folder is absent.</summary>
public sealed class SharedDataTheoryAttribute : TheoryAttribute
{
    public SharedDataTheoryAttribute()
    {
        if (TestData.SharedDataDir is null) Skip = TestData.MissingReason;
    }
}
