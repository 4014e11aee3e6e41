using System.CommandLine;
using CtcDrafter.Training;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Pretraining;
using CtcDrafter.Training.Tokenizer;
using TorchSharp;

namespace CtcDrafter.Train.Cli;

/// <summary><c>pretrain</c>: trains a base model from a JSON config (or resumes a run) and exports it.</summary>
internal static class PretrainCommand
{
    public static Command Create()
    {
        var configPath = new Option<string?>("--config") { Description = "The run's JSON config (see configs/)" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run in this folder from its checkpoint, or the run a model folder carries (export --carry) in the --out folder",
        };
        var output = new Option<string?>("--out") { Description = "The run folder (default: out/runs/<config name>)" };
        var data = CommonOptions.Data();
        var tokenizerPath = CommonOptions.Tokenizer();
        var overrides = new Option<string[]>("--set")
        {
            Description = "Override a config field, e.g. --set batch_size=8 --set model.num_hidden_layers=4",
            DefaultValueFactory = _ => [],
        };
        var steps = new Option<long?>("--steps") { Description = "Shorthand for --set steps=N" };
        var epochs = new Option<double?>("--epochs") { Description = "Shorthand for --set steps=0 --set epochs=X" };
        var threads = ExportCommand.ThreadsOption();
        var export = new Option<string?>("--export") { Description = "Where to write the model folder (default: <run>/model)" };
        var dtype = ExportCommand.DTypeOption();
        var init = new Option<string?>("--init")
        {
            Description = "Start a new run from the weights of this model folder (same shape as the config's model) instead of a random initialisation",
        };

        var command = new Command("pretrain", "Pretrain a LLaMA base model on the corpus, with checkpoints, and export it")
        {
            configPath, resume, output, data, tokenizerPath, overrides, steps, epochs, threads, export, dtype, init,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            var sets = parse.GetValue(overrides)!.ToList();
            if (parse.GetValue(steps) is { } n) sets.Add($"steps={n}");
            if (parse.GetValue(epochs) is { } x) sets.AddRange(["steps=0", $"epochs={x}"]);
            string? resumeFolder = parse.GetValue(resume);
            string? configFile = parse.GetValue(configPath);
            if ((resumeFolder is null) == (configFile is null))
                throw new TrainingInputException("pass either --config FILE (a new run) or --resume DIR (continue a run)");
            string? carried = resumeFolder is not null && !File.Exists(Checkpoint.PathIn(resumeFolder)) && CarriedRun.IsIn(resumeFolder)
                ? resumeFolder : null;
            if (carried is not null && parse.GetValue(output) is null)
                throw new TrainingInputException($"{carried} carries a run: pass --out DIR, the run folder to continue it in");
            string run = (carried is null ? resumeFolder : null) ?? parse.GetValue(output)
                ?? Path.Combine("out", "runs", Path.GetFileNameWithoutExtension(configFile!));
            var config = configFile is null ? null : PretrainConfig.Load(configFile, sets);

            if (resumeFolder is not null && carried is null && !File.Exists(Checkpoint.PathIn(run)))
                throw new TrainingInputException($"no checkpoint to resume from: {Checkpoint.PathIn(run)} not found");
            ExportCommand.SetThreads(parse.GetValue(threads));
            bool newFolder = !Directory.Exists(run);
            EnsureWritable(run);
            try
            {
                return Train(parse, config, run, carried, sets);
            }
            catch when (newFolder && Directory.Exists(run) && !Directory.EnumerateFileSystemEntries(run).Any())
            {
                Directory.Delete(run); // a start that failed before its first checkpoint leaves nothing behind
                throw;
            }
        }));
        return command;

        int Train(ParseResult parse, PretrainConfig? config, string run, string? carried, List<string> sets)
        {
            if ((config is not null || carried is not null) && File.Exists(Checkpoint.PathIn(run)))
                throw new TrainingInputException($"{run} already holds a run: continue it with --resume {run}, or pass another --out");

            string? initFrom = parse.GetValue(init);
            if (initFrom is not null && config is null)
                throw new TrainingInputException("--init starts a new run: it goes with --config, not --resume");
            var mixture = (config ?? (carried is null ? Pretrainer.ReadConfig(run) : CarriedRun.ReadState(carried).Config)).CorpusMixture;
            var (tokenizer, corpus) = ExportCommand.LoadCorpus(parse.GetValue(data)!, parse.GetValue(tokenizerPath)!, mixture);
            if (config is not null) CheckVocabulary(config, tokenizer);
            using var trainer = config is not null ? Pretrainer.Start(config, corpus, run, initFrom)
                : carried is not null ? Pretrainer.ResumeCarried(carried, run, corpus, sets)
                : Pretrainer.Resume(run, corpus, sets);
            CheckVocabulary(trainer.State.Config, tokenizer);
            var model = trainer.State.Config.Model;
            Console.WriteLine($"{(config is null ? "resuming" : "starting")} {run}: {model.ParameterCount:N0} parameters, " +
                $"step {trainer.State.Step} of {trainer.State.TotalSteps}, {trainer.SequencesPerEpoch:N0} sequences per epoch, " +
                $"{torch.get_num_threads()} threads");

            bool finished = TrainCli.UntilCancelled(stop => TrainingProgress.Run(trainer.State.Step, trainer.State.TotalSteps,
                trainer.State.Config.LogInterval, report => trainer.Run(report, stop)));
            if (!finished)
            {
                Console.WriteLine($"stopped at step {trainer.State.Step}; continue with --resume {run}");
                return 130;
            }
            string destination = parse.GetValue(export) ?? Path.Combine(run, "model");
            HuggingFaceExporter.Export(destination, trainer.Model, tokenizer, trainer.State, corpus.Statistics, parse.GetValue(dtype));
            Console.WriteLine($"exported {Path.GetFullPath(destination)}");
            return 0;
        }
    }

    static void CheckVocabulary(PretrainConfig config, TextTokenizer tokenizer)
    {
        if (config.Model.VocabSize != tokenizer.VocabSize)
            throw new TrainingInputException(
                $"model.vocab_size is {config.Model.VocabSize} but the tokenizer {tokenizer.Path} has {tokenizer.VocabSize} tokens");
    }

    static void EnsureWritable(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write to the run folder {Path.GetFullPath(folder)}: {e.Message}");
        }
    }
}
