using System.CommandLine;
using CtcDrafter.Training;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Pretraining;

namespace CtcDrafter.Train.Cli;

/// <summary>
/// <c>evaluate</c>: the held-out loss per source of any model folder on the held-out split of a pretraining config's
/// corpus, measured as a run measures it, so that two models (an old and a new version) compare on the same tokens.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The model folder (LlamaForCausalLM safetensors)", Required = true };
        var configPath = new Option<string>("--config")
        {
            Description = "The pretraining config whose corpus mixture, seq_len, batch_size, seed and eval_sequences to use", Required = true,
        };
        var data = CommonOptions.Data();
        var tokenizerPath = CommonOptions.Tokenizer();
        var threads = ExportCommand.ThreadsOption();
        var command = new Command("evaluate", "Held-out loss per source of a model folder on a config's corpus")
        {
            model, configPath, data, tokenizerPath, threads,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            ExportCommand.SetThreads(parse.GetValue(threads));
            var config = PretrainConfig.Load(parse.GetValue(configPath)!, []);
            var (_, corpus) = ExportCommand.LoadCorpus(parse.GetValue(data)!, parse.GetValue(tokenizerPath)!, config.CorpusMixture);
            var evaluation = new HeldOutEvaluation(corpus, config);
            using var network = HuggingFaceLoader.Load(parse.GetValue(model)!);
            if (network.Config.VocabSize != config.Model.VocabSize)
                throw new TrainingInputException(
                    $"{parse.GetValue(model)}: vocabulary {network.Config.VocabSize} does not match the config's {config.Model.VocabSize}");
            var point = evaluation.Evaluate(network, 0);
            Console.WriteLine("held-out loss per source (perplexity):");
            foreach (var (source, loss) in point.Sources!.Append(new("all", point.Loss)))
                Console.WriteLine($"  {source,-14} {loss:F4} ({Math.Exp(loss):F2})");
            return 0;
        }));
        return command;
    }
}
