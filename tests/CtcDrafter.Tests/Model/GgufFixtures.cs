namespace CtcDrafter.Tests.Model;

/// <summary>
/// GGUF files written from Hugging Face folders by Fixtures/write_gguf.py, a writer of its own (python3 and numpy,
/// following llama.cpp's converter), so that the engine's reader is checked against something it did not write.
/// </summary>
static class GgufFixtures
{
    static readonly Lazy<string?> Missing = new(() => PythonScripts.Missing("numpy", "python3-numpy", "GGUF fixtures"));

    public static string? MissingReason => Missing.Value;

    /// <summary>Writes <paramref name="folder"/> as a GGUF file of the given type (f32, f16, bf16, q8_0).</summary>
    public static string Write(string folder, string output, string type = "f32", params string[] extra)
    {
        var r = PythonScripts.Run([PythonScripts.Fixture("write_gguf.py"), folder, output, "--type", type, .. extra]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"write_gguf.py failed: {r.Stderr}");
        return output;
    }
}

/// <summary>A fact skipped, with the reason, when python3-numpy (or, with <see cref="SharedData"/>, the shared data
/// folder) is absent.</summary>
public sealed class GgufFactAttribute : FactAttribute
{
    public GgufFactAttribute()
    {
        if (GgufFixtures.MissingReason is { } reason) Skip = reason;
    }

    /// <summary>The test also reads ../shared/data.</summary>
    public bool SharedData
    {
        get => false;
        init { if (value && TestData.SharedDataDir is null) Skip ??= TestData.MissingReason; }
    }
}

/// <summary>A theory skipped, with the reason, when python3-numpy is absent.</summary>
public sealed class GgufTheoryAttribute : TheoryAttribute
{
    public GgufTheoryAttribute()
    {
        if (GgufFixtures.MissingReason is { } reason) Skip = reason;
    }
}
