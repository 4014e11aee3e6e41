using System.CommandLine;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Commands;

/// <summary>Options shared by the commands that load a model.</summary>
static class CommonOptions
{
    public const string DefaultModel = "models/ref-s";

    public static Option<string> Model() => new("--model", "-m")
    {
        Description = "Hugging Face model folder",
        DefaultValueFactory = _ => DefaultModel,
    };

    /// <summary><c>--method</c>: the decoding method (a drafter name), vanilla by default.</summary>
    public static Option<string> Method() => new("--method")
    {
        Description = $"decoding method: {string.Join(", ", Drafters.DrafterFactory.Methods)}",
        DefaultValueFactory = _ => "vanilla",
    };

    /// <summary><c>--chat-template</c> for conversations: a template name, or auto (the model's own, else vicuna_v1.1).</summary>
    public static Option<string> ChatTemplateName() => new("--chat-template")
    {
        Description = "chat template name, or auto",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<string> Dtype() => new("--dtype")
    {
        Description = "runtime weight format: f32, bf16 or q8",
        DefaultValueFactory = _ => "f32",
    };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "worker threads (0 = all cores)",
        DefaultValueFactory = _ => 0,
    };

    public static WeightFormat ParseDtype(string s) => s.ToLowerInvariant() switch
    {
        "f32" or "fp32" or "float32" => WeightFormat.F32,
        "bf16" or "bfloat16" => WeightFormat.BF16,
        "q8" or "int8" => WeightFormat.Q8,
        _ => throw new ArgumentException($"unknown --dtype '{s}' (f32, bf16, q8)"),
    };

    public static LlamaModel Load(string folder, string dtype, int threads, int context = 0) =>
        LlamaModel.Load(folder, new EngineOptions(ParseDtype(dtype), threads, context));
}
