using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The CTC / EAGLE draft module: fc over [embedding; feature] with bias, one decoder layer without input norm,
/// no final norm (q/k/v biases when its config says so, as a Qwen2 base's layers have), the base's frozen
/// embedding and LM head, and for a CTC draft with its own blank an extra output row. A ctc-nar draft also has
/// its frames' learned embeddings.
/// </summary>
internal sealed class FeatureLayerDraft : DraftModule
{
    public WeightMatrix Fc { get; }          // [hidden, 2 * hidden]: input = [embedding; feature]
    public float[] FcBias { get; }           // [hidden]
    public LayerWeights Layer { get; }
    public float[]? BlankRow { get; }        // [hidden] (blank = own)
    public float[]? FrameEmbeddings { get; } // [frames, hidden] (ctc-nar)

    public FeatureLayerDraft(string folder, LlamaModel baseModel, DraftConfig config) : base(folder, baseModel, config)
    {
        try
        {
            int h = Config.HiddenSize;
            ModelConfig lc = Config.LayerConfig(baseModel.Config);
            Fc = Matrix("fc.weight", h, 2 * h);
            FcBias = Store.GetVector("fc.bias", h);
            Layer = new LayerWeights
            {
                AttnNorm = null,
                Wq = Matrix("layers.0.self_attn.q_proj.weight", lc.QDim, h),
                Wk = Matrix("layers.0.self_attn.k_proj.weight", lc.KvDim, h),
                Wv = Matrix("layers.0.self_attn.v_proj.weight", lc.KvDim, h),
                Wo = Matrix("layers.0.self_attn.o_proj.weight", h, lc.QDim),
                MlpNorm = Store.GetVector("layers.0.post_attention_layernorm.weight", h),
                Gate = Matrix("layers.0.mlp.gate_proj.weight", lc.IntermediateSize, h),
                Up = Matrix("layers.0.mlp.up_proj.weight", lc.IntermediateSize, h),
                Down = Matrix("layers.0.mlp.down_proj.weight", h, lc.IntermediateSize),
                Bq = Config.QkvBias ? Store.GetVector("layers.0.self_attn.q_proj.bias", lc.QDim) : null,
                Bk = Config.QkvBias ? Store.GetVector("layers.0.self_attn.k_proj.bias", lc.KvDim) : null,
                Bv = Config.QkvBias ? Store.GetVector("layers.0.self_attn.v_proj.bias", lc.KvDim) : null,
            };
            if (Config.Blank == BlankMode.Own)
            {
                var row = new float[h];
                Conversions.ReadF32(Store.Get("blank_head.weight", 1, h), 0, row);
                BlankRow = row;
            }
            if (Config.Kind == DraftKind.CtcNar)
            {
                var frames = new float[Config.Frames * h];
                Conversions.ReadF32(Store.Get("frame_embeddings.weight", Config.Frames, h), 0, frames);
                FrameEmbeddings = frames;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override long Bytes => Fc.Bytes + Layer.Matrices.Sum(m => m.Bytes);

    private protected override IEnumerable<WeightMatrix> OwnMatrices => Layer is null ? [Fc] : [Fc, .. Layer.Matrices];
}
