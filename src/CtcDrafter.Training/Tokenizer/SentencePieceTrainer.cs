using System.ComponentModel;
using System.Diagnostics;
using CtcDrafter.Training.Data;

namespace CtcDrafter.Training.Tokenizer;

/// <summary>
/// Trains the project's tokenizer with SentencePiece's own trainer (<c>spm_train</c> from Debian's
/// <c>sentencepiece</c> package): BPE with byte fallback, LLaMA-like whitespace handling, digits split.
/// </summary>
internal static class SentencePieceTrainer
{
    /// <summary>Trains on the documents' text and writes the model to <paramref name="outputPath"/> (atomically).</summary>
    public static void Train(IReadOnlyList<CorpusDocument> documents, string outputPath, int vocabSize, Action<string> log)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        string work = Path.Combine(Path.GetTempPath(), "ctcdrafter-spm-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            // spm_train reads one sentence per line; the end-of-turn markers are special tokens, not text.
            using (var writer = new StreamWriter(Path.Combine(work, "corpus.txt")))
                foreach (var document in documents)
                    writer.WriteLine(document.Text.Replace(VicunaTemplate.EndOfTurn, "\n"));

            // Relative paths: the trainer records them in the model, which should not depend on the temp folder.
            string[] arguments =
            [
                "--input=corpus.txt", "--model_prefix=tokenizer", $"--vocab_size={vocabSize}",
                "--model_type=bpe", "--byte_fallback=true", "--character_coverage=0.9995", "--split_digits=true",
                "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
                "--add_dummy_prefix=true", "--remove_extra_whitespaces=false", "--allow_whitespace_only_pieces=true",
                "--normalization_rule_name=identity", "--max_sentence_length=16384", "--shuffle_input_sentence=false",
                $"--num_threads={Environment.ProcessorCount}",
            ];
            log($"spm_train {string.Join(' ', arguments)}");
            Run("spm_train", arguments, work, log);

            Directory.CreateDirectory(folder!);
            string temp = outputPath + ".tmp";
            File.Copy(Path.Combine(work, "tokenizer.model"), temp, overwrite: true);
            File.Move(temp, outputPath, overwrite: true);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new TrainingInputException($"cannot write {outputPath}: {e.Message}", e);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    static void Run(string program, string[] arguments, string workingDirectory, Action<string> log)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception)
        {
            throw new TrainingInputException(
                $"{program} not found: install Debian's sentencepiece package (apt-get install sentencepiece)");
        }
        using (process)
        {
            var tail = new Queue<string>();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) log(e.Data); };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (tail)
                {
                    tail.Enqueue(e.Data);
                    if (tail.Count > 20) tail.Dequeue();
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new TrainingInputException($"{program} failed with exit code {process.ExitCode}:\n{string.Join('\n', tail)}");
        }
    }
}
