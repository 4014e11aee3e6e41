using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The official Medusa-1 head layout: <c>medusa_lm_head.pt</c> (or <c>.safetensors</c>), the state dict of a list
/// of heads, each <c>Sequential(ResBlock x medusa_num_layers, Linear(H, V, bias=False))</c>: keys
/// <c>{i}.{j}.linear.weight/bias</c> for its ResBlocks and <c>{i}.{layers}.weight</c> for its projection, beside a
/// <c>config.json</c> with <c>medusa_num_heads</c> and <c>medusa_num_layers</c>. The head count and the layer count
/// are read from the weights (published configs give fewer heads than their files hold); a config's
/// medusa_num_layers must agree with them.
/// </summary>
internal static class MedusaCheckpoint
{
    public const string HeadFile = "medusa_lm_head.safetensors";

    static string Official(int head, int? layer, string part, int layers) =>
        layer is int j ? $"{head}.{j}.linear.{part}" : $"{head}.{layers}.{part}";

    /// <summary>Writes the Medusa checkpoint at <paramref name="checkpoint"/> as a draft folder bound to <paramref name="baseModel"/>.</summary>
    public static DraftConfig Import(string checkpoint, LlamaModel baseModel, string output)
    {
        var (folder, store) = DraftCheckpoint.Open(checkpoint, HeadFile, "medusa_lm_head.pt");
        using (store)
        {
            int h = baseModel.Config.HiddenSize, v = baseModel.Config.VocabSize, layers = 0, heads = 0;
            while (store.Contains(Official(0, layers, "weight", 0))) layers++;
            while (store.Contains(Official(heads, 0, "weight", 0))) heads++;
            if (layers == 0) throw new ModelFormatException(store.Source, "no tensor '0.0.linear.weight': not a Medusa-1 head file");
            if (heads > DraftConfig.MaxMedusaHeads) throw new ModelFormatException(store.Source, $"{heads} heads is beyond the limit of {DraftConfig.MaxMedusaHeads}");
            string configPath = Path.Combine(folder, "config.json");
            if (File.Exists(configPath) && ConfiguredLayers(configPath) is int configured && configured != layers)
                throw new ModelFormatException(configPath, $"medusa_num_layers is {configured}, but the weights have {layers} ResBlocks per head");

            string why = $"the base's hidden size {h} and vocabulary {v}";
            var entries = new List<SafeTensorsWriter.Entry>();
            void Take(string from, string to, params int[] shape) => entries.Add(DraftCheckpoint.Copy(DraftCheckpoint.Get(store, from, why, shape), to));
            for (int i = 0; i < heads; i++)
            {
                for (int j = 0; j < layers; j++)
                {
                    Take(Official(i, j, "weight", layers), MedusaHeadsDraft.TensorName(i, j, "weight"), h, h);
                    Take(Official(i, j, "bias", layers), MedusaHeadsDraft.TensorName(i, j, "bias"), h);
                }
                Take(Official(i, null, "weight", layers), MedusaHeadsDraft.TensorName(i, null, "weight"), v, h);
            }
            store.CheckEveryTensorRead(_ => false);
            var config = new DraftConfig
            {
                Kind = DraftKind.Medusa, BaseModel = BaseIdentity.Of(baseModel), HiddenSize = h, VocabSize = v,
                MedusaHeads = heads, MedusaLayers = layers, ScoreTemperature = DraftCheckpoint.ScoreTemperature(configPath),
                Training = new JsonObject { ["imported_from"] = "medusa", ["checkpoint"] = Path.GetFullPath(store.Source) },
            };
            DraftWriter.Write(output, config, entries);
            return config;
        }
    }

    static int? ConfiguredLayers(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o ? JsonFields.Int(o, "medusa_num_layers") : throw new ModelFormatException(path, "expected a JSON object");
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new ModelFormatException(path, $"malformed ({e.Message})");
        }
    }

    /// <summary>Writes the medusa draft folder <paramref name="draft"/> in the official layout.</summary>
    public static void Export(string draft, LlamaModel baseModel, string output)
    {
        DraftConfig d = DraftConfig.Load(draft);
        if (d.Kind != DraftKind.Medusa) throw new ModelFormatException(draft, $"draft kind {d.Kind.Name()}: export it with --to {(d.Kind.IsEagle3() ? "eagle3" : "eagle")}");
        d.BaseModel.Check(BaseIdentity.Of(baseModel), Path.Combine(draft, "config.json"));
        using var store = TensorStore.Open(draft);
        int h = d.HiddenSize, layers = d.MedusaLayers;
        var entries = new List<SafeTensorsWriter.Entry>();
        void Put(string from, string to, params int[] shape) => entries.Add(DraftCheckpoint.Copy(store.Get(from, shape), to));
        for (int i = 0; i < d.MedusaHeads; i++)
        {
            for (int j = 0; j < layers; j++)
            {
                Put(MedusaHeadsDraft.TensorName(i, j, "weight"), Official(i, j, "weight", layers), h, h);
                Put(MedusaHeadsDraft.TensorName(i, j, "bias"), Official(i, j, "bias", layers), h);
            }
            Put(MedusaHeadsDraft.TensorName(i, null, "weight"), Official(i, null, "weight", layers), d.VocabSize, h);
        }
        store.CheckEveryTensorRead(_ => false);
        var config = new JsonObject
        {
            ["medusa_num_heads"] = d.MedusaHeads, ["medusa_num_layers"] = layers, ["base_model_name_or_path"] = d.BaseModel.Name,
        };
        DraftCheckpoint.PutScoreTemperature(config, d);
        FolderWriter.Write(output, replace: true, tmp =>
        {
            SafeTensorsWriter.Write(Path.Combine(tmp, HeadFile), entries, new Dictionary<string, string> { ["format"] = "pt" });
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        });
    }
}
