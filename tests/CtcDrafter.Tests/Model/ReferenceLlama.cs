using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>
/// A straightforward double-precision LLaMA written from the Hugging Face modeling code, independent of the
/// engine's kernels: full causal attention over the whole sequence, recomputed from scratch for each call.
/// </summary>
sealed class ReferenceLlama
{
    readonly ModelConfig _c;
    readonly Dictionary<string, double[]> _w = [];

    public ReferenceLlama(string folder)
    {
        _c = ModelConfig.Load(System.IO.Path.Combine(folder, "config.json"));
        using var store = TensorStore.Open(folder);
        foreach (RawTensor t in store.All)
        {
            var f = new float[t.Elements];
            Conversions.ReadF32(t, 0, f);
            var a = f.Select(x => (double)x).ToArray();
            _w[t.Name] = a;
        }
    }

    /// <summary>Logits [seq, vocab] of every position of a sequence.</summary>
    public double[][] Logits(int[] tokens)
    {
        int n = tokens.Length, H = _c.HiddenSize, hd = _c.HeadDim;
        var x = tokens.Select(t => _w["model.embed_tokens.weight"].AsSpan(t * H, H).ToArray()).ToArray();
        for (int l = 0; l < _c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var xn = x.Select(v => RmsNorm(v, _w[p + "input_layernorm.weight"])).ToArray();
            var q = xn.Select((v, i) => Rope(Projection(p + "self_attn.q_proj", v, _c.QDim), _c.NumHeads, i)).ToArray();
            var k = xn.Select((v, i) => Rope(Projection(p + "self_attn.k_proj", v, _c.KvDim), _c.NumKvHeads, i)).ToArray();
            var vv = xn.Select(v => Projection(p + "self_attn.v_proj", v, _c.KvDim)).ToArray();
            for (int i = 0; i < n; i++)
            {
                var att = new double[_c.QDim];
                for (int h = 0; h < _c.NumHeads; h++)
                {
                    int g = h / (_c.NumHeads / _c.NumKvHeads);
                    var s = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double d = 0;
                        for (int e = 0; e < hd; e++) d += q[i][h * hd + e] * k[j][g * hd + e];
                        s[j] = d / Math.Sqrt(hd);
                    }
                    double max = s.Max(), sum = s.Sum(v => Math.Exp(v - max));
                    for (int j = 0; j <= i; j++)
                        for (int e = 0; e < hd; e++) att[h * hd + e] += Math.Exp(s[j] - max) / sum * vv[j][g * hd + e];
                }
                Add(x[i], MatVec(_w[p + "self_attn.o_proj.weight"], att, H));
            }
            for (int i = 0; i < n; i++)
            {
                var m = RmsNorm(x[i], _w[p + "post_attention_layernorm.weight"]);
                var gate = MatVec(_w[p + "mlp.gate_proj.weight"], m, _c.IntermediateSize);
                var up = MatVec(_w[p + "mlp.up_proj.weight"], m, _c.IntermediateSize);
                for (int e = 0; e < gate.Length; e++) gate[e] = gate[e] / (1 + Math.Exp(-gate[e])) * up[e];
                Add(x[i], MatVec(_w[p + "mlp.down_proj.weight"], gate, H));
            }
        }
        double[] head = _w.TryGetValue("lm_head.weight", out var lm) && !_c.TieWordEmbeddings ? lm : _w["model.embed_tokens.weight"];
        return x.Select(v => MatVec(head, RmsNorm(v, _w["model.norm.weight"]), _c.VocabSize)).ToArray();
    }

    double[] RmsNorm(double[] v, double[] w)
    {
        double ms = v.Sum(e => e * e) / v.Length, r = 1 / Math.Sqrt(ms + _c.RmsNormEps);
        return v.Select((e, i) => e * r * w[i]).ToArray();
    }

    /// <summary>W v, plus the projection's bias when the file has one (Qwen2's q/k/v).</summary>
    double[] Projection(string name, double[] v, int rows)
    {
        double[] y = MatVec(_w[name + ".weight"], v, rows);
        if (_w.TryGetValue(name + ".bias", out double[]? b)) for (int r = 0; r < rows; r++) y[r] += b[r];
        return y;
    }

    static double[] MatVec(double[] w, double[] v, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < v.Length; c++) s += w[(long)r * v.Length + c] * v[c];
            y[r] = s;
        }
        return y;
    }

    /// <summary>The inverse frequency of pair i in double precision, scaled as the config's rope_scaling says: linear
    /// divides by the factor; llama3 divides wavelengths longer than original / low_freq_factor by the factor, keeps
    /// those shorter than original / high_freq_factor, and interpolates between by original / wavelength.</summary>
    public static double InverseFrequency(ModelConfig c, int i)
    {
        double inv = Math.Pow(c.RopeTheta, -2.0 * i / c.HeadDim);
        if (c.RopeScaling is not { } s) return inv;
        if (s.Type == "linear") return inv / s.Factor;
        if (s.Type == "freq_factors") return inv / s.FreqFactors![i];
        double wavelength = 2 * Math.PI / inv, longest = s.OriginalMaxPositions / (double)s.LowFreqFactor;
        double shortest = s.OriginalMaxPositions / (double)s.HighFreqFactor;
        if (wavelength < shortest) return inv;
        if (wavelength > longest) return inv / s.Factor;
        double smooth = (s.OriginalMaxPositions / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return (1 - smooth) * inv / s.Factor + smooth * inv;
    }

    /// <summary>Rotate-half RoPE: (x[i], x[i + d/2]) rotated by pos * inv_freq[i].</summary>
    double[] Rope(double[] v, int heads, int pos)
    {
        int hd = _c.HeadDim, half = hd / 2;
        var r = (double[])v.Clone();
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                double a = pos * InverseFrequency(_c, i), c = Math.Cos(a), s = Math.Sin(a);
                double x0 = v[h * hd + i], x1 = v[h * hd + i + half];
                r[h * hd + i] = x0 * c - x1 * s;
                r[h * hd + i + half] = x1 * c + x0 * s;
            }
        return r;
    }

    static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
