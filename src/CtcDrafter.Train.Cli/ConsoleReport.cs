using CtcDrafter.Training.Data;
using Spectre.Console;

namespace CtcDrafter.Train.Cli;

/// <summary>Tables printed by the commands.</summary>
internal static class ConsoleReport
{
    public static void PrintCorpus(TokenCorpus corpus)
    {
        var table = new Table().AddColumns("source", "documents", "tokens", "held-out documents", "held-out tokens", "training stream", "share");
        long stream = corpus.Statistics.Sum(s => s.TrainTokens);
        foreach (var s in corpus.Statistics)
            table.AddRow(s.Source, $"{s.Documents:N0}", $"{s.Tokens:N0}", $"{s.HeldOutDocuments:N0}", $"{s.HeldOutTokens:N0}",
                $"{s.TrainTokens:N0}", $"{100.0 * s.TrainTokens / stream:F1} %");
        table.AddRow("total", $"{corpus.Statistics.Sum(s => s.Documents):N0}", $"{corpus.Statistics.Sum(s => s.Tokens):N0}",
            $"{corpus.Statistics.Sum(s => s.HeldOutDocuments):N0}", $"{corpus.Statistics.Sum(s => s.HeldOutTokens):N0}", $"{stream:N0}", "100 %");
        AnsiConsole.Write(table);
    }
}
