using System.Text.Json.Serialization;

namespace CtcDrafter.Training.Pretraining;

/// <summary>A held-out evaluation: the mean loss per token at a step, overall and per corpus source.</summary>
internal sealed record EvalPoint(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("sources")] Dictionary<string, double>? Sources = null);

/// <summary>Everything besides the tensors that a checkpoint holds to continue a run exactly.</summary>
internal sealed record TrainingState
{
    [JsonPropertyName("config")] public required PretrainConfig Config { get; init; }
    /// <summary>The model folder whose weights the run started from, or null for a random initialisation.</summary>
    [JsonPropertyName("initialized_from")] public string? InitializedFrom { get; init; }
    /// <summary>Optimizer steps done; the next batch is that of this step (the data position).</summary>
    [JsonPropertyName("step")] public long Step { get; set; }
    [JsonPropertyName("total_steps")] public long TotalSteps { get; set; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; set; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; set; }
    /// <summary>Fingerprint of the tokenised corpus, so that a resumed run refuses different data.</summary>
    [JsonPropertyName("corpus_fingerprint")] public required string CorpusFingerprint { get; init; }
    [JsonPropertyName("train_losses")] public List<double> TrainLosses { get; init; } = [];
    [JsonPropertyName("evaluations")] public List<EvalPoint> Evaluations { get; init; } = [];
    /// <summary>Steps at which the run continued with a fresh optimizer (from a <see cref="CarriedRun"/>).</summary>
    [JsonPropertyName("optimizer_restarts")] public List<long> OptimizerRestarts { get; init; } = [];
    /// <summary>torch's CPU generator state (base64).</summary>
    [JsonPropertyName("rng_state")] public string RngState { get; set; } = "";
}
