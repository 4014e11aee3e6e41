using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Training.Export;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Writes a trained draft network as an engine draft folder: model.safetensors (its trainable tensors under the
/// engine's names), config.json (kind, layer shape, blank, the base model's identity, the training summary) and
/// DRAFT_CARD.md, all or nothing.
/// </summary>
internal static class DraftExporter
{
    public const string CardFile = "DRAFT_CARD.md";

    public static void Export(string folder, DraftNetwork network, BaseIdentity identity, JsonObject? training, string? card, ExportDType dtype)
    {
        var tensors = network.named_parameters().ToDictionary(p => p.name, p => (TorchSharp.torch.Tensor)p.parameter);
        var config = network.Config(identity) with { Training = training };
        try
        {
            DraftWriter.Write(folder, config, TensorEntries.From(tensors, dtype),
                card is null ? null : new Dictionary<string, string> { [CardFile] = card });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write the draft folder {Path.GetFullPath(folder)}: {e.Message}", e);
        }
    }
}
