using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Model;

namespace CtcDrafter.Training.Distill;

/// <summary>What every sample of a distillation folder shares: the base model and the generation settings.</summary>
internal sealed record DistillHeader(BaseIdentity Base, int HiddenSize, int VocabSize, int MaxNewTokens, int MaxPromptTokens, string Template)
{
    public JsonObject ToJson() => new()
    {
        ["base_model"] = Base.ToJson(),
        ["hidden_size"] = HiddenSize,
        ["vocab_size"] = VocabSize,
        ["hidden_dtype"] = "bf16",
        ["max_new_tokens"] = MaxNewTokens,
        ["max_prompt_tokens"] = MaxPromptTokens,
        ["chat_template"] = Template,
    };

    public static DistillHeader FromJson(JsonObject o, string path)
    {
        int Int(string k) => o[k]?.GetValue<int>() ?? throw new TrainingInputException($"{path}: required field '{k}' is missing");
        if (o["hidden_dtype"]?.GetValue<string>() != "bf16") throw new TrainingInputException($"{path}: hidden_dtype must be bf16");
        BaseIdentity identity;
        try { identity = BaseIdentity.FromJson(o["base_model"], path); }
        catch (ModelFormatException e) { throw new TrainingInputException(e.Message); }
        return new DistillHeader(identity, Int("hidden_size"), Int("vocab_size"), Int("max_new_tokens"), Int("max_prompt_tokens"),
            o["chat_template"]?.GetValue<string>() ?? throw new TrainingInputException($"{path}: required field 'chat_template' is missing"));
    }
}
