using System.CommandLine;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Train.Cli;

/// <summary><c>corpus</c>: builds the tokenised corpus and prints its statistics.</summary>
internal static class CorpusCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var tokenizerPath = CommonOptions.Tokenizer();
        var show = new Option<int>("--show") { Description = "Print the first N documents of every source", DefaultValueFactory = _ => 0 };
        var command = new Command("corpus", "Build the training corpus and print document and token counts per source")
        {
            data, tokenizerPath, show,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            var documents = CorpusReader.ReadAll(parse.GetValue(data)!);
            var tokenizer = TextTokenizer.Load(parse.GetValue(tokenizerPath)!);
            foreach (var group in documents.GroupBy(d => d.Source))
                foreach (var document in group.Take(parse.GetValue(show)))
                    Console.WriteLine($"--- {document.Source}\n{document.Text}{(document.AppendEos ? "</s>" : "")}");
            var corpus = TokenCorpus.Build(documents, tokenizer);
            ConsoleReport.PrintCorpus(corpus);
            return 0;
        }));
        return command;
    }
}
