using System.CommandLine;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Train.Cli;

/// <summary><c>tokenizer</c>: trains the project's SentencePiece tokenizer on the corpus with spm_train.</summary>
internal static class TokenizerCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var output = new Option<string>("--out")
        {
            Description = "Where to write the tokenizer model",
            DefaultValueFactory = _ => TextTokenizer.DefaultPath,
        };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size", DefaultValueFactory = _ => 4096 };
        var command = new Command("tokenizer", "Train the SentencePiece BPE tokenizer (needs Debian's sentencepiece package)")
        {
            data, output, vocab,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            var documents = CorpusReader.ReadAll(parse.GetValue(data)!);
            Console.WriteLine($"training a {parse.GetValue(vocab)}-token tokenizer on {documents.Count} documents");
            SentencePieceTrainer.Train(documents, parse.GetValue(output)!, parse.GetValue(vocab), Console.WriteLine);
            var tokenizer = TextTokenizer.Load(parse.GetValue(output)!);
            Console.WriteLine($"wrote {tokenizer.Path} ({tokenizer.VocabSize} tokens)");
            return 0;
        }));
        return command;
    }
}
