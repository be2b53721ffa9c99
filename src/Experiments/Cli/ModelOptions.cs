using System.CommandLine;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>The options that describe a model architecture, shared by `model` and `train`.</summary>
public sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model") { Description = "lstm or transformer", Required = true };
    public Option<int> Layers { get; } = new("--layers") { Description = "transformer layers", DefaultValueFactory = _ => 6 };
    public Option<int> Dim { get; } = new("--dim") { Description = "transformer width d", DefaultValueFactory = _ => 512 };
    public Option<int> Heads { get; } = new("--heads") { Description = "attention heads (must divide d)", DefaultValueFactory = _ => 8 };
    public Option<string> Pos { get; } = new("--pos")
    {
        Description = "position encoding: " + string.Join(", ", EnumText<PositionEncoding>.Names) +
                      " (learned, sinusoidal, rope, alibi as x-transformers 1.16.8; linear: Appendix C.3's [e_t, t/C]; rope-full, sinusoidal-fixed, linear-add: the earlier variants)",
        DefaultValueFactory = _ => "learned",
    };
    public Option<bool> NoAbsPos { get; } = new("--no-abs-pos") { Description = "alibi: without the learned absolute position embedding x-transformers keeps by default (use_abs_pos_emb=False)" };
    public Option<int?> MaxLength { get; } = new("--max-length") { Description = "rows of the learned position table (default: the sequence length)" };
    public Option<double?> LinearDivisor { get; } = new("--linear-divisor") { Description = "C of the linear encoding t/C (default: max length)" };
    public Option<int> EmbedDim { get; } = new("--embed-dim") { Description = "LSTM embedding width", DefaultValueFactory = _ => 128 };
    public Option<int> Hidden { get; } = new("--hidden") { Description = "LSTM hidden width", DefaultValueFactory = _ => 128 };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Model, Layers, Dim, Heads, Pos, NoAbsPos, MaxLength, LinearDivisor, EmbedDim, Hidden }) command.Add(o);
    }

    public static PositionEncoding ParsePosition(string text) => CliParse.Enum<PositionEncoding>(text, "--pos");

    public ModelConfig Read(ParseResult r, int defaultLength)
    {
        string model = r.GetValue(Model)!;
        try
        {
            return model switch
            {
                "lstm" when r.GetValue(NoAbsPos) => throw new CliException("--no-abs-pos: applies to the transformer with --pos alibi only"),
                "lstm" => ModelConfig.Lstm(r.GetValue(EmbedDim), r.GetValue(Hidden)).Validate(),
                "transformer" => ModelConfig.Transformer(r.GetValue(Layers), r.GetValue(Dim), r.GetValue(Heads),
                    r.GetValue(MaxLength) ?? defaultLength, ParsePosition(r.GetValue(Pos)!), r.GetValue(LinearDivisor),
                    useAbsPosEmb: r.GetValue(NoAbsPos) ? false : null).Validate(),
                _ => throw new CliException($"--model must be lstm or transformer, got \"{model}\""),
            };
        }
        catch (InvalidOptionException e) { throw OptionFlags.Error(e); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
    }
}
