using System.Diagnostics;

namespace CtcDrafter.Tests.Model;

/// <summary>
/// GGUF files written from Hugging Face folders by Fixtures/write_gguf.py, a writer of its own (python3 and numpy,
/// following llama.cpp's converter), so that the engine's reader is checked against something it did not write.
/// </summary>
static class GgufFixtures
{
    static readonly Lazy<string?> Missing = new(() =>
    {
        try
        {
            var r = Python("-c", "import numpy");
            return r.ExitCode == 0 ? null : "python3-numpy is not installed (apt-get install python3-numpy): GGUF fixtures cannot be written";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "python3 is not installed: GGUF fixtures cannot be written";
        }
    });

    public static string? MissingReason => Missing.Value;

    /// <summary>Writes <paramref name="folder"/> as a GGUF file of the given type (f32, f16, bf16, q8_0).</summary>
    public static string Write(string folder, string output, string type = "f32", params string[] extra)
    {
        string script = Path.Combine(TestData.RepoRoot, "tests", "CtcDrafter.Tests", "Fixtures", "write_gguf.py");
        var r = Python([script, folder, output, "--type", type, .. extra]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"write_gguf.py failed: {r.Stderr}");
        return output;
    }

    // Debian's python3-numpy belongs to the system interpreter, which a pyenv shim earlier on the PATH would hide.
    static readonly string Interpreter = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    static (int ExitCode, string Stderr) Python(params string[] args)
    {
        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err);
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
