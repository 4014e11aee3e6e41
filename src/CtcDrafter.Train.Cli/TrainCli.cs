using System.CommandLine;
using CtcDrafter.Model;
using CtcDrafter.Training;

namespace CtcDrafter.Train.Cli;

/// <summary>The <c>ctcdrafter-train</c> command line: tokenizer, corpus, pretrain, export, evaluate, distill, train-draft.</summary>
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
            EvaluateCommand.Create(),
            DistillCommand.Create(),
            TrainDraftCommand.Create(),
        };
        return root.Parse(args).Invoke();
    }

    /// <summary>
    /// Runs long work with a token that Ctrl+C cancels: the work stops after its current step and saves its state.
    /// </summary>
    public static T UntilCancelled<T>(Func<CancellationToken, T> work)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
            Console.Error.WriteLine("stopping after this step (saving follows)...");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return work(stop.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs a command body; bad input ends with one message on stderr and exit code 2, no stack trace.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is TrainingInputException or ModelFormatException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
    }
}
