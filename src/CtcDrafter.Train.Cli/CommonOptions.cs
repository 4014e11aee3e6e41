using System.CommandLine;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Train.Cli;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string> Data() => new("--data")
    {
        Description = "The data folder holding corpora/ (default: ../shared/data from the current directory)",
        DefaultValueFactory = _ => CorpusReader.DefaultDataFolder,
    };

    public static Option<string> Tokenizer() => new("--tokenizer")
    {
        Description = "The SentencePiece tokenizer model",
        DefaultValueFactory = _ => TextTokenizer.DefaultPath,
    };
}
