using System.Runtime.InteropServices;

namespace CtcDrafter.Training;

/// <summary>Process-wide libtorch settings that must be made before TorchSharp's first call.</summary>
internal static partial class TorchRuntime
{
    /// <summary>
    /// Makes libtorch's OpenMP threads sleep instead of spinning between parallel regions (OMP_WAIT_POLICY=PASSIVE,
    /// unless the environment already says otherwise). On this 2-core machine shared with other jobs, spinning
    /// threads made the tests three times slower under load, while an uncontended training step is no slower.
    /// libgomp reads the variable when libtorch is loaded, so this must run before any tensor is made; it goes
    /// through libc's setenv because .NET keeps its own copy of the environment on Unix.
    /// </summary>
    public static void Prepare()
    {
        if (OperatingSystem.IsLinux()) _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", overwrite: 0);
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
