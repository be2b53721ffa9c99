using System.Numerics;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Models;

/// <summary>Parameter and gradient storage and seeded initialisation shared by the models.</summary>
public abstract class ModelBase<T> : IModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    bool _disposed;

    /// <summary>A model of the configuration whose parameters the layout declares, its matmuls in <paramref name="precision"/>.</summary>
    protected ModelBase(ModelConfig config, IOps<T> ops, ParameterLayout layout, MatmulPrecision precision)
    {
        Config = config.Validate();
        if (typeof(T) != typeof(float) && precision != MatmulPrecision.Fp32)
            throw new ArgumentException($"matmul precision {EnumText<MatmulPrecision>.Of(precision)} needs a float model; a {typeof(T).Name} model multiplies in fp32 only",
                nameof(precision));
        Ops = ops;
        Precision = precision;
        Layout = layout;
        Parameters = Device.Allocate<T>(Layout.Count);
        Gradients = Device.Allocate<T>(Layout.Count);
    }

    public ModelConfig Config { get; }
    public ParameterLayout Layout { get; }
    public IOps<T> Ops { get; }

    /// <summary>How every matrix product of the model multiplies (the LSTM's recurrence itself is FP32 in every mode).</summary>
    public MatmulPrecision Precision { get; }
    public IDevice Device => Ops.Device;
    public Buf<T> Parameters { get; }
    public Buf<T> Gradients { get; }
    public double RegularizerLoss
    {
        get
        {
            var reading = RegularizerReading;
            return reading.Values.IsEmpty ? reading.Loss([]) : reading.Loss(Device.ToArray(reading.Values));
        }
    }

    public virtual RegularizerReading<T> RegularizerReading => RegularizerReading<T>.None;

    /// <summary>The tokens (B,T) of the last forward: the embedding backward scatters into their rows.</summary>
    protected Buf<int> LastTokens { get; set; }

    /// <summary>A parameter tensor's view in <see cref="Parameters"/>, and its gradient's in <see cref="Gradients"/>.</summary>
    protected Buf<T> ParameterView(LayoutEntry entry) => Parameters.Slice(entry);
    protected Buf<T> GradientView(LayoutEntry entry) => Gradients.Slice(entry);

    public abstract Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options);
    public abstract void Backward(Buf<T> dlogits, PassOptions options);

    /// <summary>
    /// Seeded initialisation with PyTorch's per-module distributions (<see cref="ParameterLayout"/>). Tensor i
    /// uses Philox stream i of (seed, Init domain); element j takes words 2j and 2j+1 (Box-Muller for normals,
    /// the first word for uniforms). Values are made in double and rounded to T, so float and double models
    /// of one seed hold the same weights up to rounding.
    /// </summary>
    public void Initialize(ulong seed)
    {
        var host = new T[Layout.Count];
        var tensors = Layout.Tensors;
        Parallel.For(0, tensors.Count, ti =>
        {
            var spec = tensors[ti];
            var span = host.AsSpan((int)spec.Offset, (int)spec.Count);
            var words = new uint[2 * spec.Count];
            Philox.Fill(seed, (ulong)ti, RandomDomain.Init, words);
            for (int j = 0; j < span.Length; j++)
            {
                double u1 = (words[2 * j] + 0.5) / 4294967296.0, u2 = words[2 * j + 1] / 4294967296.0;
                double value = spec.Init switch
                {
                    InitKind.Normal => spec.Scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2),
                    InitKind.Uniform => spec.Scale * (2 * u1 - 1),
                    InitKind.Ones => 1,
                    InitKind.Constant => spec.Scale,
                    _ => 0,
                };
                span[j] = T.CreateTruncating(value);
            }
        });
        Device.Upload<T>(host, Parameters);
    }

    public void ZeroGradients() => Ops.Fill(Gradients, T.Zero);

    /// <summary>Frees what a model allocates besides its parameters and gradients (activations sized per batch shape).</summary>
    protected virtual void ReleaseBuffers() { }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ReleaseBuffers();
        Device.Free(Parameters);
        Device.Free(Gradients);
        GC.SuppressFinalize(this);
    }
}
