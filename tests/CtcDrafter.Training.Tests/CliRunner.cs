using CtcDrafter.Train.Cli;

namespace CtcDrafter.Training.Tests;

/// <summary>Runs <c>ctcdrafter-train</c> in-process and captures what it prints.</summary>
internal static class CliRunner
{
    public static (int Exit, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var (oldOut, oldError) = (Console.Out, Console.Error);
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            return (TrainCli.Run(args), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }
}
