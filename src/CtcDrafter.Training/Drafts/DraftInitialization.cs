using CtcDrafter.Drafters;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Starts a draft network from another draft's trained tensors (<c>train-draft --init DRAFT</c>): every tensor of the
/// other draft's weights whose name and shape the network has is copied in, and the network's other tensors keep
/// their fresh initialization. A ctc-nar draft started from an eagle draft so takes its fc and draft layer (which
/// already read the committed pairs as the base model's features) and learns its frame embeddings and blank row.
/// The other draft must be bound to the same base model.
/// </summary>
internal static class DraftInitialization
{
    /// <summary>Copies the matching tensors of the draft in <paramref name="folder"/>; returns the names taken and those left fresh.</summary>
    public static (List<string> Taken, List<string> Fresh) From(DraftNetwork network, string folder, LlamaModel baseModel)
    {
        TensorStore store;
        try
        {
            DraftConfig.Load(folder).BaseModel.Check(BaseIdentity.Of(baseModel), folder);
            store = TensorStore.Open(folder);
        }
        catch (ModelFormatException e)
        {
            throw new TrainingInputException($"--init {folder}: {e.Message}", e);
        }
        using (store)
        {
            var (taken, fresh) = (new List<string>(), new List<string>());
            using var _ = no_grad();
            foreach (var (name, parameter) in network.named_parameters())
            {
                if (store.ShapeOf(name) is not int[] shape)
                {
                    fresh.Add(name);
                    continue;
                }
                if (!shape.Select(d => (long)d).SequenceEqual(parameter.shape))
                    throw new TrainingInputException($"--init {folder}: tensor '{name}' has shape [{string.Join(", ", shape)}], this network's [{string.Join(", ", parameter.shape)}]");
                var values = new float[parameter.numel()];
                Conversions.ReadF32(store.Get(name, shape), 0, values);
                using var source = tensor(values).reshape(parameter.shape);
                parameter.copy_(source);
                taken.Add(name);
            }
            if (taken.Count == 0) throw new TrainingInputException($"--init {folder}: none of its tensors is one of this network's ({string.Join(", ", fresh)})");
            return (taken, fresh);
        }
    }
}
