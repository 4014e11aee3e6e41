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
            ParseResult parsed = root.Parse(args);
            // An option that does not parse (--seed -1, --max-tokens abc) is bad input like any other: one line, exit 2.
            bool asksHelp = args.Any(a => a is "-h" or "--help" or "-?" or "--version");
            if (parsed.Errors.Count > 0 && !asksHelp && args.Length > 0)
            {
                Console.Error.WriteLine($"error: {parsed.Errors[0].Message}");
                return 2;
            }
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
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
