using CtcDrafter.Training.Pretraining;

namespace CtcDrafter.Training.Tests;

public class PretrainerTests
{
    sealed class Killed : Exception;

    [Fact]
    public void KilledRunResumesFromItsLastCheckpointWithTheSameLosses()
    {
        using var temp = new TempFolder();
        var (_, corpus) = TinyRun.Corpus(temp["data"]);
        const int steps = 24, every = 8, killAt = 21;

        List<double> uninterrupted;
        Directory.CreateDirectory(temp["a"]);
        using (var a = Pretrainer.Start(TinyRun.Config(steps, every), corpus, temp["a"]))
        {
            Assert.True(a.Run(_ => { }));
            uninterrupted = a.State.TrainLosses;
        }
        Assert.Equal(steps, uninterrupted.Count);
        Assert.True(uninterrupted.TakeLast(4).Average() < uninterrupted.Take(4).Average(), "the loss should fall");

        // The second run dies abruptly (no checkpoint on the way out) at step 21: the last checkpoint is step 16.
        Directory.CreateDirectory(temp["b"]);
        using (var b = Pretrainer.Start(TinyRun.Config(steps, every), corpus, temp["b"]))
            Assert.Throws<Killed>(() => b.Run(e =>
            {
                if (e is StepCompleted { Step: killAt }) throw new Killed();
            }));

        var resumedSteps = new List<long>();
        using var resumed = Pretrainer.Resume(temp["b"], corpus, []);
        Assert.Equal(16, resumed.State.Step);
        Assert.True(resumed.Run(e => { if (e is StepCompleted s) resumedSteps.Add(s.Step); }));
        Assert.Equal(Enumerable.Range(17, steps - 16).Select(i => (long)i), resumedSteps);
        Assert.Equal(steps, resumed.State.Step);
        Assert.Equal(steps * 4L * 32, resumed.State.TokensSeen);
        Assert.Equal(uninterrupted.Count, resumed.State.TrainLosses.Count);
        for (int i = 0; i < steps; i++) Assert.Equal(uninterrupted[i], resumed.State.TrainLosses[i], 1e-6);
    }

    [Fact]
    public void RunCarriedInAnExportContinuesAtItsStepWithAFreshOptimizer()
    {
        using var temp = new TempFolder();
        var (tokenizer, corpus) = TinyRun.Corpus(temp["data"]);
        const int steps = 40, carriedAt = 12;
        Directory.CreateDirectory(temp["a"]);
        List<double> firstLosses;
        using (var a = Pretrainer.Start(TinyRun.Config(carriedAt, 0), corpus, temp["a"]))
        {
            Assert.True(a.Run(_ => { }));
            firstLosses = a.State.TrainLosses;
            Export.HuggingFaceExporter.Export(temp["carried"], a.Model, tokenizer, a.State, corpus.Statistics,
                Export.ExportDType.Float32, carryRun: true);
        }
        Assert.True(CarriedRun.IsIn(temp["carried"]));

        var rates = new List<double>();
        using var resumed = Pretrainer.ResumeCarried(temp["carried"], temp["b"], corpus, [$"steps={steps}"]);
        Assert.Equal(carriedAt, resumed.State.Step);
        Assert.Equal([carriedAt], resumed.State.OptimizerRestarts);
        Assert.True(resumed.Run(e => { if (e is StepCompleted s) rates.Add(s.LearningRate); }));
        Assert.Equal(steps, resumed.State.Step);
        Assert.Equal(firstLosses, resumed.State.TrainLosses.Take(carriedAt));
        // The rate ramps up again over the first steps after the restart, then follows the schedule.
        var config = resumed.State.Config;
        Assert.Equal(LearningRateSchedule.At(carriedAt, steps, config) / CarriedRun.RewarmSteps, rates[0], 12);
        Assert.Equal(LearningRateSchedule.At(carriedAt + CarriedRun.RewarmSteps, steps, config), rates[CarriedRun.RewarmSteps], 12);
        // The carried weights are the first run's: the first continued loss is in line with where it stopped.
        Assert.True(resumed.State.TrainLosses[carriedAt] < firstLosses[0], "the continued run should start from the trained weights");
    }

    [Fact]
    public void CarriedRunNeedsARunFolderAndRefusesADifferentCorpus()
    {
        using var temp = new TempFolder();
        var (tokenizer, corpus) = TinyRun.Corpus(temp["data"]);
        Directory.CreateDirectory(temp["a"]);
        using (var a = Pretrainer.Start(TinyRun.Config(2, 0), corpus, temp["a"]))
        {
            Assert.True(a.Run(_ => { }));
            Export.HuggingFaceExporter.Export(temp["carried"], a.Model, tokenizer, a.State, corpus.Statistics,
                Export.ExportDType.BFloat16, carryRun: true);
        }
        var (exit, _, error) = CliRunner.Run("pretrain", "--resume", temp["carried"], "--data", temp["data"], "--tokenizer", TestPaths.Tokenizer);
        Assert.Equal(2, exit);
        Assert.Contains("carries a run: pass --out DIR", error);

        File.WriteAllText(Path.Combine(temp["carried"], CarriedRun.StateFileName), "{ not json");
        var broken = Assert.Throws<TrainingInputException>(() => Pretrainer.ResumeCarried(temp["carried"], temp["b"], corpus, []));
        Assert.Contains("training_state.json: not a training state", broken.Message);
    }

    [Fact]
    public void ScheduleWarmsUpLinearlyThenDecaysToTheMinimum()
    {
        var config = TinyRun.Config(100, 0) with { WarmupSteps = 10, LearningRate = 1e-3, MinLearningRate = 1e-4 };
        Assert.Equal(1e-4, LearningRateSchedule.At(0, 100, config), 12);
        Assert.Equal(1e-3, LearningRateSchedule.At(9, 100, config), 12);
        Assert.Equal(0.55e-3, LearningRateSchedule.At(55, 100, config), 12);
        Assert.Equal(1e-4, LearningRateSchedule.At(100, 100, config), 12);
    }
}
