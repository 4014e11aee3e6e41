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
    public void ScheduleWarmsUpLinearlyThenDecaysToTheMinimum()
    {
        var config = TinyRun.Config(100, 0) with { WarmupSteps = 10, LearningRate = 1e-3, MinLearningRate = 1e-4 };
        Assert.Equal(1e-4, LearningRateSchedule.At(0, 100, config), 12);
        Assert.Equal(1e-3, LearningRateSchedule.At(9, 100, config), 12);
        Assert.Equal(0.55e-3, LearningRateSchedule.At(55, 100, config), 12);
        Assert.Equal(1e-4, LearningRateSchedule.At(100, 100, config), 12);
    }
}
