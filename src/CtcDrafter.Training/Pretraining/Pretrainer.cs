using System.Diagnostics;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Pretraining;

/// <summary>
/// Pretrains a <see cref="LlamaForCausalLM"/> on a <see cref="TokenCorpus"/>: AdamW (weight decay on matrices only),
/// linear warm-up then cosine decay, gradient clipping by norm, held-out loss at intervals, and checkpoints every
/// few minutes from which <see cref="Resume"/> continues bit for bit.
/// </summary>
internal sealed class Pretrainer : IDisposable
{
    readonly string _runFolder;
    readonly SequenceBatcher _train;
    readonly HeldOutEvaluation _heldOut;
    readonly AdamW _optimizer;

    Pretrainer(string runFolder, TokenCorpus corpus, TrainingState state, LlamaForCausalLM model)
    {
        _runFolder = runFolder;
        State = state;
        Model = model;
        var config = state.Config;
        _train = new SequenceBatcher(corpus.Train, config.SeqLen, config.BatchSize, config.Seed);
        if (_train.SequencesPerEpoch == 0)
            throw new TrainingInputException($"the corpus is shorter than one sequence of {config.SeqLen} tokens");
        _heldOut = new HeldOutEvaluation(corpus, config);

        var decay = model.named_parameters().Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).ToList();
        var noDecay = model.named_parameters().Where(p => p.parameter.dim() < 2).Select(p => p.parameter).ToList();
        _optimizer = optim.AdamW(
            [
                new AdamW.ParamGroup(decay, new AdamW.Options { weight_decay = config.WeightDecay }),
                new AdamW.ParamGroup(noDecay, new AdamW.Options { weight_decay = 0 }),
            ],
            lr: config.LearningRate, beta1: config.Beta1, beta2: config.Beta2, eps: config.AdamEps);
    }

    public LlamaForCausalLM Model { get; }
    public TrainingState State { get; }
    public long SequencesPerEpoch => _train.SequencesPerEpoch;

    /// <summary>
    /// A new run: the model is initialised from the config's seed, or with the weights of the model folder
    /// <paramref name="initFrom"/> (which must have the config's shape).
    /// </summary>
    public static Pretrainer Start(PretrainConfig config, TokenCorpus corpus, string runFolder, string? initFrom = null)
    {
        random.manual_seed(config.Seed);
        var model = initFrom is null ? new LlamaForCausalLM(config.Model) : Export.HuggingFaceLoader.Load(initFrom);
        if (model.Config != config.Model)
        {
            model.Dispose();
            throw new TrainingInputException($"{initFrom}: its config.json does not have the run's model shape");
        }
        var state = new TrainingState
        {
            Config = config, CorpusFingerprint = corpus.Fingerprint(),
            InitializedFrom = initFrom is null ? null : Path.GetFullPath(initFrom),
        };
        var trainer = new Pretrainer(runFolder, corpus, state, model);
        state.TotalSteps = config.TotalSteps(trainer.SequencesPerEpoch);
        return trainer;
    }

    /// <summary>The config of the run in <paramref name="runFolder"/>, read from its checkpoint.</summary>
    public static PretrainConfig ReadConfig(string runFolder) => Checkpoint.Read<TrainingState>(runFolder).State.Config;

    /// <summary>Continues the run in <paramref name="runFolder"/> from its checkpoint; overrides may change its length.</summary>
    public static Pretrainer Resume(string runFolder, TokenCorpus corpus, IReadOnlyList<string> overrides)
    {
        var (state, payload, offset) = Checkpoint.Read<TrainingState>(runFolder);
        state = Continued(state, corpus, overrides, Checkpoint.PathIn(runFolder));
        var trainer = new Pretrainer(runFolder, corpus, state, new LlamaForCausalLM(state.Config.Model));
        try
        {
            Checkpoint.LoadTensors(payload, offset, trainer.Model, trainer._optimizer);
        }
        catch (Exception e) when (e is not TrainingInputException)
        {
            trainer.Dispose();
            throw new TrainingInputException($"corrupt checkpoint {Checkpoint.PathIn(runFolder)}: {e.Message}", e);
        }
        return trainer.Restored();
    }

    /// <summary>
    /// Continues the run carried in the model folder <paramref name="carried"/> (see <see cref="CarriedRun"/>) in the
    /// new run folder <paramref name="runFolder"/>: its weights, step and records, a fresh optimizer.
    /// </summary>
    public static Pretrainer ResumeCarried(string carried, string runFolder, TokenCorpus corpus, IReadOnlyList<string> overrides)
    {
        var state = Continued(CarriedRun.ReadState(carried), corpus, overrides, Path.Combine(carried, CarriedRun.StateFileName));
        state.OptimizerRestarts.Add(state.Step);
        var model = Export.HuggingFaceLoader.Load(carried);
        if (model.Config != state.Config.Model)
        {
            model.Dispose();
            throw new TrainingInputException($"{carried}: its config.json does not have the shape its training state records");
        }
        return new Pretrainer(runFolder, corpus, state, model).Restored();
    }

    static TrainingState Continued(TrainingState state, TokenCorpus corpus, IReadOnlyList<string> overrides, string source)
    {
        if (state.CorpusFingerprint != corpus.Fingerprint())
            throw new TrainingInputException($"{source}: the corpus or tokenizer differs from the one this run was trained on");
        var config = state.Config.With(overrides, "--set");
        if (config.Model != state.Config.Model || config.SeqLen != state.Config.SeqLen
            || config.BatchSize != state.Config.BatchSize || config.Seed != state.Config.Seed)
            throw new TrainingInputException("the model shape, seq_len, batch_size and seed cannot change when resuming");
        return state with { Config = config };
    }

    Pretrainer Restored()
    {
        random.set_rng_state(tensor(Convert.FromBase64String(State.RngState)));
        State.TotalSteps = State.Config.TotalSteps(SequencesPerEpoch);
        return this;
    }

    /// <summary>
    /// Trains until the last step, reporting through <paramref name="report"/>. Cancellation stops after the
    /// current step with a checkpoint; returns whether the run reached its last step.
    /// </summary>
    public bool Run(Action<TrainingEvent> report, CancellationToken cancellation = default)
    {
        var config = State.Config;
        long tokensPerStep = (long)config.BatchSize * config.SeqLen;
        var sinceCheckpoint = Stopwatch.StartNew();
        double secondsPerStep = 0;
        Model.train();
        while (State.Step < State.TotalSteps)
        {
            ThreadControl.Apply(_runFolder);
            var clock = Stopwatch.StartNew();
            double lr = LearningRateSchedule.At(State.Step, State.TotalSteps, config)
                * CarriedRun.RewarmFactor(State.Step, State.OptimizerRestarts);
            double loss = TrainStep(lr);
            double seconds = clock.Elapsed.TotalSeconds;

            State.Step++;
            State.TokensSeen += tokensPerStep;
            State.ElapsedSeconds += seconds;
            State.TrainLosses.Add(loss);
            secondsPerStep = secondsPerStep == 0 ? seconds : 0.9 * secondsPerStep + 0.1 * seconds;
            report(new StepCompleted(State.Step, State.TotalSteps, loss, lr, tokensPerStep / secondsPerStep,
                TimeSpan.FromSeconds(State.ElapsedSeconds), TimeSpan.FromSeconds(secondsPerStep * (State.TotalSteps - State.Step))));

            bool last = State.Step == State.TotalSteps;
            if (last || (config.EvalInterval > 0 && State.Step % config.EvalInterval == 0))
                report(new Evaluated(State.Step, Evaluate()));
            if (last || cancellation.IsCancellationRequested
                || sinceCheckpoint.Elapsed.TotalMinutes >= config.CheckpointMinutes
                || (config.CheckpointSteps > 0 && State.Step % config.CheckpointSteps == 0))
            {
                SaveCheckpoint();
                report(new CheckpointSaved(State.Step, Checkpoint.PathIn(_runFolder)));
                sinceCheckpoint.Restart();
            }
            if (cancellation.IsCancellationRequested) return false;
        }
        return true;
    }

    double TrainStep(double lr)
    {
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;
        _optimizer.zero_grad();
        double loss;
        using (var scope = NewDisposeScope())
        {
            var (inputs, targets) = _train.Batch(State.Step);
            var (logits, _) = Model.forward(inputs);
            var lossTensor = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), targets.view(-1));
            lossTensor.backward();
            loss = lossTensor.item<float>();
            if (State.Config.GradClip > 0) nn.utils.clip_grad_norm_(Model.parameters(), State.Config.GradClip);
        }
        using (NewDisposeScope()) _optimizer.step();
        return loss;
    }

    /// <summary>The held-out loss now (<see cref="HeldOutEvaluation"/>), recorded in the state.</summary>
    public double Evaluate()
    {
        var point = _heldOut.Evaluate(Model, State.Step);
        State.Evaluations.Add(point);
        return point.Loss;
    }

    public void SaveCheckpoint()
    {
        using (var rng = random.get_rng_state())
            State.RngState = Convert.ToBase64String(rng.bytes.ToArray());
        Checkpoint.Save(_runFolder, State, Model, _optimizer);
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        Model.Dispose();
    }
}
