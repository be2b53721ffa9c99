using System.CommandLine;
using System.Globalization;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>The attention-temperature options of `eval` and `inspect temperature`, and their checks.</summary>
public static class TemperatureOptions
{
    public static Option<string?> Layers() =>
        new("--temperature-layers") { Description = "comma-separated layers whose attention the temperature applies to (default all)" };

    /// <summary>A temperature: a finite number > 0.</summary>
    public static float Parse(string text, string option)
    {
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value) || value <= 0)
            throw new CliException($"{option}: \"{text}\" is not a temperature (a finite number > 0)");
        return value;
    }

    /// <summary>A comma-separated list of distinct temperatures, in the order given.</summary>
    public static List<float> ParseList(string text, string option)
    {
        var values = new List<float>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0) throw new CliException($"{option}: empty entry in \"{text}\"");
            float value = Parse(part, option);
            if (values.Contains(value)) throw new CliException($"{option}: {part} is given twice");
            values.Add(value);
        }
        return values;
    }

    /// <summary>The layers of --temperature-layers (null: all), checked against the model; an LSTM has no attention to change.</summary>
    public static IReadOnlyList<int>? ReadLayers(string? text, float temperature, ModelConfig config, string temperatureOption)
    {
        if (config.IsLstm)
        {
            if (temperature != 1f || text != null)
                throw new CliException($"{temperatureOption}: {config} has no attention (the temperature applies to Transformers)");
            return null;
        }
        return text == null ? null : InspectCommands.Indices(text, "--temperature-layers", config.Layers);
    }
}
