using System.Text.Json.Nodes;
using static CtcDrafter.Model.JsonFields;

namespace CtcDrafter.Model;

/// <summary>
/// How a model stretches its rotary frequencies beyond its training context: <c>linear</c> (every frequency divided
/// by <see cref="Factor"/>), <c>llama3</c> (Llama 3.1's: low frequencies divided by the factor, high ones kept, a
/// smooth ramp between, by wavelength against the original context), or per-frequency divisors as GGUF files carry
/// them (<c>rope_freqs.weight</c>). The inverse frequencies are computed as transformers computes them, in fp32.
/// </summary>
public sealed record RopeScaling
{
    public required string Type { get; init; }
    public float Factor { get; init; } = 1;
    public float LowFreqFactor { get; init; } = 1;
    public float HighFreqFactor { get; init; } = 4;
    public int OriginalMaxPositions { get; init; } = 8192;
    /// <summary>GGUF's divisors, one per rotated pair, for <see cref="Type"/> "freq_factors".</summary>
    public IReadOnlyList<float>? FreqFactors { get; init; }

    /// <summary>A config.json's <c>rope_scaling</c>; null or type "default" mean none. Other types are refused by name.</summary>
    internal static RopeScaling? Parse(JsonNode? node)
    {
        if (node is null) return null;
        if (node is not JsonObject o) throw new FormatException($"rope_scaling must be an object or null, got {node.ToJsonString()}");
        string type = Str(o, "rope_type") ?? Str(o, "type") ?? throw new FormatException("rope_scaling has no 'rope_type'");
        float Required(string field) => (float)(Number(o, field) ?? throw new FormatException($"rope_scaling '{type}' has no '{field}'"));
        var scaling = type switch
        {
            "default" => null,
            "linear" => new RopeScaling { Type = type, Factor = Required("factor") },
            "llama3" => new RopeScaling
            {
                Type = type, Factor = Required("factor"), LowFreqFactor = Required("low_freq_factor"),
                HighFreqFactor = Required("high_freq_factor"),
                OriginalMaxPositions = Int(o, "original_max_position_embeddings") ?? throw new FormatException("rope_scaling 'llama3' has no 'original_max_position_embeddings'"),
            },
            _ => throw new FormatException($"rope_scaling '{type}' is not supported (supported: linear, llama3): the engine refuses a model it cannot compute exactly"),
        };
        if (scaling is not null && !(scaling.Factor >= 1) || scaling is { Type: "llama3" } s && !(s.HighFreqFactor > s.LowFreqFactor && s.LowFreqFactor > 0 && s.OriginalMaxPositions > 0))
            throw new FormatException($"rope_scaling '{type}' has out-of-range parameters");
        return scaling;
    }

    /// <summary>The unscaled inverse frequencies, as transformers computes them: 1 / theta^(2i / d) in fp32.</summary>
    public static float[] BaseInverseFrequencies(int headDim, float theta)
    {
        var inv = new float[headDim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1f / (float)Math.Pow(theta, (float)(2 * i) / headDim);
        return inv;
    }

    /// <summary>The scaled inverse frequencies of <paramref name="baseFrequencies"/> (a new array).</summary>
    public float[] Apply(float[] baseFrequencies)
    {
        float[] inv = (float[])baseFrequencies.Clone();
        switch (Type)
        {
            case "linear":
                for (int i = 0; i < inv.Length; i++) inv[i] /= Factor;
                break;
            case "llama3":
                // transformers' _compute_llama3_parameters, operation by operation in fp32.
                float lowWavelen = (float)((double)OriginalMaxPositions / LowFreqFactor);
                float highWavelen = (float)((double)OriginalMaxPositions / HighFreqFactor);
                for (int i = 0; i < inv.Length; i++)
                {
                    float wavelen = (float)(2 * Math.PI) / inv[i];
                    float scaled = wavelen > lowWavelen ? inv[i] / Factor : inv[i];
                    float smooth = (OriginalMaxPositions / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                    float smoothed = (1 - smooth) * scaled / Factor + smooth * scaled;
                    bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                    inv[i] = medium ? smoothed : scaled;
                }
                break;
            case "freq_factors":
                if (FreqFactors is null || FreqFactors.Count != inv.Length)
                    throw new FormatException($"rope frequency factors: {FreqFactors?.Count ?? 0} values for {inv.Length} rotated pairs");
                for (int i = 0; i < inv.Length; i++) inv[i] /= FreqFactors[i];
                break;
            default:
                throw new FormatException($"rope scaling '{Type}' is not supported");
        }
        return inv;
    }

    public JsonObject ToJson() => Type switch
    {
        "linear" => new JsonObject { ["rope_type"] = Type, ["factor"] = Factor },
        "llama3" => new JsonObject
        {
            ["rope_type"] = Type, ["factor"] = Factor, ["low_freq_factor"] = LowFreqFactor, ["high_freq_factor"] = HighFreqFactor,
            ["original_max_position_embeddings"] = OriginalMaxPositions,
        },
        _ => throw new InvalidOperationException($"rope scaling '{Type}' has no config.json form"),
    };
}
