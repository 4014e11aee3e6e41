using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>SwiGLU feed-forward: <c>down(silu(gate(x)) * up(x))</c>, no biases.</summary>
internal sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear _gate; // [intermediate, hidden]
    readonly Linear _up;   // [intermediate, hidden]
    readonly Linear _down; // [hidden, intermediate]

    public LlamaMlp(LlamaConfig config) : base(nameof(LlamaMlp))
    {
        _gate = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        _up = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false);
        _down = nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: false);
        register_module("gate_proj", _gate);
        register_module("up_proj", _up);
        register_module("down_proj", _down);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _down.forward(nn.functional.silu(_gate.forward(x)) * _up.forward(x)).MoveToOuterDisposeScope();
    }
}
