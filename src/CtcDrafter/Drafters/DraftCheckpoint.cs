using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// What importing and exporting the official draft layouts share: finding a checkpoint's weights file
/// (safetensors or a <c>torch.save</c> zip), taking its tensors with their shapes checked, and copying them
/// byte for byte under another name, and the draft's tree score temperature, a key of ours that the official
/// loaders ignore, so that an exported draft imports back to the draft it was.
/// </summary>
internal static class DraftCheckpoint
{
    /// <summary>The key of <see cref="DraftConfig.ScoreTemperature"/> in an official <c>config.json</c>.</summary>
    const string ScoreTemperatureKey = "score_temperature";

    /// <summary>Adds the draft's score temperature, when it has one, to the official config it is exported with.</summary>
    public static void PutScoreTemperature(JsonObject config, DraftConfig draft)
    {
        if (draft.ScoreTemperature is { } t) config[ScoreTemperatureKey] = t;
    }

    /// <summary>The score temperature of an official <c>config.json</c> written by an export, or null (absent or no file).</summary>
    public static float? ScoreTemperature(string configPath)
    {
        if (!File.Exists(configPath)) return null;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(configPath)) is not JsonObject o) throw new ModelFormatException(configPath, "expected a JSON object");
            if (JsonFields.Number(o, ScoreTemperatureKey) is not { } t) return null;
            return float.IsFinite((float)t) && t > 0 ? (float)t
                : throw new ModelFormatException(configPath, $"{ScoreTemperatureKey} {t} must be a positive number");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(configPath, $"malformed ({e.Message})");
        }
    }

    /// <summary>
    /// The weights of a checkpoint: <paramref name="path"/> itself when it is a file, else the first of
    /// <paramref name="names"/> in that folder, else the shards of its <c>model.safetensors.index.json</c> or
    /// <c>pytorch_model.bin.index.json</c>, else its only <c>*.pt</c> file. Returns the folder (where config.json is) too.
    /// </summary>
    public static (string Folder, TensorStore Store) Open(string path, params string[] names)
    {
        string? file = File.Exists(path) ? path : null;
        string folder = file is null ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (file is null)
        {
            if (!Directory.Exists(path)) throw new ModelFormatException(path, "checkpoint folder not found");
            file = names.Select(n => Path.Combine(path, n)).FirstOrDefault(File.Exists);
            string safetensorsIndex = Path.Combine(path, "model.safetensors.index.json"), torchIndex = Path.Combine(path, "pytorch_model.bin.index.json");
            if (file is null && File.Exists(safetensorsIndex)) return (folder, new SafeTensorsStore(folder));
            if (file is null && File.Exists(torchIndex)) return (folder, TorchCheckpointStore.Sharded(torchIndex));
            if (file is null && Directory.GetFiles(path, "*.pt") is [string pt]) file = pt;
            if (file is null) throw new ModelFormatException(path, $"no {string.Join(", ", names)}, sharded index or single *.pt file in the checkpoint folder");
        }
        TensorStore store = file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
            ? new SafeTensorsStore(folder, file) : new TorchCheckpointStore(file);
        return (folder, store);
    }

    /// <summary>The tensor <paramref name="name"/>, which must have <paramref name="shape"/>; <paramref name="why"/> says where the shape comes from.</summary>
    public static RawTensor Get(TensorStore store, string name, string why, params int[] shape)
    {
        if (store.ShapeOf(name) is int[] actual && !actual.SequenceEqual(shape))
            throw new ModelFormatException(store.Source, $"tensor '{name}' has shape [{string.Join(", ", actual)}], expected [{string.Join(", ", shape)}] ({why})");
        return store.Get(name, shape);
    }

    /// <summary>The tensor's bytes as they are, under <paramref name="name"/>.</summary>
    public static unsafe SafeTensorsWriter.Entry Copy(in RawTensor t, string name) =>
        new(name, t.DType, t.Shape, new ReadOnlySpan<byte>(t.Data, checked((int)t.ByteLength)).ToArray());

    /// <summary>
    /// Throws unless <paramref name="embedding"/> [vocab, hidden] holds the base's embedding: equal within the
    /// rounding of the narrowest float type either may be stored in (fp16 or bf16 copies of the same weights).
    /// </summary>
    public static void CheckEmbedding(in RawTensor embedding, LlamaModel baseModel, string file)
    {
        RawTensor own = baseModel.Weights.EmbeddingTensor();
        int h = own.Shape[1];
        var a = new float[h];
        var b = new float[h];
        for (int token = 0; token < own.Shape[0]; token++)
        {
            Conversions.ReadF32(embedding, (long)token * h, a);
            Conversions.ReadF32(own, (long)token * h, b);
            for (int i = 0; i < h; i++)
                if (!(MathF.Abs(a[i] - b[i]) <= MathF.Max(MathF.Abs(a[i]), MathF.Abs(b[i])) / 128 + 1f / 16384))
                    throw new ModelFormatException(file, $"tensor '{embedding.Name}' is not the base model's embedding (token {token}, element {i}: {a[i]} here, {b[i]} in the base): a draft of another model");
        }
    }
}
