using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>Medusa-1 heads: per head a ResBlock (weight, bias) and its own vocabulary projection.</summary>
internal sealed class MedusaHeadsDraft : DraftModule
{
    public WeightMatrix[] ResBlocks { get; } = []; // [heads][hidden, hidden]
    public float[][] ResBiases { get; } = [];      // [heads][hidden]
    public WeightMatrix[] Heads { get; } = [];     // [heads][vocab, hidden]

    public MedusaHeadsDraft(string folder, LlamaModel baseModel, DraftConfig config) : base(folder, baseModel, config)
    {
        try
        {
            int h = Config.HiddenSize, k = Config.MedusaHeads;
            ResBlocks = Enumerable.Range(0, k).Select(i => Matrix($"medusa.{i}.resblock.weight", h, h)).ToArray();
            ResBiases = Enumerable.Range(0, k).Select(i => Store.GetVector($"medusa.{i}.resblock.bias", h)).ToArray();
            Heads = Enumerable.Range(0, k).Select(i => Matrix($"medusa.{i}.head.weight", Config.VocabSize, h)).ToArray();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override long Bytes => ResBlocks.Sum(m => m.Bytes) + Heads.Sum(m => m.Bytes);

    private protected override IEnumerable<WeightMatrix> OwnMatrices => ResBlocks.Concat(Heads);
}
