using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

public static class ModelFactory
{
    /// <summary>
    /// A model of the configuration on the ops' device, its matmuls in <paramref name="precision"/>, parameters zero
    /// (call Initialize or load a checkpoint).
    /// </summary>
    public static ModelBase<T> Create<T>(ModelConfig config, IOps<T> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        config.IsLstm ? new LstmModel<T>(config, ops, precision) : new TransformerModel<T>(config, ops, precision);
}
