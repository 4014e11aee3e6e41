using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;
using CtcDrafter.Training.Pretraining;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Training.Tests;

/// <summary>A tiny model and pretraining config on the tiny corpus, shared by the training tests.</summary>
internal static class TinyRun
{
    public static LlamaConfig Model => new()
    {
        HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        VocabSize = 4096, MaxPositionEmbeddings = 64, TieWordEmbeddings = true,
    };

    public static PretrainConfig Config(long steps, int checkpointSteps) => new()
    {
        Model = Model, SeqLen = 32, BatchSize = 4, LearningRate = 3e-3, MinLearningRate = 3e-4, WarmupSteps = 4,
        Steps = steps, EvalInterval = 0, EvalSequences = 8, CheckpointMinutes = 60, CheckpointSteps = checkpointSteps, Seed = 5,
    };

    public const string ConfigJson = """
        {
          "model": { "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "vocab_size": 4096, "max_position_embeddings": 64, "tie_word_embeddings": false },
          "seq_len": 32, "batch_size": 4, "learning_rate": 0.003, "warmup_steps": 2, "steps": 6,
          "eval_interval": 3, "eval_sequences": 8, "log_interval": 2, "checkpoint_minutes": 10
        }
        """;

    public static (TextTokenizer Tokenizer, TokenCorpus Corpus) Corpus(string dataFolder)
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        return (tokenizer, TokenCorpus.Build(CorpusReader.ReadAll(TinyCorpus.Write(dataFolder)), tokenizer));
    }
}
