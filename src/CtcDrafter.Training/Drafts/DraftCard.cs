using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Training.Distill;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// A trained draft's summary: the <c>training</c> object of its config.json (data size, steps, wall time, held-out
/// per-depth accuracy) and DRAFT_CARD.md, which shows the same in words.
/// </summary>
internal static class DraftCard
{
    public static JsonObject Summary(DraftTrainer trainer, string dataName, List<DistillSample> samples, ScoreTemperatureFit fit)
    {
        var state = trainer.State;
        var config = state.Config;
        var last = state.Evaluations.LastOrDefault();
        var recent = state.TrainLosses.TakeLast(Math.Min(50, state.TrainLosses.Count)).ToList();
        JsonArray Round(double[] values) => new([.. values.Select(v => JsonValue.Create(Math.Round(v, 4)))]);
        return new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["folder"] = dataName,
                ["samples"] = samples.Count,
                ["train_samples"] = trainer.TrainSamples,
                ["held_out_samples"] = trainer.HeldOutSamples,
                ["tokens"] = samples.Sum(s => (long)s.Length),
                ["answer_tokens"] = samples.Sum(s => (long)s.AnswerTokens),
                ["sources"] = new JsonObject(samples.GroupBy(s => s.Source).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Count()))),
            },
            ["steps"] = state.Step,
            ["epochs"] = Math.Round((double)state.Step * config.BatchSize / trainer.TrainSamples, 3),
            ["batch_size"] = config.BatchSize,
            ["learning_rate"] = config.LearningRate,
            ["schedule"] = config.Cosine ? "cosine" : "linear",
            ["grad_clip_value"] = config.GradClip,
            ["init_from"] = config.InitFrom is null ? null : Path.GetFileName(Path.GetFullPath(config.InitFrom).TrimEnd('/')),
            ["kind"] = config.Kind.Name(),
            ["future_tokens"] = config.Kind == DraftKind.CtcNar ? config.FutureTokens : null,
            ["upsampling"] = config.Kind == DraftKind.CtcNar ? config.Upsampling : null,
            ["test_steps"] = config.Kind.IsEagle3() ? config.TestSteps : null,
            ["test_anchors"] = config.Kind.IsEagle3() ? config.TestAnchors : null,
            ["ctc_weight"] = config.Kind is DraftKind.Ctc or DraftKind.Eagle3Ctc ? config.CtcWeight : 0,
            ["noise"] = config.Kind is DraftKind.Medusa || config.Kind.IsEagle3() ? 0 : config.Noise,
            ["pairs_seen"] = state.PairsSeen,
            ["wall_seconds"] = Math.Round(state.ElapsedSeconds, 1),
            ["threads"] = TorchSharp.torch.get_num_threads(),
            ["train_loss"] = recent.Count == 0 ? null : Math.Round(recent.Average(), 4),
            ["score_temperature"] = !double.IsFinite(fit.HeldOutNll) ? null : new JsonObject
            {
                ["fitted"] = fit.Temperature,
                ["nll_at_1"] = Math.Round(fit.NllAtOne, 4),
                ["nll_at_fitted"] = Math.Round(fit.HeldOutNll, 4),
            },
            ["held_out"] = last is null ? null : new JsonObject
            {
                ["step"] = last.Step,
                ["loss"] = Math.Round(last.Loss, 4),
                ["accuracy"] = Round(last.Accuracy),
                ["prefix_accuracy"] = Round(last.PrefixAccuracy),
                ["anchors"] = last.Anchors,
            },
        };
    }

    public static string Render(string name, string baseFolder, JsonObject summary)
    {
        var data = summary["data"]!.AsObject();
        var heldOut = summary["held_out"] as JsonObject;
        var card = new StringBuilder();
        card.AppendLine($"# {name}").AppendLine();
        card.AppendLine($"A draft module for the base model `{Path.GetFileName(Path.GetFullPath(baseFolder).TrimEnd('/'))}`, trained by " +
            "`ctcdrafter-train train-draft` (TorchSharp, float32 on CPU) on the base model's own greedy answers " +
            "(`ctcdrafter-train distill`). The base model's embedding and LM head are used frozen and are not stored here; " +
            "config.json binds the draft to that base model.").AppendLine();
        card.AppendLine("## Training").AppendLine();
        card.AppendLine("| field | value |").AppendLine("|---|---|");
        long Long(JsonNode? n) => long.Parse(n!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
        card.AppendLine($"| data | {data["folder"]}: {Long(data["samples"]):N0} samples ({Long(data["train_samples"]):N0} training, " +
            $"{Long(data["held_out_samples"]):N0} held out), {Long(data["tokens"]):N0} tokens of which {Long(data["answer_tokens"]):N0} answer tokens |");
        card.AppendLine($"| sources | {string.Join(", ", data["sources"]!.AsObject().Select(kv => $"{kv.Key} {kv.Value}"))} |");
        card.AppendLine($"| steps | {Long(summary["steps"]):N0} of batch {summary["batch_size"]} ({summary["epochs"]} epochs, " +
            $"{Long(summary["pairs_seen"]):N0} answer positions) |");
        card.AppendLine($"| optimiser | AdamW (0.9, 0.95), peak learning rate {summary["learning_rate"]}, warm-up then {summary["schedule"]} decay, gradient clipping by value {summary["grad_clip_value"]} |");
        if (summary["init_from"] is JsonNode init) card.AppendLine($"| initial weights | the matching tensors of draft {init}, the others fresh |");
        card.AppendLine(summary["kind"]!.GetValue<string>() switch
        {
            "medusa" => "| loss | cross-entropy of each head against the base model's greedy token, averaged over the heads |",
            "ctc-nar" => $"| loss | CTC of the {summary["upsampling"]} x {summary["future_tokens"]} frames against the base model's next " +
                $"{summary["future_tokens"]} greedy tokens after the root; input-feature noise {summary["noise"]} |",
            "eagle3" => $"| loss | training-time test over {summary["test_steps"]} chain steps (step 1 from every answer pair, the later ones from " +
                $"{summary["test_anchors"]} random pairs per sample): soft cross-entropy against the base model's distribution at each step's " +
                "position, step s weighted 0.8^(s-1); no feature loss, no noise |",
            "eagle3-ctc" => $"| loss | training-time test over {summary["test_steps"]} chain steps (step 1 from every answer pair, the later ones from " +
                $"{summary["test_anchors"]} random pairs per sample): soft cross-entropy against the base model's distribution at each step's " +
                $"position, step s weighted 0.8^(s-1), + {summary["ctc_weight"]} CTC of each chain's first 6 steps " +
                "against the base model's next 3 greedy tokens; no feature loss, no noise |",
            _ => $"| loss | 1.0 SmoothL1(feature) + 0.1 soft cross-entropy + {summary["ctc_weight"]} CTC; input-feature noise {summary["noise"]} |",
        });
        card.AppendLine($"| wall time | {TimeSpan.FromSeconds(summary["wall_seconds"]!.GetValue<double>()):hh\\:mm\\:ss} on {summary["threads"]} libtorch threads |");
        card.AppendLine($"| final training loss | {summary["train_loss"]} (mean of the last 50 steps) |");
        if (summary["score_temperature"] is JsonObject fit)
            card.AppendLine($"| score temperature | {fit["fitted"]}: the held-out negative log-likelihood of the base model's greedy tokens " +
                $"under the scores the drafter grows its trees with, {fit["nll_at_1"]} at 1 and {fit["nll_at_fitted"]} at the fit " +
                "(the least of 0.05 to 3) |");
        if (heldOut is not null)
        {
            card.AppendLine($"| held-out loss | {heldOut["loss"]} (step {heldOut["step"]}) |").AppendLine();
            card.AppendLine("## Held-out agreement with the base model's greedy tokens").AppendLine();
            string how = summary["kind"]!.GetValue<string>() switch
            {
                "medusa" => "Depth d is head d - 1, fed the base model's hidden state at the start.",
                "ctc-nar" => "All depths come from one pass: the frames' best path (each frame's most likely symbol, runs merged, " +
                    "blanks dropped), so the prefix row is the exact match of the first d tokens.",
                "eagle3" or "eagle3-ctc" => "Depth 1 is teacher-forced (from the base's layer states); deeper ones feed the draft's own output and token " +
                    "back, as the engine drafts (a blank is never fed back: the chain continues with the most likely real token).",
                "ctc" => "Depth 1 is teacher-forced; deeper ones follow the draft's own chain, as the engine drafts. A depth's token is " +
                    "the most likely one other than the blank (what the chain continues with).",
                _ => "Depth 1 is teacher-forced; deeper ones follow the draft's own chain, as the engine drafts.",
            };
            card.AppendLine($"From {heldOut["anchors"]} starts in held-out answers: at depth d, the fraction whose top-1 draft token " +
                "is the base model's greedy token there; the prefix row needs depths 1..d all right, which is what accepting " +
                $"d tokens of a single chain needs. {how}").AppendLine();
            var accuracy = heldOut["accuracy"]!.AsArray();
            card.AppendLine("| depth | " + string.Join(" | ", Enumerable.Range(1, accuracy.Count)) + " |");
            card.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", accuracy.Count)));
            card.AppendLine("| top-1 accuracy | " + string.Join(" | ", accuracy.Select(a => $"{a!.GetValue<double>():P1}")) + " |");
            card.AppendLine("| prefix accuracy | " + string.Join(" | ", heldOut["prefix_accuracy"]!.AsArray().Select(a => $"{a!.GetValue<double>():P1}")) + " |");
        }
        return card.ToString();
    }
}
