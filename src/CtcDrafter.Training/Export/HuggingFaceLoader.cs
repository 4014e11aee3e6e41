using System.Text.Json;
using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Export;

/// <summary>Loads a Hugging Face LLaMA folder (one model.safetensors, F32/F16/BF16) into a float32 TorchSharp model.</summary>
internal static class HuggingFaceLoader
{
    public static LlamaForCausalLM Load(string folder)
    {
        string configPath = Path.Combine(folder, "config.json");
        string weightsPath = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(configPath)) throw new TrainingInputException($"{configPath}: not found");
        if (!File.Exists(weightsPath)) throw new TrainingInputException($"{weightsPath}: not found");

        LlamaConfig config;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(configPath));
            config = json.RootElement.Deserialize<LlamaConfig>()!;
            if (json.RootElement.TryGetProperty("head_dim", out var headDim) && headDim.GetInt32() != config.HeadDim)
                throw new TrainingInputException($"{configPath}: head_dim other than hidden_size / num_attention_heads is not supported");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new TrainingInputException($"{configPath}: {e.Message}");
        }
        config.Validate(configPath);

        var model = new LlamaForCausalLM(config);
        try
        {
            var tensors = TorchSharp.PyBridge.Safetensors.LoadStateDict(weightsPath);
            var state = tensors.ToDictionary(t => t.Key, t => t.Value.to(float32));
            foreach (var tensor in tensors.Values) tensor.Dispose();
            model.load_state_dict(state, strict: true);
            foreach (var tensor in state.Values) tensor.Dispose();
        }
        catch (Exception e) when (e is not TrainingInputException)
        {
            model.Dispose();
            throw new TrainingInputException($"{weightsPath}: {e.Message}", e);
        }
        return model;
    }
}
