using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;

namespace CtcDrafter.Training.Pretraining;

/// <summary>A pretraining run's settings, read from a JSON file with snake_case names (unknown names are errors).</summary>
internal sealed record PretrainConfig
{
    [JsonPropertyName("model")] public required LlamaConfig Model { get; init; }
    /// <summary>Weight of each corpus source in the training stream (see <see cref="CorpusMixture"/>); null: the first corpus.</summary>
    [JsonPropertyName("mixture")] public Dictionary<string, double>? Mixture { get; init; }
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; } = 256;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 16;
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 1e-3;
    [JsonPropertyName("min_learning_rate")] public double MinLearningRate { get; init; } = 1e-4;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 100;
    /// <summary>Total optimizer steps; 0 derives them from <see cref="Epochs"/>.</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; }
    [JsonPropertyName("epochs")] public double Epochs { get; init; } = 1.0;
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.95;
    [JsonPropertyName("adam_eps")] public double AdamEps { get; init; } = 1e-8;
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1234;
    /// <summary>Held-out evaluation every this many steps (and at the end); 0 only at the end.</summary>
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 250;
    /// <summary>How many held-out sequences an evaluation reads (at most the whole held-out split).</summary>
    [JsonPropertyName("eval_sequences")] public int EvalSequences { get; init; } = 64;
    [JsonPropertyName("log_interval")] public int LogInterval { get; init; } = 10;
    [JsonPropertyName("checkpoint_minutes")] public double CheckpointMinutes { get; init; } = 5;
    /// <summary>Also checkpoint every this many steps; 0 for none.</summary>
    [JsonPropertyName("checkpoint_steps")] public int CheckpointSteps { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.Strict,
    };

    /// <summary>Reads a config file and applies <c>name=value</c> overrides (dotted names reach into "model").</summary>
    public static PretrainConfig Load(string path, IEnumerable<string> overrides)
    {
        if (!File.Exists(path)) throw new TrainingInputException($"config file not found: {path}");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true,
            });
        }
        catch (JsonException e)
        {
            throw new TrainingInputException($"{path}: not valid JSON ({e.Message})");
        }
        if (node is not JsonObject root) throw new TrainingInputException($"{path}: expected a JSON object");
        return FromJson(root, overrides, path);
    }

    /// <summary>This config with overrides applied, validated again.</summary>
    public PretrainConfig With(IEnumerable<string> overrides, string source) =>
        FromJson(JsonSerializer.SerializeToNode(this, Json)!.AsObject(), overrides, source);

    static PretrainConfig FromJson(JsonObject root, IEnumerable<string> overrides, string source)
    {
        foreach (string assignment in overrides) Apply(root, assignment);
        PretrainConfig? config;
        try
        {
            config = root.Deserialize<PretrainConfig>(Json);
        }
        catch (JsonException e)
        {
            throw new TrainingInputException($"{source}: {Describe(e)}");
        }
        if (config is null) throw new TrainingInputException($"{source}: empty config");
        config.Validate(source);
        return config;
    }

    static string Describe(JsonException e)
    {
        string field = e.Path is null ? "" : e.Path.TrimStart('$', '.');
        string message = e.Message;
        if (message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            int start = message.IndexOf('\'') + 1;
            return $"unknown field \"{(field.Length > 0 ? field : message[start..message.IndexOf('\'', start)])}\"";
        }
        if (message.Contains("could not be converted", StringComparison.Ordinal))
        {
            string expected = message.Contains("System.Int", StringComparison.Ordinal) ? "an integer"
                : message.Contains("System.Double", StringComparison.Ordinal) ? "a number"
                : message.Contains("System.Boolean", StringComparison.Ordinal) ? "true or false"
                : "a value of another type";
            return $"{field} must be {expected}";
        }
        if (message.Contains("missing required properties", StringComparison.Ordinal)) return "the \"model\" section is missing";
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (field.Length > 0 ? field + ": " : "") + (cut >= 0 ? message[..cut] : message);
    }

    static void Apply(JsonObject root, string assignment)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new TrainingInputException($"--set {assignment}: expected name=value");
        string[] path = assignment[..eq].Trim().Split('.');
        string raw = assignment[(eq + 1)..].Trim();
        JsonObject target = root;
        foreach (string part in path[..^1])
            target = target[part] as JsonObject ?? throw new TrainingInputException($"--set {assignment}: unknown section \"{part}\"");
        JsonNode? value;
        try
        {
            value = JsonNode.Parse(raw);
        }
        catch (JsonException)
        {
            value = JsonValue.Create(raw);
        }
        target[path[^1]] = value;
    }

    void Validate(string source)
    {
        void Check(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new TrainingInputException($"{source}: {name} must be {rule} (got {value})");
        }
        Model.Validate(source);
        CorpusMixture.From(Mixture, source);
        Check(SeqLen > 0, "seq_len", SeqLen, "positive");
        Check(SeqLen <= Model.MaxPositionEmbeddings, "seq_len", SeqLen, $"at most model.max_position_embeddings ({Model.MaxPositionEmbeddings})");
        Check(BatchSize > 0, "batch_size", BatchSize, "positive");
        Check(LearningRate > 0, "learning_rate", LearningRate, "positive");
        Check(MinLearningRate >= 0 && MinLearningRate <= LearningRate, "min_learning_rate", MinLearningRate, "between 0 and learning_rate");
        Check(WarmupSteps >= 0, "warmup_steps", WarmupSteps, "at least 0");
        Check(Steps >= 0, "steps", Steps, "at least 0");
        Check(Steps > 0 || Epochs > 0, "epochs", Epochs, "positive when steps is 0");
        Check(WeightDecay >= 0, "weight_decay", WeightDecay, "at least 0");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "in [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "in [0, 1)");
        Check(AdamEps > 0, "adam_eps", AdamEps, "positive");
        Check(GradClip >= 0, "grad_clip", GradClip, "at least 0 (0: no clipping)");
        Check(EvalInterval >= 0, "eval_interval", EvalInterval, "at least 0");
        Check(EvalSequences > 0, "eval_sequences", EvalSequences, "positive");
        Check(LogInterval > 0, "log_interval", LogInterval, "positive");
        Check(CheckpointMinutes > 0, "checkpoint_minutes", CheckpointMinutes, "positive");
        Check(CheckpointSteps >= 0, "checkpoint_steps", CheckpointSteps, "at least 0");
    }

    /// <summary>The corpus mixture this run trains on.</summary>
    public CorpusMixture CorpusMixture => CorpusMixture.From(Mixture, "config");

    /// <summary>The total number of optimizer steps for a training stream of the given number of sequences.</summary>
    public long TotalSteps(long sequencesPerEpoch) =>
        Steps > 0 ? Steps : Math.Max(1, (long)Math.Ceiling(Epochs * sequencesPerEpoch / BatchSize));
}
