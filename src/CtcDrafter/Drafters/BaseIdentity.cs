using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// What a draft module is bound to: the base model's name, a hash of its architecture and a hash of its LM head
/// (the values rounded to bfloat16, so that the same weights stored as F32 or BF16 match). A draft trained on the
/// features of one base model is meaningless on another, so loading it there is an error.
/// </summary>
public sealed record BaseIdentity(string Name, string ConfigHash, string LmHeadHash)
{
    public static BaseIdentity Of(LlamaModel model) => new(
        Path.GetFileName(Path.GetFullPath(model.Folder).TrimEnd('/', '\\')),
        ConfigHashOf(model.Config), model.Weights.LmHeadHash());

    internal static string ConfigHashOf(ModelConfig c) => Hash(Encoding.UTF8.GetBytes(
        $"{c.Architecture}|{c.HiddenSize}|{c.IntermediateSize}|{c.NumLayers}|{c.NumHeads}|{c.NumKvHeads}|{c.HeadDim}|{c.VocabSize}|{c.TieWordEmbeddings}"));

    internal static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];

    public JsonObject ToJson() => new() { ["name"] = Name, ["config_hash"] = ConfigHash, ["lm_head_hash"] = LmHeadHash };

    public static BaseIdentity FromJson(JsonNode? n, string path) => n is JsonObject o
        ? new BaseIdentity(JsonFields.Str(o, "name", "base_model.name") ?? "?", JsonFields.Str(o, "config_hash", "base_model.config_hash") ?? "",
            JsonFields.Str(o, "lm_head_hash", "base_model.lm_head_hash") ?? "")
        : throw new ModelFormatException(path, "no 'base_model' object naming the base model the draft was trained for");

    /// <summary>Throws unless <paramref name="actual"/> is the base this draft was trained for.</summary>
    public void Check(BaseIdentity actual, string draftPath)
    {
        if (ConfigHash != actual.ConfigHash || LmHeadHash != actual.LmHeadHash)
            throw new ModelFormatException(draftPath,
                $"this draft was trained for base model '{Name}' (config {ConfigHash}, LM head {LmHeadHash}), not for '{actual.Name}' " +
                $"(config {actual.ConfigHash}, LM head {actual.LmHeadHash})");
    }
}
