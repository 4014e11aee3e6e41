using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;
using CtcDrafter.Training.Pretraining;
using CtcDrafter.Training.Tokenizer;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Export;

/// <summary>
/// Writes a trained model as a Hugging Face <c>LlamaForCausalLM</c> folder: model.safetensors, config.json,
/// tokenizer.model, tokenizer_config.json (Vicuna chat template), generation_config.json and MODEL_CARD.md.
/// The folder is written under a temporary name beside the destination and renamed at the end, so a failed or
/// killed export leaves no half-written model. With <c>carryRun</c> the folder also carries the run
/// (<see cref="CarriedRun"/>).
/// </summary>
internal static class HuggingFaceExporter
{
    const int SampleTokens = 48;

    /// <summary>The prompts of the model card's greedy samples, as (shown prompt, text to encode).</summary>
    static readonly (string Shown, string Text)[] SamplePrompts =
    [
        ("Once upon a time", "Once upon a time"),
        ("One day, Lily found a", "One day, Lily found a"),
        ("ROMEO:", "ROMEO:\n"),
        ("Vicuna: GSM8K question", VicunaTemplate.Prompt(VicunaTemplate.Gsm8kInstruction +
            "Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples does he have left?")),
        ("Vicuna: chat question", VicunaTemplate.Prompt("What is the capital of France?")),
    ];

    static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Export(string destination, LlamaForCausalLM model, TextTokenizer tokenizer, TrainingState state,
        IReadOnlyList<SourceStatistics> corpus, ExportDType dtype, bool carryRun = false)
    {
        string full = Path.GetFullPath(destination.TrimEnd(Path.DirectorySeparatorChar));
        try
        {
            FolderWriter.Write(full, replace: true, temp =>
            {
                SafeTensorsWriter.Write(Path.Combine(temp, "model.safetensors"), TensorEntries.From(model.state_dict(), dtype), TensorEntries.Metadata);
                WriteJson(Path.Combine(temp, "config.json"), ConfigJson(model.Config, dtype));
                File.Copy(tokenizer.Path, Path.Combine(temp, "tokenizer.model"));
                WriteJson(Path.Combine(temp, "tokenizer_config.json"), TokenizerConfigJson(model.Config));
                WriteJson(Path.Combine(temp, "generation_config.json"), new JsonObject
                {
                    ["bos_token_id"] = TextTokenizer.BosId, ["eos_token_id"] = TextTokenizer.EosId, ["do_sample"] = false,
                });
                var samples = SamplePrompts.Select(p =>
                {
                    var prompt = new List<int> { TextTokenizer.BosId };
                    prompt.AddRange(tokenizer.Encode(p.Text));
                    return (p.Shown, tokenizer.Decode(GreedyGenerator.Generate(model, prompt, SampleTokens)));
                }).ToList();
                File.WriteAllText(Path.Combine(temp, "MODEL_CARD.md"),
                    ModelCard.Render(Path.GetFileName(full), model.Config, state, corpus, samples, get_num_threads()));
                if (carryRun) CarriedRun.WriteState(temp, state);
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write the model folder {full}: {e.Message}", e);
        }
    }

    static JsonObject ConfigJson(LlamaConfig c, ExportDType dtype) => new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["model_type"] = "llama",
        ["hidden_size"] = c.HiddenSize,
        ["intermediate_size"] = c.IntermediateSize,
        ["num_hidden_layers"] = c.NumHiddenLayers,
        ["num_attention_heads"] = c.NumAttentionHeads,
        ["num_key_value_heads"] = c.NumKeyValueHeads,
        ["head_dim"] = c.HeadDim,
        ["vocab_size"] = c.VocabSize,
        ["max_position_embeddings"] = c.MaxPositionEmbeddings,
        ["rms_norm_eps"] = c.RmsNormEps,
        ["rope_theta"] = c.RopeTheta,
        ["rope_scaling"] = null,
        ["tie_word_embeddings"] = c.TieWordEmbeddings,
        ["hidden_act"] = "silu",
        ["attention_bias"] = false,
        ["mlp_bias"] = false,
        ["attention_dropout"] = 0.0,
        ["initializer_range"] = 0.02,
        ["bos_token_id"] = TextTokenizer.BosId,
        ["eos_token_id"] = TextTokenizer.EosId,
        ["torch_dtype"] = dtype == ExportDType.BFloat16 ? "bfloat16" : "float32",
        ["use_cache"] = true,
    };

    // FastChat's Vicuna v1.1 rendering; transformers tokenises chat templates without adding BOS again.
    const string ChatTemplate =
        "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% set loop_messages = messages[1:] %}" +
        "{% else %}{% set system_message = '" + VicunaTemplateJinjaSystem + "' %}{% set loop_messages = messages %}{% endif %}" +
        "{{ bos_token + system_message + ' ' }}" +
        "{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}" +
        "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}" +
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

    const string VicunaTemplateJinjaSystem =
        "A chat between a curious user and an artificial intelligence assistant. " +
        "The assistant gives helpful, detailed, and polite answers to the user\\'s questions.";

    static JsonObject TokenizerConfigJson(LlamaConfig c) => new()
    {
        ["tokenizer_class"] = "LlamaTokenizer",
        ["add_bos_token"] = true,
        ["add_eos_token"] = false,
        ["bos_token"] = "<s>",
        ["eos_token"] = "</s>",
        ["unk_token"] = "<unk>",
        ["pad_token"] = null,
        ["legacy"] = true,
        ["clean_up_tokenization_spaces"] = false,
        ["model_max_length"] = c.MaxPositionEmbeddings,
        ["sp_model_kwargs"] = new JsonObject(),
        ["chat_template"] = ChatTemplate,
    };

    static void WriteJson(string path, JsonObject json) => File.WriteAllText(path, json.ToJsonString(Indented) + "\n");
}
