using System.CommandLine;
using CtcDrafter.Cli.Commands;
using CtcDrafter.Model;

namespace CtcDrafter.Cli;

static class Program
{
    static int Main(string[] args)
    {
        var root = new RootCommand("CtcDrafter: fast, lossless LLaMA-family decoding on CPUs with speculative drafters.")
        {
            GenerateCommand.Create(),
            ChatCommand.Create(),
            TokenizeCommand.Create(),
            InspectCommand.Create(),
            ConvertCommand.Create(),
            BenchCommand.Create(),
            ServeCommand.Create(),
        };
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    /// <summary>Bad input the user can fix: reported in one line, exit code 2, no stack trace.</summary>
    static bool IsUserError(Exception e) => e is ModelFormatException or FormatException or ArgumentException
        or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException
        or InvalidDataException or NotSupportedException;
}
