using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace CtcDrafter.Cli.Bench;

/// <summary>What every reported figure names: the machine it was measured on.</summary>
static class MachineInfo
{
    public static JsonObject Json() => new()
    {
        ["cpu"] = CpuName(),
        ["cores"] = Environment.ProcessorCount,
        ["os"] = RuntimeInformation.OSDescription,
        ["runtime"] = RuntimeInformation.FrameworkDescription,
        ["avx2"] = System.Runtime.Intrinsics.X86.Avx2.IsSupported,
    };

    static string CpuName()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim()
                ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
    }
}
