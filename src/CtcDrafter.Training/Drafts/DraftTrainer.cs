using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Distill;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Pretraining;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Trains a draft network on distilled data: AdamW, linear warm-up then linear or cosine decay, gradient clipping by
/// value, input-feature noise, a held-out split (about 2 % of the samples, by a hash of their ids) evaluated for loss
/// and per-depth agreement with the base model's greedy tokens, checkpoints every few minutes from which
/// <see cref="Resume"/> continues exactly, and export to an engine draft folder with a card.
/// </summary>
internal sealed class DraftTrainer : IDisposable
{
    const int HeldOutOneIn = 50;

    readonly string _runFolder;
    readonly string _dataFolder;
    readonly LlamaModel _base;
    readonly List<DistillSample> _train;
    readonly List<DistillSample> _heldOut;
    readonly AdamW _optimizer;
    int _cachedEpoch = -1;
    readonly Dictionary<string, ushort[]> _layerStates = new(StringComparer.Ordinal); // sample id -> [pairs, layers * hidden] bf16
    int[] _order = [];

    DraftTrainer(string runFolder, string dataFolder, LlamaModel baseModel, List<DistillSample> samples, DraftTrainingState state)
    {
        (_runFolder, _dataFolder, _base, State) = (runFolder, dataFolder, baseModel, state);
        var config = state.Config;
        config.Validate();
        // A sample whose answer is empty or EOS alone (within max_length) has no pair to learn from.
        int eos = baseModel.Config.EosTokenIds[0];
        samples = samples.Where(s => Enumerable.Range(1, Math.Min(s.Length, config.MaxLength) - 1).Any(j => s.Mask[j] == 1 && s.Tokens[j] != eos)).ToList();
        _heldOut = samples.Where(IsHeldOut).ToList();
        if (_heldOut.Count == 0 && samples.Count >= 2) _heldOut.Add(samples.MinBy(s => Hash(s.Id))!);
        _train = samples.Except(_heldOut).ToList();
        if (_train.Count == 0 || _heldOut.Count == 0)
            throw new TrainingInputException($"{dataFolder}: {samples.Count} distilled samples are too few for a training and a held-out split");
        Frozen = FrozenBase.From(baseModel);
        Network = config.Kind switch
        {
            DraftKind.Medusa => new MedusaHeads(Frozen, config.MedusaHeads),
            DraftKind.CtcNar => new CtcNarDraft(FeatureChainDraft.LayerConfig(baseModel.Config), Frozen, config.FutureTokens, config.Upsampling),
            DraftKind.Eagle3 or DraftKind.Eagle3Ctc => new Eagle3ChainDraft(Eagle3ChainDraft.LayerConfig(baseModel.Config), Frozen,
                Eagle3ChainDraft.DefaultLayers(baseModel.Config.NumLayers), config.TestSteps, config.TestAnchors, config.Kind),
            _ => new FeatureChainDraft(FeatureChainDraft.LayerConfig(baseModel.Config), Frozen, config.Kind, config.Blank),
        };
        _optimizer = optim.AdamW(Network.parameters(), lr: config.LearningRate, beta1: config.Beta1, beta2: config.Beta2, weight_decay: 0);
        State.TotalSteps = config.Steps > 0 ? config.Steps : (long)Math.Ceiling(config.Epochs * _train.Count / config.BatchSize);
    }

    public FrozenBase Frozen { get; }
    public DraftNetwork Network { get; }
    public DraftTrainingState State { get; }
    public int TrainSamples => _train.Count;
    public int HeldOutSamples => _heldOut.Count;

    /// <summary>A new run on the distilled data in <paramref name="dataFolder"/>, which must come from <paramref name="baseModel"/>.</summary>
    public static DraftTrainer Start(DraftTrainConfig config, LlamaModel baseModel, string dataFolder, string runFolder)
    {
        config.Validate();
        var samples = ReadData(dataFolder, baseModel);
        var identity = BaseIdentity.Of(baseModel);
        random.manual_seed(config.Seed);
        var state = new DraftTrainingState
        {
            Config = config, BaseName = identity.Name, BaseConfigHash = identity.ConfigHash, BaseLmHeadHash = identity.LmHeadHash,
            DataFingerprint = Fingerprint(samples),
        };
        var trainer = new DraftTrainer(runFolder, dataFolder, baseModel, samples, state);
        if (config.InitFrom is not string init) return trainer;
        try { trainer.Initialized = DraftInitialization.From(trainer.Network, init, baseModel); }
        catch { trainer.Dispose(); throw; }
        return trainer;
    }

    /// <summary>The tensors a new run took from its <see cref="DraftTrainConfig.InitFrom"/> draft and those it left fresh.</summary>
    public (List<string> Taken, List<string> Fresh)? Initialized { get; private set; }

    /// <summary>Continues the run in <paramref name="runFolder"/>; only its length may change.</summary>
    public static DraftTrainer Resume(string runFolder, LlamaModel baseModel, string dataFolder, long? steps, double? epochs)
    {
        var (state, payload, offset) = Checkpoint.Read<DraftTrainingState>(runFolder);
        var identity = BaseIdentity.Of(baseModel);
        if (state.BaseConfigHash != identity.ConfigHash || state.BaseLmHeadHash != identity.LmHeadHash)
            throw new TrainingInputException($"{Checkpoint.PathIn(runFolder)}: this run trains a draft for base model '{state.BaseName}', not for '{identity.Name}'");
        var samples = ReadData(dataFolder, baseModel);
        if (Fingerprint(samples) != state.DataFingerprint)
            throw new TrainingInputException($"{Checkpoint.PathIn(runFolder)}: the distilled data in {dataFolder} differs from the data this run was trained on");
        var config = state.Config;
        if (steps is { } s) config = config with { Steps = s };
        if (epochs is { } e) config = config with { Steps = 0, Epochs = e };
        state = state with { Config = config };
        var trainer = new DraftTrainer(runFolder, dataFolder, baseModel, samples, state);
        try
        {
            Checkpoint.LoadTensors(payload, offset, trainer.Network, trainer._optimizer);
        }
        catch (Exception x) when (x is not TrainingInputException)
        {
            trainer.Dispose();
            throw new TrainingInputException($"corrupt checkpoint {Checkpoint.PathIn(runFolder)}: {x.Message}", x);
        }
        random.set_rng_state(tensor(Convert.FromBase64String(state.RngState)));
        return trainer;
    }

    /// <summary>The distilled samples, checked to come from <paramref name="baseModel"/>.</summary>
    static List<DistillSample> ReadData(string dataFolder, LlamaModel baseModel)
    {
        var (header, samples) = DistillStore.Read(dataFolder);
        var identity = BaseIdentity.Of(baseModel);
        if (header.Base.ConfigHash != identity.ConfigHash || header.Base.LmHeadHash != identity.LmHeadHash
            || header.HiddenSize != baseModel.Config.HiddenSize || header.VocabSize != baseModel.Config.VocabSize)
            throw new TrainingInputException($"{Path.Combine(dataFolder, DistillStore.IndexFile)}: the data was distilled from base model " +
                $"'{header.Base.Name}' (config {header.Base.ConfigHash}, LM head {header.Base.LmHeadHash}), not from '{identity.Name}' " +
                $"(config {identity.ConfigHash}, LM head {identity.LmHeadHash}): distill it again with --model {baseModel.Folder}");
        return samples;
    }

    static bool IsHeldOut(DistillSample s) => Hash(s.Id) % HeldOutOneIn == 0;

    static ulong Hash(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text) hash = (hash ^ c) * 1099511628211UL;
        return hash;
    }

    static string Fingerprint(List<DistillSample> samples)
    {
        ulong hash = Hash(string.Join('\n', samples.Select(s => s.Id)));
        foreach (int token in samples.SelectMany(s => s.Tokens)) hash = (hash ^ (uint)token) * 1099511628211UL;
        return hash.ToString("x16");
    }

    /// <summary>Trains until the last step (cancellation stops after the current step with a checkpoint); returns whether it got there.</summary>
    public bool Run(Action<TrainingEvent> report, CancellationToken cancellation = default)
    {
        var config = State.Config;
        var sinceCheckpoint = Stopwatch.StartNew();
        double secondsPerStep = 0;
        Network.train();
        while (State.Step < State.TotalSteps)
        {
            ThreadControl.Apply(_runFolder);
            var clock = Stopwatch.StartNew();
            long warmup = (long)Math.Round(config.WarmupFraction * State.TotalSteps);
            double lr = LearningRateSchedule.At(State.Step, State.TotalSteps, warmup, config.LearningRate, config.MinLearningRate, config.Cosine);
            var (loss, pairs) = TrainStep(lr);
            double seconds = clock.Elapsed.TotalSeconds;

            State.Step++;
            State.PairsSeen += pairs;
            State.ElapsedSeconds += seconds;
            State.TrainLosses.Add(loss);
            secondsPerStep = secondsPerStep == 0 ? seconds : 0.9 * secondsPerStep + 0.1 * seconds;
            report(new StepCompleted(State.Step, State.TotalSteps, loss, lr, pairs / seconds,
                TimeSpan.FromSeconds(State.ElapsedSeconds), TimeSpan.FromSeconds(secondsPerStep * (State.TotalSteps - State.Step))));

            bool last = State.Step == State.TotalSteps;
            if (last || (config.EvalInterval > 0 && State.Step % config.EvalInterval == 0))
                report(new DraftEvaluated(Evaluate()));
            if (last || cancellation.IsCancellationRequested || sinceCheckpoint.Elapsed.TotalMinutes >= config.CheckpointMinutes)
            {
                SaveCheckpoint();
                report(new CheckpointSaved(State.Step, Checkpoint.PathIn(_runFolder)));
                sinceCheckpoint.Restart();
            }
            if (cancellation.IsCancellationRequested) return false;
        }
        return true;
    }

    /// <summary>The samples of step <paramref name="step"/>: consecutive slices of per-epoch permutations.</summary>
    List<DistillSample> BatchOf(long step)
    {
        var batch = new List<DistillSample>(State.Config.BatchSize);
        for (int j = 0; j < State.Config.BatchSize; j++)
        {
            long sample = step * State.Config.BatchSize + j;
            int epoch = (int)(sample / _train.Count);
            if (epoch != _cachedEpoch) (_order, _cachedEpoch) = (SeededPermutation.Of(_train.Count, State.Config.Seed, epoch), epoch);
            batch.Add(_train[_order[sample % _train.Count]]);
        }
        return batch;
    }

    /// <summary>
    /// The pairs of <paramref name="samples"/>, with the base's layer states an EAGLE-3 draft reads: computed by the
    /// engine the first time a sample is used and kept in bf16 (as the distilled final states are) for the next epochs.
    /// </summary>
    DraftBatch Batch(IReadOnlyList<DistillSample> samples)
    {
        if (Network is not Eagle3ChainDraft eagle3) return DraftBatch.From(samples, Frozen, State.Config.MaxLength, _base.Config.EosTokenIds[0]);
        float[] States(DistillSample sample, int tokens)
        {
            if (!_layerStates.TryGetValue(sample.Id, out var bits))
            {
                float[] states = _base.SequenceStates(sample.Tokens[..tokens], eagle3.FeatureLayers);
                bits = new ushort[states.Length];
                for (int i = 0; i < states.Length; i++) bits[i] = Kernels.Conversions.F32ToBf16(states[i]);
                _layerStates[sample.Id] = bits;
            }
            var values = new float[bits.Length];
            for (int i = 0; i < bits.Length; i++) values[i] = Kernels.Conversions.Bf16ToF32(bits[i]);
            return values;
        }
        return DraftBatch.From(samples, Frozen, State.Config.MaxLength, _base.Config.EosTokenIds[0], States,
            eagle3.FeatureLayers.Length * _base.Config.HiddenSize);
    }

    (double Loss, long Pairs) TrainStep(double lr)
    {
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;
        _optimizer.zero_grad();
        double loss;
        long pairs;
        using (var scope = NewDisposeScope())
        {
            using var batch = Batch(BatchOf(State.Step));
            var random = new Random((int)(State.Config.Seed * 1_000_003 + State.Step));
            var (lossTensor, _) = Network.Loss(batch, State.Config.LossSettings, random);
            lossTensor.backward();
            loss = lossTensor.item<float>();
            pairs = batch.Counted.Length;
            if (State.Config.GradClip > 0) nn.utils.clip_grad_value_(Network.parameters(), State.Config.GradClip);
        }
        using (NewDisposeScope()) _optimizer.step();
        return (loss, pairs);
    }

    /// <summary>
    /// Held-out loss, and per-depth top-1 agreement with the base model's greedy tokens from up to eval_anchors chain
    /// starts per sample (depth 1 teacher-forced, deeper ones by the draft's own chain as the engine drafts it; a
    /// ctc draft's token at a depth is its most likely real token, the blank excluded, as the chain continues with;
    /// a ctc-nar draft's tokens are its frames' best path collapsed, so its prefix accuracy at d is the exact match
    /// of the first d tokens).
    /// </summary>
    public DraftEvaluation Evaluate()
    {
        var config = State.Config;
        int depth = config.Kind switch
        {
            DraftKind.Medusa => Math.Min(config.Depth, config.MedusaHeads),
            DraftKind.CtcNar => Math.Min(config.Depth, config.FutureTokens),
            _ => config.Depth,
        };
        var correct = new long[depth];
        var prefix = new long[depth];
        long anchors = 0;
        double lossSum = 0, weightSum = 0;
        Network.eval();
        using (no_grad())
        {
            for (int first = 0; first < _heldOut.Count; first += config.BatchSize)
                using (NewDisposeScope())
                {
                    using var batch = Batch(_heldOut.Skip(first).Take(config.BatchSize).ToList());
                    double weight = batch.Counted.Length;
                    var (loss, _) = Network.Loss(batch, config.LossSettings, random: null);
                    lossSum += loss.item<float>() * weight;
                    weightSum += weight;
                }
            foreach (var sample in _heldOut)
                using (NewDisposeScope())
                {
                    using var batch = Batch([sample]);
                    var starts = batch.Windows(depth).Select(w => (long)w.Pair).ToList();
                    if (starts.Count == 0) continue;
                    int take = Math.Min(config.EvalAnchors, starts.Count);
                    long[] chosen = Enumerable.Range(0, take).Select(i => starts[(int)((long)i * starts.Count / take)]).ToArray();
                    long[,] tokens = ToMatrix(Network.DepthTokens(batch, chosen, depth), depth, take);
                    long[] greedy = batch.Greedy[0].data<long>().ToArray();
                    for (int a = 0; a < take; a++)
                    {
                        bool all = true;
                        for (int d = 0; d < depth; d++)
                        {
                            bool ok = tokens[d, a] == greedy[chosen[a] + d];
                            all &= ok;
                            if (ok) correct[d]++;
                            if (all) prefix[d]++;
                        }
                    }
                    anchors += take;
                }
        }
        Network.train();
        var evaluation = new DraftEvaluation(State.Step, lossSum / Math.Max(1, weightSum),
            correct.Select(c => (double)c / Math.Max(1, anchors)).ToArray(), prefix.Select(c => (double)c / Math.Max(1, anchors)).ToArray(), (int)anchors);
        State.Evaluations.Add(evaluation);
        return evaluation;
    }

    /// <summary>The temperatures the score temperature is chosen from: 0.05 to 1 by 0.05, then to 3 by 0.1.</summary>
    static readonly double[] ScoreTemperatures =
        [.. Enumerable.Range(1, 20).Select(i => i * 0.05), .. Enumerable.Range(11, 20).Select(i => i * 0.1)];

    /// <summary>
    /// The draft's score temperature, fitted on the held-out split: the temperature of <see cref="ScoreTemperatures"/>
    /// under which the scores the drafter grows its trees with give the base model's greedy tokens the least mean
    /// negative log-likelihood (<see cref="DraftNetwork.ScoreLosses"/>), with that likelihood at 1 and at the fit.
    /// </summary>
    public ScoreTemperatureFit FitScoreTemperature()
    {
        var config = State.Config;
        var sums = new double[ScoreTemperatures.Length];
        long count = 0;
        Network.eval();
        using (no_grad())
            for (int first = 0; first < _heldOut.Count; first += config.BatchSize)
                using (NewDisposeScope())
                {
                    using var batch = Batch(_heldOut.Skip(first).Take(config.BatchSize).ToList());
                    var (batchSums, batchCount) = Network.ScoreLosses(batch, config.LossSettings, ScoreTemperatures);
                    for (int t = 0; t < sums.Length; t++) sums[t] += batchSums[t];
                    count += batchCount;
                }
        Network.train();
        if (count == 0) return new ScoreTemperatureFit(1, double.NaN, double.NaN);
        int best = Enumerable.Range(0, sums.Length).MinBy(t => sums[t]);
        int one = Array.IndexOf(ScoreTemperatures, ScoreTemperatures.MinBy(t => Math.Abs(t - 1)));
        return new ScoreTemperatureFit(Math.Round(ScoreTemperatures[best], 2), sums[one] / count, sums[best] / count);
    }

    static long[,] ToMatrix(Tensor t, int rows, int cols)
    {
        using (t)
        {
            var values = t.data<long>().ToArray();
            var m = new long[rows, cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) m[r, c] = values[r * cols + c];
            return m;
        }
    }

    public void SaveCheckpoint()
    {
        using (var rng = random.get_rng_state())
            State.RngState = Convert.ToBase64String(rng.bytes.ToArray());
        Checkpoint.Save(_runFolder, State, Network, _optimizer);
    }

    /// <summary>Writes the draft folder with its training summary and card.</summary>
    public void Export(string folder, ExportDType dtype)
    {
        var fit = FitScoreTemperature();
        var summary = DraftCard.Summary(this, Path.GetFileName(Path.GetFullPath(_dataFolder).TrimEnd('/')), _train.Concat(_heldOut).ToList(), fit);
        DraftExporter.Export(folder, Network, BaseIdentity.Of(_base), summary,
            DraftCard.Render(Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')), _base.Folder, summary), dtype,
            double.IsFinite(fit.HeldOutNll) ? (float)fit.Temperature : null);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        Network.Dispose();
        Frozen.Dispose();
    }
}

/// <summary>A draft's fitted score temperature and the held-out negative log-likelihood per term at 1 and at the fit.</summary>
internal sealed record ScoreTemperatureFit(double Temperature, double NllAtOne, double HeldOutNll);
