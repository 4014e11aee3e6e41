using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using Generator = CtcDrafter.Generation.Generator;
using CtcDrafter.Sampling;
using CtcDrafter.Training.Distill;
using CtcDrafter.Training.Drafts;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

public class DraftTrainingTests(DistillFixture run) : IClassFixture<DistillFixture>
{
    [Theory]
    [InlineData("ctc", "own")]
    [InlineData("ctc", "unk")]
    [InlineData("eagle", "own")]
    [InlineData("eagle3", "own")]
    [InlineData("eagle3-ctc", "own")]
    [InlineData("medusa", "own")]
    [InlineData("ctc-nar", "own")]
    public void EachKindTrainsExportsAndDraftsLosslessly(string kind, string blank)
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        string draft = run[$"draft-{kind}-{blank}"];
        var result = CliRunner.Run("train-draft", "--kind", kind, "--blank", blank, "--base", run.Base, "--data", run.Distilled,
            "--out", draft, "--run", run[$"run-{kind}-{blank}"], "--steps", "3", "--batch", "4", "--threads", "1");
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("held-out loss", result.Out);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(draft, "config.json")))!;
        Assert.Equal(kind, config["draft_kind"]!.GetValue<string>());
        Assert.Equal(kind.StartsWith("ctc", StringComparison.Ordinal) || kind == "eagle3-ctc" ? blank : "none", config["blank"]!.GetValue<string>());
        var training = config["training"]!;
        Assert.Equal(3, training["steps"]!.GetValue<int>());
        Assert.Equal(DistillStore.Read(run.Distilled).Samples.Count, training["data"]!["samples"]!.GetValue<int>());
        Assert.Equal(kind is "medusa" or "ctc-nar" ? 4 : 5, training["held_out"]!["accuracy"]!.AsArray().Count); // 4 heads, K = 4
        Assert.Contains("| top-1 accuracy |", File.ReadAllText(Path.Combine(draft, DraftExporter.CardFile)));
        // The score temperature is fitted on the held-out split: the grid's least negative log-likelihood, stored for the drafter.
        var fit = training["score_temperature"]!;
        Assert.Equal(fit["fitted"]!.GetValue<double>(), config["score_temperature"]!.GetValue<double>(), 1e-6);
        Assert.InRange(fit["fitted"]!.GetValue<double>(), 0.05, 3);
        Assert.True(fit["nll_at_fitted"]!.GetValue<double>() <= fit["nll_at_1"]!.GetValue<double>());
        Assert.Contains("| score temperature |", File.ReadAllText(Path.Combine(draft, DraftExporter.CardFile)));

        using var model = TinyBase.Load(run.Base);
        var (_, samples) = DistillStore.Read(run.Distilled);
        foreach (var sample in samples.Take(3))
        {
            var request = new GenerationRequest(sample.Tokens[..sample.PromptTokens], 40, SamplingOptions.Greedy);
            var plain = new Generator(model).Generate(request);
            var speculative = new Generator(model, DrafterFactory.Create(kind, model, draft), maxTreeNodes: 6).Generate(request);
            Assert.Equal(plain.Tokens, speculative.Tokens);
            Assert.Equal(kind, speculative.Stats.Method);
        }
    }

    /// <summary>
    /// --init: a ctc-nar network starts from an eagle draft's fc and layer (bitwise the eagle's tensors), its frame
    /// embeddings and blank row fresh; a draft with no matching tensor, or of another base, is refused by name.
    /// </summary>
    [Fact]
    public void ANewRunStartsFromAnotherDraftsMatchingTensors()
    {
        Assert.True(run.Result.Exit == 0, run.Result.Error);
        string eagle = run["init-eagle"], medusa = run["init-medusa"];
        foreach (var (kind, folder) in new[] { ("eagle", eagle), ("medusa", medusa) })
        {
            var trained = CliRunner.Run("train-draft", "--kind", kind, "--base", run.Base, "--data", run.Distilled, "--out", folder,
                "--run", run[$"init-run-{kind}"], "--steps", "2", "--batch", "4", "--threads", "1");
            Assert.True(trained.Exit == 0, trained.Error);
        }
        using var model = TinyBase.Load(run.Base);
        DraftTrainer Start(DraftKind kind, string from) => DraftTrainer.Start(
            new DraftTrainConfig { Kind = kind, Blank = kind == DraftKind.CtcNar ? BlankMode.Own : BlankMode.None, Steps = 1, InitFrom = from },
            model, run.Distilled, run[$"init-{kind}-{Guid.NewGuid():N}"]);
        using DraftTrainer same = Start(DraftKind.Eagle, eagle), nar = Start(DraftKind.CtcNar, eagle);
        Assert.Empty(same.Initialized!.Value.Fresh);
        var (taken, fresh) = nar.Initialized!.Value;
        Assert.Contains("fc.weight", taken);
        Assert.Contains("frame_embeddings.weight", fresh);
        var eagleTensors = same.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in nar.Network.named_parameters().Where(p => taken.Contains(p.name)))
            Assert.True(p.eq(eagleTensors[name]).all().item<bool>(), $"{name} is not the eagle draft's");

        var cli = CliRunner.Run("train-draft", "--kind", "ctc-nar", "--base", run.Base, "--data", run.Distilled, "--out", run["init-nar"],
            "--run", run["init-run-nar"], "--steps", "1", "--batch", "4", "--threads", "1", "--init", eagle);
        Assert.True(cli.Exit == 0, cli.Error);
        Assert.Contains("initialized from", cli.Out);
        Assert.Contains("| initial weights | the matching tensors of draft init-eagle", File.ReadAllText(Path.Combine(run["init-nar"], DraftExporter.CardFile)));
        Assert.Contains("none of its tensors", Assert.Throws<TrainingInputException>(() => Start(DraftKind.CtcNar, medusa).Dispose()).Message);
        string foreign = run["init-foreign"]; // the eagle draft, bound to another base
        Directory.CreateDirectory(foreign);
        foreach (string f in Directory.GetFiles(eagle)) File.Copy(f, Path.Combine(foreign, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(foreign, "config.json")))!;
        config["base_model"]!["config_hash"] = "0000000000000000";
        File.WriteAllText(Path.Combine(foreign, "config.json"), config.ToJsonString());
        Assert.Contains("this draft was trained for base model", Assert.Throws<TrainingInputException>(() => Start(DraftKind.CtcNar, foreign).Dispose()).Message);
        DistillTests.AssertBadInput(CliRunner.Run("train-draft", "--kind", "ctc-nar", "--base", run.Base, "--data", run.Distilled, "--out", run["init-bad"],
            "--run", run["init-run-bad"], "--steps", "1", "--init", run["no-such-draft"]), "--init");
    }

    [Fact]
    public void AResumedRunContinuesExactly()
    {
        using var model = TinyBase.Load(run.Base);
        var config = new DraftTrainConfig { Kind = DraftKind.Ctc, Steps = 4, BatchSize = 3, EvalAnchors = 4 };
        List<double> straight;
        using (var trainer = DraftTrainer.Start(config, model, run.Distilled, run["straight"]))
        {
            Assert.True(trainer.Run(_ => { }));
            straight = trainer.State.TrainLosses;
        }
        using (var trainer = DraftTrainer.Start(config, model, run.Distilled, run["interrupted"]))
        {
            using var stop = new CancellationTokenSource();
            Assert.False(trainer.Run(e => { if (e is Pretraining.StepCompleted { Step: 2 }) stop.Cancel(); }, stop.Token));
        }
        using (var trainer = DraftTrainer.Resume(run["interrupted"], model, run.Distilled, null, null))
        {
            Assert.Equal(2, trainer.State.Step);
            Assert.True(trainer.Run(_ => { }));
            Assert.Equal(4, straight.Count);
            Assert.Equal(straight, trainer.State.TrainLosses);
        }
    }

    [Fact]
    public void TheCtcTermIsFiniteAndDecreasesOnAToyBatch()
    {
        using var model = TinyBase.Load(run.Base);
        using var frozen = FrozenBase.From(model);
        manual_seed(3);
        using var network = new FeatureChainDraft(FeatureChainDraft.LayerConfig(model.Config), frozen, DraftKind.Ctc, BlankMode.Own);
        var (_, samples) = DistillStore.Read(run.Distilled);
        using var batch = DraftBatch.From(samples.Take(4).ToList(), frozen, 1024, 2);
        using var optimizer = optim.Adam(network.parameters(), lr: 3e-3);
        var losses = new List<float>();
        for (int step = 0; step < 25; step++)
        {
            optimizer.zero_grad();
            using var scope = NewDisposeScope();
            var features = network.Features(batch.Tokens, batch.Features).reshape(-1, model.Config.HiddenSize);
            var logProbs = network.Logits(features.index_select(0, tensor(batch.Counted))).log_softmax(-1);
            var ctc = network.Ctc(batch, logProbs, maxWindows: 64, random: null)!;
            losses.Add(ctc.item<float>());
            ctc.backward();
            optimizer.step();
        }
        Assert.All(losses, l => Assert.True(float.IsFinite(l) && l > 0));
        Assert.True(losses[^1] < 0.5 * losses[0], $"CTC loss went from {losses[0]} to {losses[^1]}");
    }

    [Fact]
    public void TheCtcNarLossIsFiniteAndDecreasesOnAToyBatch()
    {
        using var model = TinyBase.Load(run.Base);
        using var frozen = FrozenBase.From(model);
        manual_seed(3);
        using var network = new CtcNarDraft(FeatureChainDraft.LayerConfig(model.Config), frozen, futureTokens: 3, upsampling: 2);
        var (_, samples) = DistillStore.Read(run.Distilled);
        using var batch = DraftBatch.From(samples.Take(4).ToList(), frozen, 1024, 2);
        using var optimizer = optim.Adam(network.parameters(), lr: 3e-3);
        var settings = new DraftLossSettings(0, 0, CtcWindows: 64);
        var losses = new List<float>();
        for (int step = 0; step < 25; step++)
        {
            optimizer.zero_grad();
            using var scope = NewDisposeScope();
            var (loss, parts) = network.Loss(batch, settings, random: null);
            Assert.Equal(loss.item<float>(), parts["ctc"], 1e-6);
            losses.Add(loss.item<float>());
            loss.backward();
            optimizer.step();
        }
        Assert.All(losses, l => Assert.True(float.IsFinite(l) && l > 0));
        Assert.True(losses[^1] < 0.5 * losses[0], $"CTC loss went from {losses[0]} to {losses[^1]}");
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        string[] Args(string data, string output, params string[] extra) =>
            ["train-draft", "--kind", "eagle", "--base", run.Base, "--data", data, "--out", output, "--run", run[$"bad-{Guid.NewGuid():N}"], "--steps", "1", .. extra];
        DistillTests.AssertBadInput(CliRunner.Run(Args(run["no-distill"], run["d1"])), "distillation folder not found");
        Directory.CreateDirectory(run["empty-distill"]);
        DistillTests.AssertBadInput(CliRunner.Run(Args(run["empty-distill"], run["d2"])), "index.json: not found");
        string other = TinyBase.Write(run["other-base-train"], seed: 5);
        DistillTests.AssertBadInput(CliRunner.Run([.. Args(run.Distilled, run["d3"]).Select(a => a == run.Base ? other : a)]),
            "the data was distilled from base model");
        string blocker = run["blocker-train"];
        File.WriteAllText(blocker, "");
        DistillTests.AssertBadInput(CliRunner.Run(Args(run.Distilled, Path.Combine(blocker, "draft"))), "cannot write to");
        DistillTests.AssertBadInput(CliRunner.Run(Args(run.Distilled, run["d4"], "--resume")), "no checkpoint to resume from");
        DistillTests.AssertBadInput(CliRunner.Run([.. Args(run.Distilled, run["d5"]).Select(a => a == "eagle" ? "lstm" : a)]), "unknown --kind 'lstm'");
        DistillTests.AssertBadInput(CliRunner.Run(Args(run.Distilled, run["d6"], "--batch", "0")), "--batch must be positive");
        DistillTests.AssertBadInput(CliRunner.Run([.. Args(run.Distilled, run["d7"], "--future-tokens", "0").Select(a => a == "eagle" ? "ctc-nar" : a)]),
            "--future-tokens and --upsampling must be at least 1");
        DistillTests.AssertBadInput(CliRunner.Run([.. Args(run.Distilled, run["d8"], "--upsampling", "17").Select(a => a == "eagle" ? "ctc-nar" : a)]),
            "with at most 64 frames (got 4 x 17)");
        Assert.False(Directory.Exists(run["d1"]) || Directory.Exists(run["d3"]) || Directory.Exists(run["d6"]) || Directory.Exists(run["d7"]));
    }
}
