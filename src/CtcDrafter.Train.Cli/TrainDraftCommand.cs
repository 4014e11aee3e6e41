using System.CommandLine;
using CtcDrafter.Drafters;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Training;
using CtcDrafter.Training.Drafts;
using CtcDrafter.Training.Pretraining;
using TorchSharp;

namespace CtcDrafter.Train.Cli;

/// <summary><c>train-draft</c>: trains a ctc, eagle, eagle3, eagle3-ctc, medusa or ctc-nar draft on distilled data and exports a draft folder.</summary>
internal static class TrainDraftCommand
{
    public static Command Create()
    {
        var kind = new Option<string?>("--kind") { Description = "ctc, eagle, eagle3, eagle3-ctc, medusa or ctc-nar (a new run needs it)" };
        var baseFolder = new Option<string>("--base") { Description = "The base model folder the data was distilled from", Required = true };
        var data = new Option<string>("--data") { Description = "The distillation folder (ctcdrafter-train distill --out)", Required = true };
        var output = new Option<string>("--out") { Description = "The draft folder to write", Required = true };
        var run = new Option<string?>("--run") { Description = "The run folder for checkpoints (default: out/draft-runs/<base>-<out folder name>)" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run from its checkpoint (the other settings come from it)" };
        var steps = new Option<long?>("--steps") { Description = "Total optimizer steps (default: from --epochs)" };
        var epochs = new Option<double?>("--epochs") { Description = "Passes over the training samples (default 1)" };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => 1e-3 };
        var batch = new Option<int>("--batch") { Description = "Samples per step", DefaultValueFactory = _ => 8 };
        var ctcWeight = new Option<double>("--ctc-weight") { Description = "Weight of the CTC loss (ctc, eagle3-ctc)", DefaultValueFactory = _ => 0.01 };
        var blank = new Option<string>("--blank") { Description = "ctc blank: own (an extra output row) or unk (token 0, as the paper)", DefaultValueFactory = _ => "own" };
        var heads = new Option<int>("--medusa-heads") { Description = "Medusa heads", DefaultValueFactory = _ => 4 };
        var futureTokens = new Option<int>("--future-tokens") { Description = "ctc-nar: K, the tokens after the root its frames spell", DefaultValueFactory = _ => 4 };
        var testSteps = new Option<int>("--test-steps") { Description = "eagle3, eagle3-ctc: chain steps of the training-time test", DefaultValueFactory = _ => 7 };
        var testAnchors = new Option<int>("--test-anchors") { Description = "eagle3, eagle3-ctc: chains per sample that run the test's later steps", DefaultValueFactory = _ => 64 };
        var upsampling = new Option<int>("--upsampling") { Description = "ctc-nar: r, frames per token (r * K frames)", DefaultValueFactory = _ => 2 };
        var ctcWindows = new Option<int>("--ctc-windows") { Description = "ctc: CTC windows per batch; ctc-nar: root pairs per batch", DefaultValueFactory = _ => 512 };
        var noise = new Option<double>("--noise") { Description = "Input-feature noise amplitude factor (uniform, x 512 / length)", DefaultValueFactory = _ => 0.2 };
        var cosine = new Option<bool>("--cosine") { Description = "Cosine instead of linear decay after the warm-up" };
        var gradClip = new Option<double>("--grad-clip") { Description = "Gradient clipping by value (0: none)", DefaultValueFactory = _ => 0.5 };
        var maxLength = new Option<int>("--max-length") { Description = "Samples are cut to this many tokens", DefaultValueFactory = _ => 1024 };
        var evalInterval = new Option<int>("--eval-interval") { Description = "Held-out evaluation every N steps (0: at the end only)", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 1 };
        var checkpointMinutes = new Option<double>("--checkpoint-minutes") { DefaultValueFactory = _ => 5 };
        var init = new Option<string?>("--init") { Description = "Start from the tensors of this draft folder that the new network has (e.g. a ctc-nar draft from an eagle draft's fc and layer)" };
        var threads = ExportCommand.ThreadsOption();
        var dtype = ExportCommand.DTypeOption();
        var command = new Command("train-draft", "Train a ctc, eagle, eagle3, eagle3-ctc, medusa or ctc-nar draft module on distilled data and export it as a draft folder")
        {
            kind, baseFolder, data, output, run, resume, steps, epochs, lr, batch, ctcWeight, blank, heads, futureTokens, upsampling, testSteps, testAnchors, ctcWindows,
            noise, cosine, gradClip,
            maxLength, evalInterval, seed, checkpointMinutes, init, threads, dtype,
        };
        command.SetAction(parse => TrainCli.Guard(() =>
        {
            ExportCommand.SetThreads(parse.GetValue(threads));
            string outFolder = parse.GetValue(output)!, dataFolder = parse.GetValue(data)!;
            using var baseModel = LlamaModel.Load(parse.GetValue(baseFolder)!, new EngineOptions(WeightFormat.F32));
            string runFolder = parse.GetValue(run) ?? Path.Combine("out", "draft-runs",
                $"{Path.GetFileName(Path.GetFullPath(baseModel.Folder).TrimEnd('/'))}-{Path.GetFileName(Path.GetFullPath(outFolder).TrimEnd('/'))}");
            bool resuming = parse.GetValue(resume);
            if (resuming && parse.GetValue(init) is not null) throw new TrainingInputException("--init starts a new run; a resumed run continues from its checkpoint");
            if (resuming && !File.Exists(Checkpoint.PathIn(runFolder)))
                throw new TrainingInputException($"no checkpoint to resume from: {Checkpoint.PathIn(runFolder)} not found");
            if (!resuming && File.Exists(Checkpoint.PathIn(runFolder)))
                throw new TrainingInputException($"{runFolder} already holds a run: continue it with --resume, or pass another --run");
            DraftTrainConfig? config = resuming ? null : new DraftTrainConfig
            {
                Kind = ParseKind(parse.GetValue(kind)),
                Blank = ParseKind(parse.GetValue(kind)) switch
                {
                    DraftKind.Ctc => ParseBlank(parse.GetValue(blank)!),
                    DraftKind.CtcNar or DraftKind.Eagle3Ctc => BlankMode.Own,
                    _ => BlankMode.None,
                },
                MedusaHeads = parse.GetValue(heads), FutureTokens = parse.GetValue(futureTokens), Upsampling = parse.GetValue(upsampling),
                TestSteps = parse.GetValue(testSteps), TestAnchors = parse.GetValue(testAnchors),
                CtcWindows = parse.GetValue(ctcWindows), Steps = parse.GetValue(steps) ?? 0, Epochs = parse.GetValue(epochs) ?? 1.0,
                BatchSize = parse.GetValue(batch), LearningRate = parse.GetValue(lr), CtcWeight = parse.GetValue(ctcWeight),
                Noise = parse.GetValue(noise), Cosine = parse.GetValue(cosine), GradClip = parse.GetValue(gradClip),
                MaxLength = parse.GetValue(maxLength), EvalInterval = parse.GetValue(evalInterval), Seed = parse.GetValue(seed),
                CheckpointMinutes = parse.GetValue(checkpointMinutes), InitFrom = parse.GetValue(init),
            };
            config?.Validate();
            EnsureWritable(runFolder, runFolder);
            EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outFolder).TrimEnd('/'))!, outFolder);

            using var trainer = config is null
                ? DraftTrainer.Resume(runFolder, baseModel, dataFolder, parse.GetValue(steps), parse.GetValue(epochs))
                : DraftTrainer.Start(config, baseModel, dataFolder, runFolder);
            var c = trainer.State.Config;
            Console.WriteLine($"{(resuming ? "resuming" : "starting")} a {c.Kind.Name()} draft for {baseModel.Folder} in {runFolder}: " +
                $"{trainer.Network.parameters().Sum(p => p.numel()):N0} parameters, {trainer.TrainSamples} training / {trainer.HeldOutSamples} held-out samples, " +
                $"step {trainer.State.Step} of {trainer.State.TotalSteps}, {torch.get_num_threads()} threads");
            if (trainer.Initialized is var (taken, fresh))
                Console.WriteLine($"initialized from {c.InitFrom}: {taken.Count} tensors ({string.Join(", ", taken)}); fresh: {(fresh.Count == 0 ? "none" : string.Join(", ", fresh))}");
            bool finished = TrainCli.UntilCancelled(stop => TrainingProgress.Run(trainer.State.Step, trainer.State.TotalSteps,
                c.LogInterval, report => trainer.Run(report, stop)));
            if (!finished)
            {
                Console.WriteLine($"stopped at step {trainer.State.Step}; continue with --resume");
                return 130;
            }
            trainer.Export(outFolder, parse.GetValue(dtype));
            Console.WriteLine($"exported {Path.GetFullPath(outFolder)}");
            return 0;
        }));
        return command;
    }

    static DraftKind ParseKind(string? kind) => kind is null
        ? throw new TrainingInputException("a new run needs --kind ctc, eagle, eagle3, eagle3-ctc, medusa or ctc-nar")
        : DraftKinds.Parse(kind) is not { } k ? throw new TrainingInputException($"unknown --kind '{kind}' (ctc, eagle, eagle3, eagle3-ctc, medusa, ctc-nar)")
        : k;

    static BlankMode ParseBlank(string blank) => blank switch
    {
        "own" => BlankMode.Own,
        "unk" => BlankMode.Unk,
        _ => throw new TrainingInputException($"unknown --blank '{blank}' (own, unk)"),
    };

    /// <summary>Creates <paramref name="folder"/> and checks that files can be written there, naming <paramref name="target"/> if not.</summary>
    static void EnsureWritable(string folder, string target)
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
            throw new TrainingInputException($"cannot write to {Path.GetFullPath(target)}: {e.Message}");
        }
    }
}
