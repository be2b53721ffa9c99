using System.Numerics;
using System.Text.Json;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Checkpoints;

/// <summary>
/// Model checkpoints: safetensors with the models' parameter names and PyTorch layouts (F32), the model
/// configuration as JSON under the metadata key "config". Loading checks every name and shape.
/// </summary>
public static class Checkpoint
{
    public const string ConfigKey = "config";

    /// <summary>Parameter tensors of a model, by layout, from host values (P).</summary>
    public static IEnumerable<SafeTensor> Tensors<T>(ParameterLayout layout, ReadOnlySpan<T> values, string prefix = "")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var list = new List<SafeTensor>();
        foreach (var spec in layout.Tensors)
        {
            var slice = values.Slice((int)spec.Offset, (int)spec.Count);
            var floats = new float[spec.Count];
            for (int i = 0; i < floats.Length; i++) floats[i] = float.CreateTruncating(slice[i]);
            list.Add(SafeTensor.FromFloats(prefix + spec.Name, spec.Shape, floats));
        }
        return list;
    }

    public static Dictionary<string, string> Metadata(ModelConfig config, IReadOnlyDictionary<string, string>? extra = null)
    {
        var metadata = new Dictionary<string, string> { [ConfigKey] = Json.Serialize(config), ["format"] = "pt" };
        if (extra != null) foreach (var (k, v) in extra) metadata[k] = v;
        return metadata;
    }

    public static void Save<T>(IModel<T> model, string path, IReadOnlyDictionary<string, string>? extra = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var host = model.Ops.Device.ToArray(model.Parameters);
        SafeTensors.Write(path, Tensors<T>(model.Layout, host), Metadata(model.Config, extra));
    }

    /// <summary>A checkpoint read and validated: its configuration and parameters in layout order (as double, exact for F32).</summary>
    public sealed record Loaded(string Path, ModelConfig Config, double[] Parameters, IReadOnlyDictionary<string, string> Metadata)
    {
        public T[] ParametersAs<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
            Parameters.Select(T.CreateTruncating).ToArray();
    }

    /// <summary>
    /// The model configuration in a checkpoint's metadata, validated before anything is sized from it; whatever is
    /// wrong with it (not JSON, not an object, wrong types, sizes that do not validate) names the file.
    /// </summary>
    public static ModelConfig ReadConfig(string path, SafeTensors.Contents contents)
    {
        if (!contents.Metadata.TryGetValue(ConfigKey, out var json))
            throw new SafeTensorsException(path, $"no \"{ConfigKey}\" entry in __metadata__: not a RawFlipFlop checkpoint");
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(json, Json.Options);
            config?.Validate();
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or InvalidOperationException
                                      or FormatException or OverflowException)
        {
            throw new SafeTensorsException(path, $"config metadata: {Printable.Of(e.Message, 300)}");
        }
        return config ?? throw new SafeTensorsException(path, "config metadata is JSON null, not a model configuration");
    }

    public static Loaded Load(string path, string prefix = "")
    {
        var contents = SafeTensors.Read(path);
        var config = ReadConfig(path, contents);
        var layout = ParameterLayout.For(config);
        var values = new double[layout.Count];
        var expected = new HashSet<string>(layout.Tensors.Select(t => prefix + t.Name));
        foreach (var t in contents.Tensors)
            if (t.Name.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(t.Name))
                throw new SafeTensorsException(path, $"unexpected tensor {t.Name} {t.ShapeText} for {config}");
        foreach (var spec in layout.Tensors)
        {
            var t = contents.Find(prefix + spec.Name)
                ?? throw new SafeTensorsException(path, $"missing tensor {prefix + spec.Name} {spec.ShapeText} for {config}");
            if (!t.Shape.SequenceEqual(spec.Shape))
                throw new SafeTensorsException(path, $"tensor {t.Name} has shape {t.ShapeText}, the configuration needs {spec.ShapeText}");
            if (t.Type is not (SafeTensorType.F32 or SafeTensorType.F64))
                throw new SafeTensorsException(path, $"tensor {t.Name} has dtype {t.Type}, expected F32 or F64");
            t.ToDoubles().CopyTo(values, spec.Offset);
        }
        return new Loaded(path, config, values, contents.Metadata);
    }

    /// <summary>Creates a model on the ops' device holding the checkpoint's weights, its matmuls in <paramref name="precision"/>.</summary>
    public static ModelBase<T> LoadModel<T>(string path, IOps<T> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var loaded = Load(path);
        var model = ModelFactory.Create(loaded.Config, ops, precision);
        ops.Device.Upload<T>(loaded.ParametersAs<T>(), model.Parameters);
        return model;
    }
}
