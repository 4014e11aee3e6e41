using System.Text.Json.Serialization;

namespace CtcDrafter.Training.Drafts;

/// <summary>A held-out evaluation of a draft: loss and top-1 agreement with the base model's greedy tokens per depth.</summary>
/// <param name="Step">The training step it was made at.</param>
/// <param name="Loss">Mean held-out loss per counted pair.</param>
/// <param name="Accuracy">[depth] fraction of chain starts whose depth-d token is the base's greedy token.</param>
/// <param name="PrefixAccuracy">[depth] fraction whose tokens at depths 1..d all are (what acceptance needs).</param>
/// <param name="Anchors">Chain starts evaluated.</param>
internal sealed record DraftEvaluation(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("accuracy")] double[] Accuracy,
    [property: JsonPropertyName("prefix_accuracy")] double[] PrefixAccuracy,
    [property: JsonPropertyName("anchors")] int Anchors);

/// <summary>Everything besides the tensors that a draft-training checkpoint holds to continue the run exactly.</summary>
internal sealed record DraftTrainingState
{
    [JsonPropertyName("config")] public required DraftTrainConfig Config { get; init; }
    [JsonPropertyName("base_name")] public required string BaseName { get; init; }
    [JsonPropertyName("base_config_hash")] public required string BaseConfigHash { get; init; }
    [JsonPropertyName("base_lm_head_hash")] public required string BaseLmHeadHash { get; init; }
    /// <summary>Fingerprint of the distilled samples, so that a resumed run refuses other data.</summary>
    [JsonPropertyName("data_fingerprint")] public required string DataFingerprint { get; init; }
    [JsonPropertyName("step")] public long Step { get; set; }
    [JsonPropertyName("total_steps")] public long TotalSteps { get; set; }
    /// <summary>Training pairs seen (those that count towards the loss).</summary>
    [JsonPropertyName("pairs_seen")] public long PairsSeen { get; set; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; set; }
    [JsonPropertyName("train_losses")] public List<double> TrainLosses { get; init; } = [];
    [JsonPropertyName("evaluations")] public List<DraftEvaluation> Evaluations { get; init; } = [];
    /// <summary>torch's CPU generator state (base64): the input-feature noise.</summary>
    [JsonPropertyName("rng_state")] public string RngState { get; set; } = "";
}
