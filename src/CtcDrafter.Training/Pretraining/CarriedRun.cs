using System.Text.Json;

namespace CtcDrafter.Training.Pretraining;

/// <summary>
/// A pretraining run carried in an exported model folder: the folder's weights plus <c>training_state.json</c>
/// (the checkpoint's state without the AdamW moments). It is what a run leaves in the repository when the machine it
/// ran on will not be the next one: a quarter of a checkpoint's size, loadable as a model, and continued with
/// <c>pretrain --resume FOLDER --out RUN</c>, which starts a fresh optimizer and warms its rate up again over
/// <see cref="RewarmSteps"/> steps. A continued run is therefore close to, not bit for bit, the uninterrupted one.
/// </summary>
internal static class CarriedRun
{
    public const string StateFileName = "training_state.json";

    /// <summary>Steps over which the learning rate ramps up again after the optimizer restarts.</summary>
    public const int RewarmSteps = 20;

    public static bool IsIn(string folder) => File.Exists(Path.Combine(folder, StateFileName));

    public static void WriteState(string folder, TrainingState state) =>
        File.WriteAllText(Path.Combine(folder, StateFileName), JsonSerializer.Serialize(state, PretrainConfig.Json));

    public static TrainingState ReadState(string folder)
    {
        string path = Path.Combine(folder, StateFileName);
        try
        {
            return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path), PretrainConfig.Json)
                ?? throw new TrainingInputException($"{path}: empty training state");
        }
        catch (JsonException e)
        {
            throw new TrainingInputException($"{path}: not a training state ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainingInputException($"cannot read {path}: {e.Message}");
        }
    }

    /// <summary>The rate factor at <paramref name="step"/>: a linear ramp over the steps after the last restart.</summary>
    public static double RewarmFactor(long step, IReadOnlyList<long> restarts)
    {
        if (restarts.Count == 0) return 1;
        long since = step - restarts[^1];
        return since >= 0 && since < RewarmSteps ? (since + 1.0) / RewarmSteps : 1;
    }
}
