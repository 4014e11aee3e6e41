using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>Drafters by method name, as the CLI and the benchmark name them.</summary>
public static class DrafterFactory
{
    public static readonly IReadOnlyList<string> Methods = ["vanilla", "prompt-lookup"];

    /// <param name="draftFolder">Trained draft folder, for the methods that need one.</param>
    public static IDrafter Create(string method, LlamaModel model, string? draftFolder = null) => method switch
    {
        "vanilla" => new NoDrafter(),
        "prompt-lookup" => new PromptLookupDrafter(),
        _ => throw new ArgumentException($"unknown method '{method}' (known: {string.Join(", ", Methods)})"),
    };
}
