using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Engine.Models;

/// <summary>
/// Loss and gradients on the same weights and data as PyTorch (float64 autograd). The fixtures come from
/// tests/pytorch/make_reference.py (Debian python3-torch 1.13); CI needs no Python. The cases under v1/ are
/// checkpoints written before config_version 2, with the gradients of what their names meant then (rope: rope-full,
/// sinusoidal: sinusoidal-fixed, linear: linear-add, alibi: without the absolute embedding): they must keep that meaning.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class PyTorchAgreementTests
{
    public static TheoryData<string> Cases => new()
    {
        "transformer-learned-clean", "transformer-sinusoidal-clean", "transformer-rope-clean", "transformer-alibi-clean",
        "transformer-none-clean", "transformer-linear-clean", "transformer-learned-generative", "transformer-alibi-h4",
        "transformer-rope-partial-clean", "transformer-rope-full-clean", "transformer-sinusoidal-fixed-clean",
        "transformer-linear-add-clean", "transformer-alibi-noabs-clean",
        "lstm-clean", "lstm-generative",
        "v1/transformer-rope-clean", "v1/transformer-sinusoidal-clean", "v1/transformer-linear-clean", "v1/transformer-alibi-clean",
        "v1/transformer-alibi-h4",
    };

    static (GradientDump.Result Ours, SafeTensors.Contents Torch) Run<T>(string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        string dir = Fixtures.File("pytorch");
        var torch = SafeTensors.Read(Path.Combine(dir, name + ".grads.safetensors"));
        var mode = RawFlipFlop.Engine.IO.EnumText<LossMode>.Parse(torch.Metadata["mode"], "mode");
        var data = FlipFlopFiles.Read(Path.Combine(dir, name + ".txt"));
        using var device = new CpuDevice();
        using var model = Checkpoint.LoadModel(Path.Combine(dir, name + ".safetensors"), new CpuOps<T>(device));
        return (GradientDump.Compute(model, data, mode), torch);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DoubleGradientsMatchPyTorch(string name)
    {
        var (ours, torch) = Run<double>(name);
        Assert.Equal(int.Parse(torch.Metadata["scored_positions"]), ours.ScoredPositions);
        Assert.Equal(torch.Find("loss")!.ToDoubles()[0], ours.Loss, 12);
        foreach (var (spec, gradient) in ours.Gradients)
        {
            var expected = torch.Find(spec.Name)?.ToDoubles() ?? throw new Xunit.Sdk.XunitException($"fixture lacks {spec.Name}");
            double scale = expected.Max(Math.Abs);
            GradCheck.AssertClose(expected, gradient, 1e-10 * scale + 1e-14, 1e-8, $"{name} {spec.Name}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FloatGradientsMatchPyTorchToSinglePrecision(string name)
    {
        var (ours, torch) = Run<float>(name);
        Assert.Equal(torch.Find("loss")!.ToDoubles()[0], ours.Loss, tolerance: 2e-6);
        foreach (var (spec, gradient) in ours.Gradients)
        {
            var expected = torch.Find(spec.Name)!.ToDoubles();
            double scale = expected.Max(Math.Abs);
            // float32 forward and backward through 2 layers: errors of a few 1e-6 of the tensor's largest gradient
            GradCheck.AssertClose(expected, gradient, 2e-5 * scale + 1e-7, 1e-3, $"{name} {spec.Name} (float32)");
        }
    }
}
