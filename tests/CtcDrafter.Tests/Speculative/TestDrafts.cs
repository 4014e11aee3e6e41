using CtcDrafter.Drafters;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>Draft folders with random weights bound to a base model.</summary>
static class TestDrafts
{
    /// <summary>K and r of a random ctc-nar draft (it needs <see cref="BlankMode.Own"/>).</summary>
    public const int NarTokens = 3, NarUpsampling = 2;

    public static string Write(string dir, LlamaModel b, DraftKind kind, BlankMode blank = BlankMode.None, int heads = 3, ulong seed = 3)
    {
        var rng = new Sampling.Rng(seed);
        float[] R(long n, float scale) => Enumerable.Range(0, (int)n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        ModelConfig c = b.Config;
        int h = c.HiddenSize, f = c.IntermediateSize;
        float s = 1f / MathF.Sqrt(h);
        var t = new List<SafeTensorsWriter.Entry>();
        if (kind == DraftKind.Medusa)
            for (int k = 0; k < heads; k++)
            {
                t.Add(SafeTensorsWriter.F32($"medusa.{k}.resblock.weight", [h, h], R(h * h, s)));
                t.Add(SafeTensorsWriter.F32($"medusa.{k}.resblock.bias", [h], R(h, 0.1f)));
                t.Add(SafeTensorsWriter.F32($"medusa.{k}.head.weight", [c.VocabSize, h], R((long)c.VocabSize * h, 4 * s)));
            }
        else
        {
            t.Add(SafeTensorsWriter.F32("fc.weight", [h, 2 * h], R(2L * h * h, s)));
            t.Add(SafeTensorsWriter.F32("fc.bias", [h], R(h, 0.1f)));
            string p = "layers.0.";
            t.Add(SafeTensorsWriter.F32(p + "self_attn.q_proj.weight", [c.QDim, h], R((long)c.QDim * h, 2 * s)));
            t.Add(SafeTensorsWriter.F32(p + "self_attn.k_proj.weight", [c.KvDim, h], R((long)c.KvDim * h, 2 * s)));
            t.Add(SafeTensorsWriter.F32(p + "self_attn.v_proj.weight", [c.KvDim, h], R((long)c.KvDim * h, s)));
            t.Add(SafeTensorsWriter.F32(p + "self_attn.o_proj.weight", [h, c.QDim], R((long)c.QDim * h, s)));
            t.Add(SafeTensorsWriter.F32(p + "post_attention_layernorm.weight", [h], Enumerable.Repeat(1f, h).ToArray()));
            t.Add(SafeTensorsWriter.F32(p + "mlp.gate_proj.weight", [f, h], R((long)f * h, s)));
            t.Add(SafeTensorsWriter.F32(p + "mlp.up_proj.weight", [f, h], R((long)f * h, s)));
            t.Add(SafeTensorsWriter.F32(p + "mlp.down_proj.weight", [h, f], R((long)f * h, 1f / MathF.Sqrt(f))));
            if (blank == BlankMode.Own) t.Add(SafeTensorsWriter.F32("blank_head.weight", [1, h], R(h, 4 * s)));
            if (kind == DraftKind.CtcNar) t.Add(SafeTensorsWriter.F32("frame_embeddings.weight", [NarTokens * NarUpsampling, h], R((long)NarTokens * NarUpsampling * h, 1f)));
        }
        var config = new DraftConfig
        {
            Kind = kind, BaseModel = BaseIdentity.Of(b), HiddenSize = h, VocabSize = c.VocabSize,
            IntermediateSize = f, NumHeads = c.NumHeads, NumKvHeads = c.NumKvHeads, HeadDim = c.HeadDim,
            RmsNormEps = c.RmsNormEps, RopeTheta = c.RopeTheta, Blank = blank, MedusaHeads = kind == DraftKind.Medusa ? heads : 0,
            FutureTokens = kind == DraftKind.CtcNar ? NarTokens : 0, Upsampling = kind == DraftKind.CtcNar ? NarUpsampling : 0,
        };
        DraftWriter.Write(dir, config, t);
        return dir;
    }
}
