using CtcDrafter.Kernels;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Export;
using CtcDrafter.Training.Model;
using CtcDrafter.Training.Pretraining;
using static TorchSharp.torch;
using Engine = CtcDrafter.Model;

namespace CtcDrafter.Training.Tests;

/// <summary>The C# inference engine computes the same logits and hidden states as the TorchSharp model it loads.</summary>
public class EngineParityTests
{
    [Theory]
    [InlineData(true, 2, false)]
    [InlineData(false, 4, false)]
    [InlineData(false, 1, true)]
    public void EngineMatchesTorchSharpOnAnExportedFolder(bool tied, int kvHeads, bool bfloat16)
    {
        var dtype = bfloat16 ? ExportDType.BFloat16 : ExportDType.Float32;
        var config = new LlamaConfig
        {
            HiddenSize = 64, IntermediateSize = 96, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = kvHeads,
            VocabSize = 4096, MaxPositionEmbeddings = 128, RopeTheta = 10000, TieWordEmbeddings = tied,
        };
        manual_seed(11);
        using var model = new LlamaForCausalLM(config);
        using (no_grad())
            foreach (var (name, parameter) in model.named_parameters())
            {
                // Weights far from the small initialisation, so that every part of the computation shows in the logits.
                parameter.copy_(name.EndsWith("norm.weight", StringComparison.Ordinal) ? rand_like(parameter) + 0.5 : randn_like(parameter) * 0.15);
                if (dtype == ExportDType.BFloat16) parameter.copy_(parameter.to(bfloat16).to(float32));
            }

        using var temp = new TempFolder();
        string folder = temp["model"];
        var state = new TrainingState { Config = TinyRun.Config(1, 0) with { Model = config }, CorpusFingerprint = "" };
        HuggingFaceExporter.Export(folder, model, Tokenizer.TextTokenizer.Load(TestPaths.Tokenizer), state, [], dtype);

        var random = new Random(5);
        int[] ids = [1, .. Enumerable.Range(0, 47).Select(_ => random.Next(3, 4096))];
        using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        var (logits, hidden) = model.forward(input);
        using (logits)
        using (hidden)
        using (var engine = Engine.LlamaModel.Load(folder, new Engine.EngineOptions(WeightFormat.F32)))
        {
            AssertClose(logits.contiguous().data<float>().ToArray(), engine.SequenceLogits(ids));
            AssertClose(hidden.contiguous().data<float>().ToArray(), engine.SequenceHiddenStates(ids));
        }
    }

    static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1e-4f, $"largest difference {worst} (values up to {expected.Max(Math.Abs)})");
    }
}
