using TorchSharp;

namespace CtcDrafter.Training.Pretraining;

/// <summary>
/// Lets the owner of a long run change its libtorch thread count while it runs: a file <c>threads</c> in the run
/// folder holding a positive number is applied before the next step (one thread while the machine is used for
/// other work, all cores when it is idle). No file, or an unreadable one, leaves the count as it is.
/// </summary>
internal static class ThreadControl
{
    public const string FileName = "threads";

    public static void Apply(string runFolder)
    {
        string path = Path.Combine(runFolder, FileName);
        if (!File.Exists(path)) return;
        try
        {
            if (int.TryParse(File.ReadAllText(path).Trim(), out int threads) && threads > 0
                && threads <= Environment.ProcessorCount && threads != torch.get_num_threads())
            {
                torch.set_num_threads(threads);
                Console.WriteLine($"step threads: {threads}");
            }
        }
        catch (IOException)
        {
            // Being rewritten: the next step reads it.
        }
    }
}
