using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

public class LlamaForCausalLMTests
{
    internal static LlamaConfig TinyConfig(bool tied, int kvHeads) => new()
    {
        HiddenSize = 32, IntermediateSize = 48, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = kvHeads,
        VocabSize = 61, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, RopeTheta = 10000, TieWordEmbeddings = tied,
    };

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, 4)]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public void MatchesDoublePrecisionReference(bool tied, int kvHeads)
    {
        var config = TinyConfig(tied, kvHeads);
        manual_seed(7);
        using var model = new LlamaForCausalLM(config);
        RandomizeNorms(model);
        int[] ids = [1, 5, 17, 42, 3, 60, 9, 9, 23, 2, 11];

        using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        var (logits, hidden) = model.forward(input);
        using (logits)
        using (hidden)
        {
            var reference = new ReferenceLlama(config, model.state_dict());
            var (refLogits, refHidden) = reference.Forward(ids);
            var actualLogits = logits.contiguous().data<float>().ToArray();
            var actualHidden = hidden.contiguous().data<float>().ToArray();
            for (int t = 0; t < ids.Length; t++)
            {
                for (int v = 0; v < config.VocabSize; v++)
                    Assert.Equal(refLogits[t][v], actualLogits[t * config.VocabSize + v], 1e-4);
                for (int i = 0; i < config.HiddenSize; i++)
                    Assert.Equal(refHidden[t][i], actualHidden[t * config.HiddenSize + i], 1e-4);
            }
        }
    }

    [Fact]
    public void ParameterNamesAreHuggingFaces()
    {
        using var untied = new LlamaForCausalLM(TinyConfig(tied: false, kvHeads: 2));
        var names = untied.state_dict().Keys.ToHashSet();
        var expected = new HashSet<string> { "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight" };
        for (int l = 0; l < 2; l++)
            foreach (string suffix in new[]
            {
                "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                "input_layernorm.weight", "post_attention_layernorm.weight",
                "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
            })
                expected.Add($"model.layers.{l}.{suffix}");
        Assert.Equal(expected.Order(), names.Order());
        Assert.Equal(untied.Config.ParameterCount, untied.parameters().Sum(p => p.numel()));
        Assert.Equal(new long[] { 16, 32 }, untied.state_dict()["model.layers.0.self_attn.k_proj.weight"].shape);

        using var tied = new LlamaForCausalLM(TinyConfig(tied: true, kvHeads: 2));
        Assert.DoesNotContain("lm_head.weight", tied.state_dict().Keys);
        Assert.Equal(tied.Config.ParameterCount, tied.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void LaterTokensDoNotChangeEarlierLogits()
    {
        manual_seed(3);
        using var model = new LlamaForCausalLM(TinyConfig(tied: true, kvHeads: 2));
        using var a = tensor(new long[] { 1, 4, 8, 15, 16, 23, 42 }, [1, 7]);
        using var b = tensor(new long[] { 1, 4, 8, 15, 50, 51, 52 }, [1, 7]);
        var (la, ha) = model.forward(a);
        var (lb, hb) = model.forward(b);
        using (la) using (ha) using (lb) using (hb)
        {
            Assert.True(la.narrow(1, 0, 4).allclose(lb.narrow(1, 0, 4), rtol: 0, atol: 1e-6));
            Assert.False(la.narrow(1, 4, 1).allclose(lb.narrow(1, 4, 1), rtol: 0, atol: 1e-3));
        }
    }

    static void RandomizeNorms(LlamaForCausalLM model)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
                parameter.copy_(rand_like(parameter) + 0.5);
    }
}
