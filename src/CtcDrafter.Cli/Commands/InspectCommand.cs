using System.CommandLine;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter inspect</c>: the config, parameter count and weight bytes per runtime format.</summary>
static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var cmd = new Command("inspect", "Show a model's configuration, parameter count and size per runtime dtype.") { model };
        cmd.SetAction(r =>
        {
            string folder = r.GetValue(model)!;
            CommonOptions.CheckModel(folder);
            using LlamaModel m = LlamaModel.Load(folder);
            ModelConfig c = m.Config;
            Console.WriteLine($"model        {Path.GetFullPath(folder)}");
            Console.WriteLine($"architecture {c.Architecture}");
            Console.WriteLine($"layers       {c.NumLayers}, hidden {c.HiddenSize}, ffn {c.IntermediateSize}, heads {c.NumHeads} (kv {c.NumKvHeads}, head dim {c.HeadDim})");
            Console.WriteLine($"vocabulary   {c.VocabSize}, context {c.MaxContext}, rope theta {c.RopeTheta}{(c.RopeScaling is { } rs ? $" (scaling {rs.Type})" : "")}, rms eps {c.RmsNormEps}, tied embeddings {c.TieWordEmbeddings}");
            Console.WriteLine($"tokens       bos {c.BosTokenId}, eos [{string.Join(", ", c.EosTokenIds)}], tokenizer {(m.Tokenizer is null ? "none" : $"{m.Tokenizer.VocabSize} tokens")}");
            Console.WriteLine($"parameters   {c.ParameterCount:N0}");
            m.Dispose();
            foreach (WeightFormat f in new[] { WeightFormat.F32, WeightFormat.BF16, WeightFormat.Q8, WeightFormat.Q4 })
            {
                using LlamaModel mf = LlamaModel.Load(folder, new EngineOptions(f));
                Console.WriteLine($"{f,-12} {mf.RuntimeWeightBytes / 1e6,10:F2} MB  ({mf.DecodeWeightBytes / 1e6:F2} MB read per token)");
            }
            return 0;
        });
        return cmd;
    }
}
