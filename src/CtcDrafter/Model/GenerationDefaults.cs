using System.Text.Json.Nodes;

namespace CtcDrafter.Model;

/// <summary>The sampling defaults of a model folder's optional <c>generation_config.json</c>.</summary>
public sealed record GenerationDefaults(float Temperature = 0f, int TopK = 0, float TopP = 1f, int? MaxNewTokens = null,
    IReadOnlyList<int>? EosTokenIds = null)
{
    public static GenerationDefaults Load(string folder)
    {
        string path = Path.Combine(folder, "generation_config.json");
        if (!File.Exists(path)) return new();
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject o) throw new ModelFormatException(path, "expected a JSON object");
            bool sample = o["do_sample"]?.GetValue<bool>() ?? false;
            return new GenerationDefaults(
                Temperature: sample ? (float)(o["temperature"]?.GetValue<double>() ?? 1.0) : 0f,
                TopK: sample ? o["top_k"]?.GetValue<int>() ?? 0 : 0,
                TopP: sample ? (float)(o["top_p"]?.GetValue<double>() ?? 1.0) : 1f,
                MaxNewTokens: o["max_new_tokens"]?.GetValue<int>(),
                EosTokenIds: o["eos_token_id"] switch
                {
                    null => null,
                    JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
                    var n => [n.GetValue<int>()],
                });
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(path, $"malformed ({e.Message})");
        }
    }
}
