using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// A trained draft folder loaded against its base model: the CTC/EAGLE module (fc over [embedding; feature]
/// with bias, one decoder layer without input norm, no final norm, the base's frozen embedding and LM head, and
/// for CTC with its own blank an extra output row) or Medusa heads (ResBlock + head each).
/// </summary>
internal sealed class DraftModule : IDisposable
{
    readonly TensorStore _store;

    public DraftConfig Config { get; }
    public LlamaModel Base { get; }
    public string Folder { get; }
    /// <summary>The base's frozen LM head [vocab, hidden], as the draft reads it (see <see cref="FormatOf"/>).</summary>
    public WeightMatrix LmHead { get; }
    readonly bool _ownsLmHead;

    // ctc / eagle
    public WeightMatrix? Fc { get; }            // [hidden, 2 * hidden]: input = [embedding; feature]
    public float[]? FcBias { get; }             // [hidden]
    public LayerWeights? Layer { get; }
    public float[]? BlankRow { get; }           // [hidden] (blank = own)

    // medusa
    public WeightMatrix[] ResBlocks { get; } = []; // [heads][hidden, hidden]
    public float[][] ResBiases { get; } = [];      // [heads][hidden]
    public WeightMatrix[] Heads { get; } = [];     // [heads][vocab, hidden]

    public DraftModule(string folder, LlamaModel baseModel)
    {
        Folder = folder;
        Base = baseModel;
        Config = DraftConfig.Load(folder);
        Config.BaseModel.Check(BaseIdentity.Of(baseModel), Path.Combine(folder, "config.json"));
        ModelConfig b = baseModel.Config;
        if (Config.HiddenSize != b.HiddenSize || Config.VocabSize != b.VocabSize)
            throw new ModelFormatException(folder, $"draft hidden {Config.HiddenSize} / vocabulary {Config.VocabSize} differ from the base's {b.HiddenSize} / {b.VocabSize}");
        _store = new TensorStore(folder);
        try
        {
            int h = Config.HiddenSize;
            WeightMatrix M(string name, int rows, int cols)
            {
                RawTensor t = _store.Get(name, rows, cols);
                return WeightMatrix.Create(t, FormatOf(t, baseModel.Options.Format));
            }
            RawTensor head = baseModel.Weights.LmHeadTensor();
            WeightFormat headFormat = FormatOf(head, baseModel.Options.Format);
            _ownsLmHead = headFormat != baseModel.Weights.LmHead.Format;
            LmHead = _ownsLmHead ? WeightMatrix.Create(head, headFormat) : baseModel.Weights.LmHead;
            if (Config.Kind == DraftKind.Medusa)
            {
                int k = Config.MedusaHeads;
                ResBlocks = Enumerable.Range(0, k).Select(i => M($"medusa.{i}.resblock.weight", h, h)).ToArray();
                ResBiases = Enumerable.Range(0, k).Select(i => _store.GetVector($"medusa.{i}.resblock.bias", h)).ToArray();
                Heads = Enumerable.Range(0, k).Select(i => M($"medusa.{i}.head.weight", Config.VocabSize, h)).ToArray();
            }
            else
            {
                ModelConfig lc = Config.LayerConfig(b);
                Fc = M("fc.weight", h, 2 * h);
                FcBias = _store.GetVector("fc.bias", h);
                Layer = new LayerWeights
                {
                    AttnNorm = null,
                    Wq = M("layers.0.self_attn.q_proj.weight", lc.QDim, h),
                    Wk = M("layers.0.self_attn.k_proj.weight", lc.KvDim, h),
                    Wv = M("layers.0.self_attn.v_proj.weight", lc.KvDim, h),
                    Wo = M("layers.0.self_attn.o_proj.weight", h, lc.QDim),
                    MlpNorm = _store.GetVector("layers.0.post_attention_layernorm.weight", h),
                    Gate = M("layers.0.mlp.gate_proj.weight", lc.IntermediateSize, h),
                    Up = M("layers.0.mlp.up_proj.weight", lc.IntermediateSize, h),
                    Down = M("layers.0.mlp.down_proj.weight", h, lc.IntermediateSize),
                };
                if (Config.Blank == BlankMode.Own)
                {
                    var row = new float[h];
                    Conversions.ReadF32(_store.Get("blank_head.weight", 1, h), 0, row);
                    BlankRow = row;
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The format a draft weight computes in: the base's, except that with an f32 base a tensor stored in bf16
    /// stays bf16 - the same values, half the bytes read per draft step (draft steps are small matrix-vector
    /// products, bound by the bytes they read). Q8 blocks are 32 weights of one row, so other row lengths stay f32.
    /// </summary>
    static WeightFormat FormatOf(in RawTensor t, WeightFormat baseFormat) => baseFormat switch
    {
        WeightFormat.F32 when t.DType == TensorDType.BF16 => WeightFormat.BF16,
        WeightFormat.Q8 when t.Shape[^1] % 32 != 0 => WeightFormat.F32,
        _ => baseFormat,
    };

    /// <summary>Bytes of draft weights read per draft step (excluding the LM head).</summary>
    public long Bytes => (Fc?.Bytes ?? 0) + (Layer?.Matrices.Sum(m => m.Bytes) ?? 0) + ResBlocks.Sum(m => m.Bytes) + Heads.Sum(m => m.Bytes);

    public void Dispose()
    {
        if (_ownsLmHead) LmHead?.Dispose();
        Fc?.Dispose();
        if (Layer is not null) foreach (var m in Layer.Matrices) m.Dispose();
        foreach (var m in ResBlocks.Concat(Heads)) m?.Dispose();
        _store?.Dispose();
    }
}
