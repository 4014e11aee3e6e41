using System.Diagnostics;

namespace CtcDrafter.Tests.Cli;

/// <summary>Runs the built <c>ctcdrafter</c> as a separate process, as a user would.</summary>
static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs it with <paramref name="workingDirectory"/> as the current folder.</summary>
    public static Result RunIn(string workingDirectory, params string[] args) => RunProcess(null, args, workingDirectory);

    public static Result RunWithInput(string? stdin, params string[] args) => RunProcess(stdin, args, null);

    static Result RunProcess(string? stdin, string[] args, string? workingDirectory)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "CtcDrafter.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException($"ctcdrafter {string.Join(' ', args)} did not finish"); }
        return new Result(p.ExitCode, output, err.Result);
    }

    /// <summary>Starts the CLI and kills it (the whole process tree) after <paramref name="delay"/> if it is still running.</summary>
    public static void RunKilledAfter(TimeSpan delay, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "CtcDrafter.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(delay)) p.Kill(entireProcessTree: true);
        p.WaitForExit(120_000);
    }
}
