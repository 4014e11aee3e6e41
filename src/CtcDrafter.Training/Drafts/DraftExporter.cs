using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Training.Export;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Writes a trained draft network as an engine draft folder: model.safetensors (its trainable tensors under the
/// engine's names, and any fixed ones it adds), config.json (kind, layer shape, blank, the base model's identity, the score temperature, the training summary) and
/// DRAFT_CARD.md, all or nothing.
/// </summary>
internal static class DraftExporter
{
    public const string CardFile = "DRAFT_CARD.md";

    /// <summary>Writes <paramref name="network"/> to <paramref name="folder"/> for the base model <paramref name="identity"/>, with the
    /// <paramref name="training"/> summary, the <paramref name="card"/> and weights in <paramref name="dtype"/>; the drafter's
    /// <paramref name="scoreTemperature"/> is the one fitted on held-out data (null: the kind's default).</summary>
    public static void Export(string folder, DraftNetwork network, BaseIdentity identity, JsonObject? training, string? card, ExportDType dtype,
        float? scoreTemperature = null)
    {
        var tensors = network.named_parameters().ToDictionary(p => p.name, p => (TorchSharp.torch.Tensor)p.parameter);
        var config = network.Config(identity) with { Training = training, ScoreTemperature = scoreTemperature };
        try
        {
            var entries = TensorEntries.From(tensors, dtype).Concat(network.ExtraTensors).OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
            DraftWriter.Write(folder, config, entries,
                card is null ? null : new Dictionary<string, string> { [CardFile] = card });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot write the draft folder {Path.GetFullPath(folder)}: {e.Message}", e);
        }
    }
}
