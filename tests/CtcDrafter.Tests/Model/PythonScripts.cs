using System.Diagnostics;

namespace CtcDrafter.Tests.Model;

/// <summary>The system python3 that runs the fixture writers under Fixtures/, and whether it has what they need.</summary>
static class PythonScripts
{
    // Debian's python3-* packages belong to the system interpreter, which a pyenv shim earlier on the PATH would hide.
    static readonly string Interpreter = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    public static string Fixture(string name) => Path.Combine(TestData.RepoRoot, "tests", "CtcDrafter.Tests", "Fixtures", name);

    /// <summary>Null when <c>import <paramref name="module"/></c> works, else why the fixtures cannot be written.</summary>
    public static string? Missing(string module, string package, string fixtures)
    {
        try
        {
            return Run("-c", $"import {module}").ExitCode == 0 ? null
                : $"{package} is not installed (apt-get install {package}): {fixtures} cannot be written";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return $"python3 is not installed: {fixtures} cannot be written";
        }
    }

    public static (int ExitCode, string Stderr) Run(params string[] args)
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
