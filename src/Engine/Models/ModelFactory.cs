using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

public static class ModelFactory
{
    /// <summary>A model of the configuration on the ops' device, parameters zero (call Initialize or load a checkpoint).</summary>
    public static ModelBase<T> Create<T>(ModelConfig config, IOps<T> ops) where T : unmanaged, IFloatingPointIeee754<T> =>
        config.IsLstm ? new LstmModel<T>(config, ops) : new TransformerModel<T>(config, ops);
}
