using System.Text.Json.Serialization;
using CtcDrafter.Drafters;

namespace CtcDrafter.Training.Drafts;

/// <summary>A draft-training run's settings (kept in its checkpoint; snake_case names).</summary>
internal sealed record DraftTrainConfig
{
    [JsonPropertyName("kind"), JsonConverter(typeof(JsonStringEnumConverter<DraftKind>))] public DraftKind Kind { get; init; }
    /// <summary>ctc: the blank's representation, its own output row (default) or token 0 as in the paper.</summary>
    [JsonPropertyName("blank"), JsonConverter(typeof(JsonStringEnumConverter<BlankMode>))] public BlankMode Blank { get; init; } = BlankMode.Own;
    [JsonPropertyName("medusa_heads")] public int MedusaHeads { get; init; } = 4;
    /// <summary>ctc-nar: K, the tokens after the root the frames spell.</summary>
    [JsonPropertyName("future_tokens")] public int FutureTokens { get; init; } = 4;
    /// <summary>ctc-nar: r, frames per token (F = r * K frames).</summary>
    [JsonPropertyName("upsampling")] public int Upsampling { get; init; } = 2;
    /// <summary>eagle3, eagle3-ctc: chain steps of the training-time test (EAGLE-3 trains 7).</summary>
    [JsonPropertyName("test_steps")] public int TestSteps { get; init; } = 7;
    /// <summary>eagle3, eagle3-ctc: chains per sample that run the test's later steps, drawn from its answer pairs.</summary>
    [JsonPropertyName("test_anchors")] public int TestAnchors { get; init; } = 64;
    /// <summary>Total optimizer steps; 0 derives them from <see cref="Epochs"/>.</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; }
    [JsonPropertyName("epochs")] public double Epochs { get; init; } = 1.0;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 8;
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 1e-3;
    [JsonPropertyName("min_learning_rate")] public double MinLearningRate { get; init; }
    /// <summary>Linear warm-up over this fraction of the steps, then decay to the minimum.</summary>
    [JsonPropertyName("warmup_fraction")] public double WarmupFraction { get; init; } = 0.05;
    [JsonPropertyName("cosine")] public bool Cosine { get; init; }
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.95;
    /// <summary>Gradient clipping by value (the paper's 0.5); 0 for none.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 0.5;
    [JsonPropertyName("ctc_weight")] public double CtcWeight { get; init; } = 0.01;
    [JsonPropertyName("noise")] public double Noise { get; init; } = 0.2;
    /// <summary>ctc: CTC windows per batch; ctc-nar: root pairs per batch whose frames are trained.</summary>
    [JsonPropertyName("ctc_windows")] public int CtcWindows { get; init; } = 512;
    /// <summary>Samples are cut to their first this many tokens.</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; } = 1024;
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1;
    /// <summary>Held-out evaluation every this many steps (and at the end); 0 only at the end.</summary>
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; }
    /// <summary>Chain start positions evaluated per held-out sample (evenly spread over its answer).</summary>
    [JsonPropertyName("eval_anchors")] public int EvalAnchors { get; init; } = 32;
    [JsonPropertyName("depth")] public int Depth { get; init; } = 5;
    [JsonPropertyName("log_interval")] public int LogInterval { get; init; } = 10;
    [JsonPropertyName("checkpoint_minutes")] public double CheckpointMinutes { get; init; } = 5;
    /// <summary>The draft folder whose matching tensors started the network (<see cref="DraftInitialization"/>), if any.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }

    public DraftLossSettings LossSettings => new(Kind is DraftKind.Ctc or DraftKind.Eagle3Ctc ? CtcWeight : 0, Kind == DraftKind.Medusa ? 0 : Noise, CtcWindows);

    /// <summary>Throws <see cref="TrainingInputException"/> naming the first bad option.</summary>
    public void Validate()
    {
        void Check(bool ok, string message)
        {
            if (!ok) throw new TrainingInputException(message);
        }
        Check(Kind != DraftKind.Ctc || Blank != BlankMode.None, "a ctc draft needs --blank own or unk");
        Check(Kind is not (DraftKind.CtcNar or DraftKind.Eagle3Ctc) || Blank == BlankMode.Own, $"a {Kind.Name()} draft has its own blank row (--blank own)");
        Check(Kind != DraftKind.Eagle3Ctc || TestSteps >= 6, $"an eagle3-ctc draft's CTC loss reads 6 chain steps: --test-steps must be at least 6 (got {TestSteps})");
        Check(FutureTokens >= 1 && Upsampling >= 1 && FutureTokens * Upsampling <= DraftConfig.MaxFrames,
            $"--future-tokens and --upsampling must be at least 1, with at most {DraftConfig.MaxFrames} frames (got {FutureTokens} x {Upsampling})");
        Check(MedusaHeads > 0, $"--medusa-heads must be positive (got {MedusaHeads})");
        Check(TestSteps is >= 1 and <= 16, $"--test-steps must be between 1 and 16 (got {TestSteps})");
        Check(TestAnchors > 0, $"--test-anchors must be positive (got {TestAnchors})");
        Check(Steps >= 0 && (Steps > 0 || Epochs > 0), "give a positive --steps or --epochs");
        Check(BatchSize > 0, $"--batch must be positive (got {BatchSize})");
        Check(LearningRate > 0 && MinLearningRate >= 0 && MinLearningRate <= LearningRate, "--lr must be positive and above the minimum rate");
        Check(WarmupFraction is >= 0 and < 1, $"the warm-up fraction must be in [0, 1) (got {WarmupFraction})");
        Check(GradClip >= 0 && CtcWeight >= 0 && Noise >= 0, "--grad-clip, --ctc-weight and --noise must not be negative");
        Check(CtcWindows > 0 && MaxLength >= 8 && Depth >= 1 && EvalAnchors > 0 && EvalInterval >= 0 && LogInterval > 0,
            "ctc_windows, eval_anchors, depth and log_interval must be positive, max_length at least 8");
        Check(CheckpointMinutes > 0, $"checkpoint_minutes must be positive (got {CheckpointMinutes})");
    }
}
