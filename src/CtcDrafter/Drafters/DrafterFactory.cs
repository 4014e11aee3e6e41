using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>Drafters by method name, as the CLI and the benchmark name them.</summary>
public static class DrafterFactory
{
    /// <summary>
    /// The methods. Ablations of the CTC draft: "ctc-strict" applies the paper's transform, which removes every
    /// repeat; "ctc-nocollapse" applies no transform. "ctc-nar" is the non-autoregressive CTC draft, whose ablation
    /// "ctc-nar-topk" drafts a top-k tree per frame for the CTC transform instead of prefix beam search. "eagle3-ctc"
    /// is EAGLE-3's module trained with the CTC loss besides, its tree through the CTC transform.
    /// </summary>
    public static readonly IReadOnlyList<string> Methods =
        ["vanilla", "prompt-lookup", "medusa", "eagle", "eagle3", "eagle3-ctc", "ctc", "ctc-strict", "ctc-nocollapse", "ctc-nar", "ctc-nar-topk"];

    /// <summary>The kind of trained draft a method runs on ("ctc" for the ablation too), or null when it needs none.</summary>
    public static string? TrainedKind(string method) => method switch
    {
        "medusa" or "eagle" or "eagle3" or "eagle3-ctc" or "ctc" or "ctc-nar" => method,
        "ctc-strict" or "ctc-nocollapse" => "ctc",
        "ctc-nar-topk" => "ctc-nar",
        _ => null,
    };

    /// <param name="draftFolder">Trained draft folder, for the methods that need one.</param>
    public static IDrafter Create(string method, LlamaModel model, string? draftFolder = null) => method switch
    {
        "vanilla" => new NoDrafter(),
        "prompt-lookup" => new PromptLookupDrafter(),
        "medusa" or "eagle" or "eagle3" or "eagle3-ctc" or "ctc" or "ctc-strict" or "ctc-nocollapse" or "ctc-nar" or "ctc-nar-topk" => Trained(method, model, draftFolder),
        _ => throw new ArgumentException($"unknown method '{method}' (known: {string.Join(", ", Methods)})"),
    };

    static IDrafter Trained(string method, LlamaModel model, string? folder)
    {
        if (folder is null) throw new ArgumentException($"method '{method}' needs a trained draft: give --draft DIR");
        var module = DraftModule.Load(folder, model);
        string kind = module.Config.Kind.Name(), wanted = TrainedKind(method)!;
        if (kind != wanted)
        {
            module.Dispose();
            throw new ModelFormatException(folder, $"this is a {kind} draft, not a {wanted} draft");
        }
        return module switch
        {
            MedusaHeadsDraft heads => new MedusaDrafter(heads),
            FeatureLayerDraft nar when nar.Config.Kind == DraftKind.CtcNar => new CtcNarDrafter(nar, beamSearch: method == "ctc-nar"),
            Eagle3Draft eagle3 => new FeatureTreeDrafter(eagle3),
            FeatureLayerDraft layer => new FeatureTreeDrafter(layer, transform: method switch
            {
                "ctc-strict" => CtcTransform.Strict,
                "ctc-nocollapse" => CtcTransform.None,
                _ => CtcTransform.KeepRepeats,
            }),
            _ => throw new InvalidOperationException($"no drafter for a {module.GetType().Name}"),
        };
    }
}
