using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

/// <summary>
/// A straightforward double-precision LLaMA forward written from the Hugging Face definition, reading the weights
/// by their Hugging Face names: the independent computation the TorchSharp model is checked against.
/// </summary>
internal sealed class ReferenceLlama
{
    readonly LlamaConfig _c;
    readonly Dictionary<string, (double[] Data, long[] Shape)> _w = [];

    public ReferenceLlama(LlamaConfig config, Dictionary<string, Tensor> stateDict)
    {
        _c = config;
        foreach (var (name, tensor) in stateDict)
            _w[name] = (tensor.to(float64).contiguous().data<double>().ToArray(), tensor.shape);
    }

    /// <summary>Logits [seq, vocab] and final hidden states [seq, hidden] of one sequence.</summary>
    public (double[][] Logits, double[][] Hidden) Forward(int[] ids)
    {
        int h = _c.HiddenSize, n = ids.Length, d = _c.HeadDim;
        var x = ids.Select(id => Row("model.embed_tokens.weight", id)).ToArray();
        for (int l = 0; l < _c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var normed = x.Select(r => Norm(r, p + "input_layernorm.weight")).ToArray();
            var q = normed.Select(r => Linear(p + "self_attn.q_proj.weight", r)).ToArray();
            var k = normed.Select(r => Linear(p + "self_attn.k_proj.weight", r)).ToArray();
            var v = normed.Select(r => Linear(p + "self_attn.v_proj.weight", r)).ToArray();
            for (int t = 0; t < n; t++)
            {
                Rope(q[t], t, _c.NumAttentionHeads);
                Rope(k[t], t, _c.NumKeyValueHeads);
            }
            var attended = new double[n][];
            int group = _c.NumAttentionHeads / _c.NumKeyValueHeads;
            for (int t = 0; t < n; t++)
            {
                attended[t] = new double[_c.NumAttentionHeads * d];
                for (int head = 0; head < _c.NumAttentionHeads; head++)
                {
                    int kvHead = head / group;
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < d; i++) dot += q[t][head * d + i] * k[s][kvHead * d + i];
                        scores[s] = dot / Math.Sqrt(d);
                    }
                    double max = scores.Max(), sum = 0;
                    for (int s = 0; s <= t; s++) sum += scores[s] = Math.Exp(scores[s] - max);
                    for (int s = 0; s <= t; s++)
                        for (int i = 0; i < d; i++)
                            attended[t][head * d + i] += scores[s] / sum * v[s][kvHead * d + i];
                }
            }
            for (int t = 0; t < n; t++)
            {
                var o = Linear(p + "self_attn.o_proj.weight", attended[t]);
                for (int i = 0; i < h; i++) x[t][i] += o[i];
                var m = Norm(x[t], p + "post_attention_layernorm.weight");
                var gate = Linear(p + "mlp.gate_proj.weight", m);
                var up = Linear(p + "mlp.up_proj.weight", m);
                var act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                var down = Linear(p + "mlp.down_proj.weight", act);
                for (int i = 0; i < h; i++) x[t][i] += down[i];
            }
        }
        var hidden = x.Select(r => Norm(r, "model.norm.weight")).ToArray();
        string lmHead = _c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
        return (hidden.Select(r => Linear(lmHead, r)).ToArray(), hidden);
    }

    double[] Row(string name, int row)
    {
        var (data, shape) = _w[name];
        return data.AsSpan((int)(row * shape[1]), (int)shape[1]).ToArray();
    }

    double[] Linear(string name, double[] input)
    {
        var (data, shape) = _w[name];
        var output = new double[shape[0]];
        for (int o = 0; o < shape[0]; o++)
            for (int i = 0; i < shape[1]; i++)
                output[o] += data[o * shape[1] + i] * input[i];
        return output;
    }

    double[] Norm(double[] x, string weight)
    {
        double meanSquare = x.Sum(a => a * a) / x.Length;
        double scale = 1 / Math.Sqrt(meanSquare + _c.RmsNormEps);
        var w = _w[weight].Data;
        return x.Select((a, i) => a * scale * w[i]).ToArray();
    }

    void Rope(double[] x, int position, int heads)
    {
        int d = _c.HeadDim, half = d / 2;
        for (int head = 0; head < heads; head++)
            for (int i = 0; i < half; i++)
            {
                double angle = position / Math.Pow(_c.RopeTheta, 2.0 * i / d);
                double a = x[head * d + i], b = x[head * d + i + half];
                x[head * d + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                x[head * d + i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
    }
}
