using System.CommandLine;
using CtcDrafter.Training;

namespace CtcDrafter.Train.Cli;

/// <summary>The <c>ctcdrafter-train</c> command line: tokenizer, corpus, pretrain, export.</summary>
internal static class TrainCli
{
    /// <summary>Exit code for bad input (missing or malformed file, bad config, unwritable output).</summary>
    public const int BadInput = 2;

    public static int Run(string[] args)
    {
        TorchRuntime.Prepare();
        var root = new RootCommand("Trains the reference LLaMA models of CtcDrafter with TorchSharp (CPU, fp32).")
        {
            TokenizerCommand.Create(),
            CorpusCommand.Create(),
            PretrainCommand.Create(),
            ExportCommand.Create(),
        };
        return root.Parse(args).Invoke();
    }

    /// <summary>Runs a command body; bad input ends with one message on stderr and exit code 2, no stack trace.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (TrainingInputException e)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
    }
}
