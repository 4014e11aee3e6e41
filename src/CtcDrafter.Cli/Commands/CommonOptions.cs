using System.CommandLine;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Commands;

/// <summary>Options shared by the commands that load a model.</summary>
static class CommonOptions
{
    public const string DefaultModel = "models/ref-s";

    /// <summary>
    /// The default model: <c>models/ref-s</c> under the current folder (a clone of the repository), else the copy
    /// that ships beside the installed tool; <see cref="DefaultModel"/> itself when neither exists.
    /// </summary>
    static string DefaultModelPath()
    {
        string packed = Path.Combine(AppContext.BaseDirectory, DefaultModel);
        return !Directory.Exists(DefaultModel) && Directory.Exists(packed) ? packed : DefaultModel;
    }

    public static Option<string> Model() => new("--model", "-m")
    {
        Description = "Hugging Face model folder or GGUF file (default: models/ref-s in the current folder, else the one installed with the tool)",
        DefaultValueFactory = _ => DefaultModelPath(),
    };

    /// <summary>Refuses the default model when it is nowhere, saying how to get one.</summary>
    public static void CheckModel(string folder)
    {
        if (folder == DefaultModel && !Directory.Exists(folder))
            throw new DirectoryNotFoundException($"no model given and the default, {DefaultModel}, is neither in the current folder nor " +
                $"beside the tool ({Path.Combine(AppContext.BaseDirectory, DefaultModel)}): pass --model DIR (a Hugging Face folder or a " +
                "GGUF file), run from a clone of the repository, or install the tool package, which ships ref-s");
    }

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
        Description = "runtime weight format: auto (a GGUF file's own: q8 for Q8_0, q4 for Q4_0/Q4_K, bf16 for BF16, else f32; f32 for a folder), f32, bf16, q8 or q4 (quantized GGUF tensors keep their own blocks unless f32)",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "worker threads (0 = all cores)",
        DefaultValueFactory = _ => 0,
    };

    /// <summary><c>--context</c>: the KV cache's capacity in tokens, prompt and output together.</summary>
    public static Option<int> Context() => new("--context")
    {
        Description = $"context in tokens, prompt and output together (0 = the model's maximum, at most {LlamaModel.DefaultContext})",
        DefaultValueFactory = _ => 0,
    };

    /// <summary><c>--tree</c>: a fixed number of tree nodes per step instead of the adaptive budget.</summary>
    public static Option<int?> Tree() => new("--tree")
    {
        Description = "verify a fixed number of tree nodes per step (default: chosen per step from the measured verification cost and the observed acceptance, at most 32)",
    };

    /// <summary>A generator for <c>--method</c>, <c>--draft</c> (or the model's own draft folder) and <c>--tree</c>.</summary>
    public static Generation.Generator Generator(LlamaModel m, string method, string? draft, int? tree)
    {
        if (tree is <= 0 or > MaxTree) throw new ArgumentException($"--tree must be between 1 and {MaxTree} (got {tree})");
        var drafter = Drafters.DrafterFactory.Create(method, m, DraftFolders.Parse(draft).For(method, m.Folder));
        return new Generation.Generator(m, drafter, tree ?? 32, adaptive: tree is null);
    }

    /// <summary>The largest <c>--tree</c>: a verification is one forward of this many tokens.</summary>
    public const int MaxTree = 256;

    public static WeightFormat ParseDtype(string s, string model) => s.ToLowerInvariant() switch
    {
        "auto" => GgufModel.IsGguf(model) ? GgufModel.NativeFormat(model) : WeightFormat.F32,
        "f32" or "fp32" or "float32" => WeightFormat.F32,
        "bf16" or "bfloat16" => WeightFormat.BF16,
        "q8" or "int8" => WeightFormat.Q8,
        "q4" => WeightFormat.Q4,
        _ => throw new ArgumentException($"unknown --dtype '{s}' (auto, f32, bf16, q8, q4)"),
    };

    public static LlamaModel Load(string folder, string dtype, int threads, int context = 0)
    {
        if (threads < 0 || threads > Environment.ProcessorCount)
            throw new ArgumentException($"--threads must be between 0 (all) and {Environment.ProcessorCount}, this machine's processors (got {threads})");
        if (context < 0) throw new ArgumentException($"--context must be positive, or 0 for the model's maximum (got {context})");
        CheckModel(folder);
        return LlamaModel.Load(folder, new EngineOptions(ParseDtype(dtype, folder), threads, context));
    }
}
