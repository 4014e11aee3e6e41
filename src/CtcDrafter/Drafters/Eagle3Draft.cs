using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The EAGLE-3 draft module, under EAGLE-3's own tensor names: <c>fc</c> (k H -> H, no bias) over the base states
/// of k layers (<see cref="DraftConfig.FeatureLayers"/>, concatenated); one decoder layer <c>midlayer.*</c> whose
/// attention reads [input_layernorm(token embedding); hidden_norm(x)] (2H) with x as the residual, then
/// post_attention_layernorm and the MLP; a final <c>norm</c> and the draft's own <c>lm_head</c> over a draft
/// vocabulary, draft id d standing for base token d + <c>d2t</c>[d]. The layer's output (before the final norm) is the
/// feature a deeper draft step starts from, in place of fc's. The token embedding is the base's. An eagle3-ctc draft
/// has one more output, the blank's, <c>blank_head</c> · norm(output).
/// </summary>
internal sealed class Eagle3Draft : DraftModule
{
    public WeightMatrix Fc { get; }        // [hidden, layers * hidden]
    public LayerWeights Layer { get; }     // AttnNorm = hidden_norm, EmbedNorm = input_layernorm; Wq/Wk/Wv over 2 * hidden
    public float[] Norm { get; }           // [hidden] final norm before the head
    public WeightMatrix Head { get; }      // [draft vocab, hidden]
    public int[] DraftToBase { get; }      // [draft vocab] base token of each draft id (d + d2t[d])
    public float[]? BlankRow { get; }      // [hidden] the blank's row (eagle3-ctc)

    public const string Prefix = "midlayer.";

    public Eagle3Draft(string folder, LlamaModel baseModel, DraftConfig config) : base(folder, baseModel, config)
    {
        try
        {
            int h = Config.HiddenSize, layers = baseModel.Config.NumLayers;
            if (Config.FeatureLayers.FirstOrDefault(l => l >= layers, -1) is int bad and >= 0)
                throw new ModelFormatException(Path.Combine(folder, "config.json"), $"feature_layers names base layer {bad}; the base has layers 0..{layers - 1}");
            ModelConfig lc = Config.LayerConfig(baseModel.Config);
            const string p = Prefix;
            Fc = Matrix("fc.weight", h, Config.FeatureLayers.Length * h);
            Layer = new LayerWeights
            {
                AttnNorm = Store.GetVector(p + "hidden_norm.weight", h),
                EmbedNorm = Store.GetVector(p + "input_layernorm.weight", h),
                Wq = Matrix(p + "self_attn.q_proj.weight", lc.QDim, 2 * h),
                Wk = Matrix(p + "self_attn.k_proj.weight", lc.KvDim, 2 * h),
                Wv = Matrix(p + "self_attn.v_proj.weight", lc.KvDim, 2 * h),
                Wo = Matrix(p + "self_attn.o_proj.weight", h, lc.QDim),
                MlpNorm = Store.GetVector(p + "post_attention_layernorm.weight", h),
                Gate = Matrix(p + "mlp.gate_proj.weight", lc.IntermediateSize, h),
                Up = Matrix(p + "mlp.up_proj.weight", lc.IntermediateSize, h),
                Down = Matrix(p + "mlp.down_proj.weight", h, lc.IntermediateSize),
            };
            Norm = Store.GetVector("norm.weight", h);
            Head = Matrix("lm_head.weight", Config.DraftVocabSize, h);
            DraftToBase = BaseIds(Store.GetIndices("d2t", Config.DraftVocabSize), Config.VocabSize, Store.Source);
            if (Config.Blank == BlankMode.Own)
            {
                BlankRow = new float[h];
                Conversions.ReadF32(Store.Get("blank_head.weight", 1, h), 0, BlankRow);
            }
            Store.CheckEveryTensorRead(_ => false);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The base token of each draft id from EAGLE-3's offsets (target = d + d2t[d]), each inside the base vocabulary
    /// and no two the same; anything else is a broken table.
    /// </summary>
    public static int[] BaseIds(long[] d2t, int vocab, string source)
    {
        var ids = new int[d2t.Length];
        var seen = new HashSet<long>();
        for (int d = 0; d < d2t.Length; d++)
        {
            long t = d + d2t[d];
            if (t < 0 || t >= vocab) throw new ModelFormatException(source, $"d2t maps draft id {d} to token {t}, outside the base vocabulary of {vocab}");
            if (!seen.Add(t)) throw new ModelFormatException(source, $"d2t maps two draft ids to token {t}");
            ids[d] = (int)t;
        }
        return ids;
    }

    public override long Bytes => Fc.Bytes + Layer.Matrices.Sum(m => m.Bytes) + Head.Bytes;

    private protected override IEnumerable<WeightMatrix> OwnMatrices => [Fc, Head, .. Layer?.Matrices ?? []];
}
