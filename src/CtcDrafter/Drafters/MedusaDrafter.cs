using System.Numerics.Tensors;
using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// Medusa-1 heads: from the base model's final hidden state h at the last committed token, head k applies its
/// ResBlocks in turn (x = h, then x = x + SiLU(W x + b)) and its own projection, predicting the token k + 1 places
/// after the root (the root is the base model's own next token). Each head's top-k fills a dynamic tree.
/// </summary>
internal sealed class MedusaDrafter(MedusaHeadsDraft module, int topK = 8) : IDrafter
{
    readonly float[] _h = new float[module.Config.HiddenSize];
    readonly float[] _x = new float[module.Config.HiddenSize]; // [hidden] the head's input after each ResBlock
    readonly float[] _r = new float[module.Config.HiddenSize];
    readonly float[] _logits = new float[module.Config.VocabSize];
    bool _hasHidden;

    public string Name => "medusa";

    public IDrafter Spawn() => new MedusaDrafter(module, topK);

    public void Reset() => _hasHidden = false;

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden)
    {
        hidden[^_h.Length..].CopyTo(_h);
        _hasHidden = true;
    }

    public DraftTree Propose(int root, int maxNodes)
    {
        if (!_hasHidden || maxNodes <= 1) return new DraftTree(root);
        float temperature = module.Config.ScoreTemperature ?? module.Config.DefaultScoreTemperature;
        return TopKTree.Build(root, Heads(Math.Min(module.Heads.Length, maxNodes - 1), topK, temperature), maxNodes);
    }

    /// <summary>The top-<paramref name="k"/> distributions of the first <paramref name="heads"/> heads (a <paramref name="k"/>
    /// of the vocabulary size gives the whole distributions, as tests compare them), at <paramref name="temperature"/>.</summary>
    internal List<DepthDistribution> Heads(int heads, int k, float temperature = 1f)
    {
        var dists = new List<DepthDistribution>(heads);
        for (int i = 0; i < heads; i++)
        {
            _h.CopyTo(_x);
            for (int l = 0; l < module.ResBlocks[i].Length; l++)
            {
                module.ResBlocks[i][l].MatMul(_x, _r, 1);
                TensorPrimitives.Add(_r, module.ResBiases[i][l], _r);
                for (int j = 0; j < _r.Length; j++) _r[j] /= 1f + MathF.Exp(-_r[j]); // SiLU
                TensorPrimitives.Add(_r, _x, _x);
            }
            module.Heads[i].MatMul(_x, _logits, 1);
            if (temperature != 1f) TensorPrimitives.Divide(_logits, temperature, _logits);
            dists.Add(DepthDistribution.TopK(_logits, k));
        }
        return dists;
    }
}
