using System.CommandLine;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Pretraining;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Train.Cli;

/// <summary><c>corpus</c>: builds the tokenised corpus and prints its statistics.</summary>
internal static class CorpusCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var tokenizerPath = CommonOptions.Tokenizer();
        var configPath = new Option<string?>("--config") { Description = "Build the corpus with this pretraining config's mixture (default: the first corpus)" };
        var show = new Option<int>("--show") { Description = "Print the first N documents of every source", DefaultValueFactory = _ => 0 };
        var command = new Command("corpus", "Build the training corpus and print document and token counts per source")
        {
            data, tokenizerPath, configPath, show,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            var mixture = parse.GetValue(configPath) is { } path ? PretrainConfig.Load(path, []).CorpusMixture : CorpusMixture.Default;
            var documents = CorpusReader.ReadAll(parse.GetValue(data)!, mixture.Sources);
            var tokenizer = TextTokenizer.Load(parse.GetValue(tokenizerPath)!);
            foreach (var group in documents.GroupBy(d => d.Source))
                foreach (var document in group.Take(parse.GetValue(show)))
                    Console.WriteLine($"--- {document.Source}\n{document.Text}{(document.AppendEos ? "</s>" : "")}");
            var corpus = TokenCorpus.Build(documents, tokenizer, mixture);
            ConsoleReport.PrintCorpus(corpus);
            return 0;
        }));
        return command;
    }
}
