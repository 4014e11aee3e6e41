using System.Text.Json.Serialization;

namespace CtcDrafter.Training.Model;

/// <summary>The shape of a LLaMA model, with Hugging Face's <c>config.json</c> names.</summary>
internal sealed record LlamaConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; }
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Number of parameters (the tied LM head counted once).</summary>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            long h = HiddenSize, kv = (long)NumKeyValueHeads * HeadDim;
            long perLayer = 2 * h * h + 2 * h * kv + 3 * h * IntermediateSize + 2 * h;
            return VocabSize * h * (TieWordEmbeddings ? 1 : 2) + NumHiddenLayers * perLayer + h;
        }
    }

    /// <summary>Throws <see cref="TrainingInputException"/> naming the first inconsistent field.</summary>
    public void Validate(string source)
    {
        void Positive(string name, double value)
        {
            if (!(value > 0)) throw new TrainingInputException($"{source}: model.{name} must be positive (got {value})");
        }
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKeyValueHeads);
        Positive("vocab_size", VocabSize);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("rms_norm_eps", RmsNormEps);
        Positive("rope_theta", RopeTheta);
        if (HiddenSize % NumAttentionHeads != 0 || HeadDim % 2 != 0)
            throw new TrainingInputException(
                $"{source}: model.hidden_size ({HiddenSize}) must be num_attention_heads ({NumAttentionHeads}) times an even head size");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new TrainingInputException(
                $"{source}: model.num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads})");
    }
}
