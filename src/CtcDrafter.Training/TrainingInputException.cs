namespace CtcDrafter.Training;

/// <summary>
/// Bad input to a training command (missing corpus, bad config, corrupt checkpoint, unwritable output): the message
/// names the file and the problem and is meant to be shown to the user as it is, without a stack trace.
/// </summary>
internal sealed class TrainingInputException(string message, Exception? inner = null) : Exception(message, inner);
