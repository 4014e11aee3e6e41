using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>Medusa-1 heads: per head its ResBlocks (weight, bias) and its own vocabulary projection.</summary>
internal sealed class MedusaHeadsDraft : DraftModule
{
    public WeightMatrix[][] ResBlocks { get; } = []; // [heads][layers][hidden, hidden]
    public float[][][] ResBiases { get; } = [];      // [heads][layers][hidden]
    public WeightMatrix[] Heads { get; } = [];       // [heads][vocab, hidden]

    /// <summary>The file name of head <paramref name="head"/>'s ResBlock <paramref name="layer"/> (weight or bias)
    /// and of its projection (<paramref name="layer"/> = null).</summary>
    public static string TensorName(int head, int? layer, string part) => layer switch
    {
        null => $"medusa.{head}.head.{part}",
        0 => $"medusa.{head}.resblock.{part}",
        int j => $"medusa.{head}.resblock{j}.{part}",
    };

    public MedusaHeadsDraft(string folder, LlamaModel baseModel, DraftConfig config) : base(folder, baseModel, config)
    {
        try
        {
            int h = Config.HiddenSize, k = Config.MedusaHeads, n = Config.MedusaLayers;
            ResBlocks = Enumerable.Range(0, k).Select(i => Enumerable.Range(0, n).Select(j => Matrix(TensorName(i, j, "weight"), h, h)).ToArray()).ToArray();
            ResBiases = Enumerable.Range(0, k).Select(i => Enumerable.Range(0, n).Select(j => Store.GetVector(TensorName(i, j, "bias"), h)).ToArray()).ToArray();
            Heads = Enumerable.Range(0, k).Select(i => Matrix(TensorName(i, null, "weight"), Config.VocabSize, h)).ToArray();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override long Bytes => ResBlocks.SelectMany(b => b).Sum(m => m.Bytes) + Heads.Sum(m => m.Bytes);

    private protected override IEnumerable<WeightMatrix> OwnMatrices => ResBlocks.SelectMany(b => b).Concat(Heads);
}
