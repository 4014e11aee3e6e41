using CtcDrafter.Drafters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Medusa-1 heads on the base model's final hidden state h: head k computes r = h + SiLU(W_k h + b_k) (W_k
/// zero-initialised, so training starts from r = h + SiLU(b_k)) and its own logits through a Linear(hidden ->
/// vocab) initialised from the base LM head; head k predicts the token k + 2 positions after h's position (the base
/// LM head on h predicts the next one, the root). Tensor names are the engine's: medusa.{k}.resblock.weight/bias,
/// medusa.{k}.head.weight.
/// </summary>
internal sealed class MedusaHeads : DraftNetwork
{
    readonly ModuleList<MedusaHead> _heads;

    public MedusaHeads(FrozenBase frozen, int heads) : base(nameof(MedusaHeads), frozen)
    {
        if (heads <= 0) throw new ArgumentException($"a Medusa draft needs at least one head (got {heads})");
        _heads = nn.ModuleList(Enumerable.Range(0, heads).Select(_ => new MedusaHead(frozen)).ToArray());
        register_module("medusa", _heads);
    }

    public override DraftKind Kind => DraftKind.Medusa;

    public int Count => _heads.Count;

    /// <summary>hidden [.., hidden] -> logits [heads, .., vocab].</summary>
    public Tensor Logits(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        return stack(_heads.Select(h => h.forward(hidden))).MoveToOuterDisposeScope();
    }

    public override (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random)
    {
        using var scope = NewDisposeScope();
        int P = batch.Pairs, V = Base.VocabSize;
        var parts = new Dictionary<string, double>();
        Tensor? total = null;
        for (int k = 0; k < _heads.Count && k < P; k++)
        {
            // Head k fed h_j predicts g_{j+k+1} = Greedy[j + k], which counts where pair j + k does.
            var logits = _heads[k].forward(batch.Features.narrow(1, 0, P - k));            // [B, P - k, V]
            var weight = batch.Weight.narrow(1, k, P - k);
            var ce = nn.functional.cross_entropy(logits.reshape(-1, V), batch.Greedy.narrow(1, k, P - k).reshape(-1),
                reduction: nn.Reduction.None).view_as(weight);
            var loss = (ce * weight).sum() / weight.sum().clamp_min(1);
            parts[$"head{k}"] = loss.item<float>();
            total = total is null ? loss : total + loss;
        }
        return ((total! / _heads.Count).MoveToOuterDisposeScope(), parts);
    }

    public override Tensor DepthTokens(DraftBatch batch, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var h = batch.Features[0].index_select(0, tensor(anchors)); // [A, H]
        var logits = Logits(h).narrow(0, 0, Math.Min(depth, _heads.Count)); // [depth, A, V]
        return logits.argmax(-1).MoveToOuterDisposeScope();
    }

    public override DraftConfig Config(BaseIdentity identity) => new()
    {
        Kind = DraftKind.Medusa, BaseModel = identity, HiddenSize = Base.HiddenSize, VocabSize = Base.VocabSize,
        MedusaHeads = _heads.Count, Blank = BlankMode.None,
    };

    /// <summary>One head: resblock [hidden, hidden] + bias, head [vocab, hidden].</summary>
    internal sealed class MedusaHead : nn.Module<Tensor, Tensor>
    {
        readonly Linear _resblock;
        readonly Linear _head;

        public MedusaHead(FrozenBase frozen) : base(nameof(MedusaHead))
        {
            _resblock = nn.Linear(frozen.HiddenSize, frozen.HiddenSize, hasBias: true);
            _head = nn.Linear(frozen.HiddenSize, frozen.VocabSize, hasBias: false);
            using (no_grad())
            {
                _resblock.weight!.zero_();
                _head.weight!.copy_(frozen.LmHead);
            }
            register_module("resblock", _resblock);
            register_module("head", _head);
        }

        protected override void RegisterComponents() { }

        /// <summary>h [.., hidden] -> logits [.., vocab].</summary>
        public override Tensor forward(Tensor h)
        {
            using var scope = NewDisposeScope();
            return _head.forward(h + nn.functional.silu(_resblock.forward(h))).MoveToOuterDisposeScope();
        }
    }
}
