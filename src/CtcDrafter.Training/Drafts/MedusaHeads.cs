using CtcDrafter.Drafters;
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
        int P = batch.Pairs, H = Base.HiddenSize;
        var features = batch.Features.reshape(-1, H);
        var greedy = batch.Greedy.reshape(-1);
        var parts = new Dictionary<string, double>();
        Tensor? total = null;
        for (int k = 0; k < _heads.Count; k++)
        {
            // Head k fed h_j predicts g_{j+k+1} = Greedy[j + k]: one term per counted pair q = j + k of the same row.
            long[] targets = batch.Counted.Where(q => q % P >= k).ToArray();
            if (targets.Length == 0) continue;
            var logits = _heads[k].forward(features.index_select(0, tensor(targets.Select(q => q - k).ToArray()))); // [M, V]
            var loss = nn.functional.cross_entropy(logits, greedy.index_select(0, tensor(targets)));
            parts[$"head{k}"] = loss.item<float>();
            total = total is null ? loss : total + loss;
        }
        if (total is null) throw new ArgumentException("the batch has no answer positions to train on");
        return ((total / parts.Count).MoveToOuterDisposeScope(), parts);
    }

    public override (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int P = batch.Pairs;
        var features = batch.Features.reshape(-1, Base.HiddenSize);
        var greedy = batch.Greedy.reshape(-1);
        var sums = new double[temperatures.Length];
        long count = 0;
        for (int k = 0; k < _heads.Count; k++)
        {
            long[] targets = batch.Counted.Where(q => q % P >= k).ToArray(); // as in Loss
            if (targets.Length == 0) continue;
            var logits = _heads[k].forward(features.index_select(0, tensor(targets.Select(q => q - k).ToArray())));
            double[] head = CrossEntropies(logits, greedy.index_select(0, tensor(targets)), temperatures);
            for (int t = 0; t < sums.Length; t++) sums[t] += head[t];
            count += targets.Length;
        }
        return (sums, count);
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
