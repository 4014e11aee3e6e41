using System.CommandLine;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Training;
using CtcDrafter.Training.Distill;

namespace CtcDrafter.Train.Cli;

/// <summary><c>distill</c>: the base model answers the distillation prompts; answers and hidden states are stored.</summary>
internal static class DistillCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The base model folder (Hugging Face layout)", Required = true };
        var output = new Option<string>("--out") { Description = "The distillation folder (created; a rerun adds what is missing)", Required = true };
        var data = CommonOptions.Data();
        var perSource = new Option<int>("--per-source") { Description = "Prompts per source (sharegpt, gsm8k, guanaco, tinystories)", DefaultValueFactory = _ => 500 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most answer tokens per prompt", DefaultValueFactory = _ => 256 };
        var maxPrompt = new Option<int>("--max-prompt-tokens") { Description = "Longer prompts are skipped", DefaultValueFactory = _ => 512 };
        var seed = new Option<long>("--seed") { Description = "Seed of the order in which each source's prompts are taken", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "Engine worker threads (default: all cores)", DefaultValueFactory = _ => 0 };
        var shardMb = new Option<int>("--shard-mb") { Description = "Target shard size in MB", DefaultValueFactory = _ => 64 };
        var dtype = new Option<string>("--dtype")
        {
            Description = "Engine weight format, f32 or bf16 (for a model stored in bf16 both compute bit-identical data; bf16 reads half the bytes)",
            DefaultValueFactory = _ => "f32",
        };
        var command = new Command("distill", "Self-distillation data: the base model answers prompts (greedy, C# engine); tokens, loss masks and hidden states are stored")
        {
            model, output, data, perSource, maxNew, maxPrompt, seed, threads, shardMb, dtype,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            if (parse.GetValue(perSource) <= 0) throw new TrainingInputException($"--per-source must be positive (got {parse.GetValue(perSource)})");
            if (parse.GetValue(shardMb) <= 0) throw new TrainingInputException($"--shard-mb must be positive (got {parse.GetValue(shardMb)})");
            if (parse.GetValue(threads) < 0) throw new TrainingInputException($"--threads must not be negative (got {parse.GetValue(threads)})");
            WeightFormat format = parse.GetValue(dtype)!.ToLowerInvariant() switch
            {
                "f32" => WeightFormat.F32,
                "bf16" => WeightFormat.BF16,
                string other => throw new TrainingInputException($"--dtype must be f32 or bf16 (got '{other}')"),
            };
            var prompts = DistillPrompts.ReadAll(parse.GetValue(data)!);
            using var baseModel = LlamaModel.Load(parse.GetValue(model)!, new EngineOptions(format, parse.GetValue(threads)));
            var distiller = new Distiller(baseModel, parse.GetValue(maxNew), parse.GetValue(maxPrompt));
            var store = DistillStore.OpenForWriting(parse.GetValue(output)!, distiller.Header);
            var plan = DistillPrompts.Plan(prompts, parse.GetValue(perSource), parse.GetValue(seed), distiller.Fits);
            foreach (string source in DistillPrompts.Sources)
                Console.WriteLine($"{source}: {plan.Count(p => p.Source == source)} prompts of {prompts[source].Count} " +
                    $"({plan.Count(p => p.Source == source && store.Contains(p.Id))} already stored)");
            Console.WriteLine($"distilling {baseModel.Folder} into {Path.GetFullPath(parse.GetValue(output)!)}: " +
                $"{plan.Count} samples, at most {distiller.Header.MaxNewTokens} new tokens each");

            bool finished = TrainCli.UntilCancelled(stop => TrainingProgress.Run(0, plan.Count, 10,
                report => distiller.Run(plan, store, parse.GetValue(shardMb) * (1L << 20), flushMinutes: 5, report, stop)));
            Console.WriteLine($"{store.StoredSamples} samples stored in {Path.GetFullPath(parse.GetValue(output)!)}");
            if (finished) return 0;
            Console.WriteLine("stopped; run the same command again to continue");
            return 130;
        }));
        return command;
    }
}
