using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>RMSNorm: <c>x * rsqrt(mean(x^2) + eps) * weight</c> over the last dimension (TorchSharp has none).</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter _weight; // [dim]
    readonly double _eps;

    public RmsNorm(int dim, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        _weight = new Parameter(ones(dim));
        register_parameter("weight", _weight);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var rms = x.pow(2).mean([-1], keepdim: true).add(_eps).rsqrt();
        return (x * rms * _weight).MoveToOuterDisposeScope();
    }
}
