using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// A trained draft folder loaded against its base model (config, weights, the base's frozen LM head): a
/// <see cref="FeatureLayerDraft"/> (CTC / EAGLE) or <see cref="MedusaHeadsDraft"/>, as its config says.
/// </summary>
internal abstract class DraftModule : IDisposable
{
    private protected readonly TensorStore Store;
    readonly bool _ownsLmHead;

    public DraftConfig Config { get; }
    public LlamaModel Base { get; }
    public string Folder { get; }
    /// <summary>The base's frozen LM head [vocab, hidden], as the draft reads it (see <see cref="FormatOf"/>).</summary>
    public WeightMatrix LmHead { get; }

    private protected DraftModule(string folder, LlamaModel baseModel, DraftConfig config)
    {
        Folder = folder;
        Base = baseModel;
        Config = config;
        Config.BaseModel.Check(BaseIdentity.Of(baseModel), Path.Combine(folder, "config.json"));
        ModelConfig b = baseModel.Config;
        if (Config.HiddenSize != b.HiddenSize || Config.VocabSize != b.VocabSize)
            throw new ModelFormatException(folder, $"draft hidden {Config.HiddenSize} / vocabulary {Config.VocabSize} differ from the base's {b.HiddenSize} / {b.VocabSize}");
        Store = TensorStore.Open(folder);
        RawTensor head = baseModel.Weights.LmHeadTensor();
        // A 4-bit base shares its LM head (whatever blocks the file gave it) rather than holding a second copy.
        WeightFormat headFormat = baseModel.Options.Format == WeightFormat.Q4
            ? baseModel.Weights.LmHead.Format : FormatOf(head, baseModel.Options.Format);
        _ownsLmHead = headFormat != baseModel.Weights.LmHead.Format;
        LmHead = _ownsLmHead ? WeightMatrix.Create(head, headFormat) : baseModel.Weights.LmHead;
    }

    /// <summary>Loads the draft folder as the kind its config names.</summary>
    public static DraftModule Load(string folder, LlamaModel baseModel)
    {
        DraftConfig config = DraftConfig.Load(folder);
        return config.Kind switch
        {
            DraftKind.Medusa => new MedusaHeadsDraft(folder, baseModel, config),
            DraftKind.Eagle3 or DraftKind.Eagle3Ctc => new Eagle3Draft(folder, baseModel, config),
            _ => new FeatureLayerDraft(folder, baseModel, config),
        };
    }

    /// <summary>A matrix of the draft file in the format it computes in.</summary>
    private protected WeightMatrix Matrix(string name, int rows, int cols)
    {
        RawTensor t = Store.Get(name, rows, cols);
        return WeightMatrix.Create(t, FormatOf(t, Base.Options.Format));
    }

    /// <summary>
    /// The format a draft weight computes in: the base's, except that with an f32 base a tensor stored in bf16
    /// stays bf16 - the same values, half the bytes read per draft step (draft steps are small matrix-vector
    /// products, bound by the bytes they read). With a 4-bit base the draft computes in q8: its matrices are a few
    /// percent of the bytes of a step, and its acceptance is what they buy. Q8 blocks are 32 weights of one row, so
    /// other row lengths stay f32.
    /// </summary>
    static WeightFormat FormatOf(in RawTensor t, WeightFormat baseFormat) => baseFormat switch
    {
        WeightFormat.F32 when t.DType == TensorDType.BF16 => WeightFormat.BF16,
        WeightFormat.Q8 or WeightFormat.Q4 when t.Shape[^1] % 32 != 0 => WeightFormat.F32,
        WeightFormat.Q4 => WeightFormat.Q8,
        _ => baseFormat,
    };

    /// <summary>Bytes of draft weights read per draft step (excluding the LM head).</summary>
    public abstract long Bytes { get; }

    private protected abstract IEnumerable<WeightMatrix> OwnMatrices { get; }

    public void Dispose()
    {
        if (_ownsLmHead) LmHead?.Dispose();
        foreach (var m in OwnMatrices) m?.Dispose();
        Store?.Dispose();
    }
}
