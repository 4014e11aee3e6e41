using System.CommandLine;
using CtcDrafter.Training;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Pretraining;
using CtcDrafter.Training.Tokenizer;
using TorchSharp;

namespace CtcDrafter.Train.Cli;

/// <summary><c>export</c>: writes the latest checkpoint of a run as a Hugging Face model folder.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var run = new Option<string>("--run") { Description = "The run folder holding checkpoint.bin", Required = true };
        var output = new Option<string?>("--out") { Description = "Where to write the model folder (default: <run>/model)" };
        var data = CommonOptions.Data();
        var tokenizerPath = CommonOptions.Tokenizer();
        var threads = ThreadsOption();
        var dtype = DTypeOption();
        var carry = new Option<bool>("--carry")
        {
            Description = "Also write training_state.json, so that `pretrain --resume FOLDER --out RUN` continues the run on another machine",
        };
        var command = new Command("export", "Export a run's latest checkpoint as a Hugging Face LlamaForCausalLM folder")
        {
            run, output, data, tokenizerPath, threads, dtype, carry,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            SetThreads(parse.GetValue(threads));
            string folder = parse.GetValue(run)!;
            var (tokenizer, corpus) = LoadCorpus(parse.GetValue(data)!, parse.GetValue(tokenizerPath)!, Pretrainer.ReadConfig(folder).CorpusMixture);
            using var trainer = Pretrainer.Resume(folder, corpus, []);
            string destination = parse.GetValue(output) ?? Path.Combine(folder, "model");
            HuggingFaceExporter.Export(destination, trainer.Model, tokenizer, trainer.State, corpus.Statistics, parse.GetValue(dtype),
                parse.GetValue(carry));
            Console.WriteLine($"exported step {trainer.State.Step} to {Path.GetFullPath(destination)}");
            return 0;
        }));
        return command;
    }

    public static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "libtorch intra-op threads (default: all cores)",
        DefaultValueFactory = _ => Environment.ProcessorCount,
    };

    public static Option<ExportDType> DTypeOption() => new("--dtype")
    {
        Description = "Weight type of the exported model.safetensors: BFloat16 or Float32",
        DefaultValueFactory = _ => ExportDType.BFloat16,
    };

    public static void SetThreads(int threads)
    {
        if (threads <= 0) throw new TrainingInputException($"--threads must be positive (got {threads})");
        torch.set_num_threads(threads);
    }

    public static (TextTokenizer Tokenizer, TokenCorpus Corpus) LoadCorpus(string dataFolder, string tokenizerPath, CorpusMixture mixture)
    {
        var documents = CorpusReader.ReadAll(dataFolder, mixture.Sources);
        var tokenizer = TextTokenizer.Load(tokenizerPath);
        var corpus = TokenCorpus.Build(documents, tokenizer, mixture);
        ConsoleReport.PrintCorpus(corpus);
        return (tokenizer, corpus);
    }
}
