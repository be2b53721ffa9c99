using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>The command-line spelling of every field of <see cref="TrainOptions"/> and the model configuration, for messages.</summary>
public static class OptionFlags
{
    static readonly Dictionary<string, string> Flags = new()
    {
        ["task"] = "--task", ["automaton_p_write"] = "--automaton-p-write", ["steps"] = "--steps", ["batch"] = "--batch", ["length"] = "--length",
        ["learning_rate"] = "--lr", ["weight_decay"] = "--weight-decay", ["adam_beta1"] = "--adam-beta1", ["adam_beta2"] = "--adam-beta2",
        ["adam_epsilon"] = "--adam-eps", ["warmup"] = "--warmup", ["decay_steps"] = "--decay-steps", ["data"] = "--p-ignore/--mixture", ["data_file"] = "--data", ["matmul_precision"] = "--matmul-precision",
        ["mode"] = "--mode", ["dropout_embedding"] = "--dropout-emb", ["dropout_attention"] = "--dropout-attn", ["dropout_feed_forward"] = "--dropout-ff",
        ["sharpen"] = "--sharpen", ["sharpen_layers"] = "--sharpen-layers", ["sharpen_from"] = "--sharpen-from", ["eval_every"] = "--eval-every", ["eval_count"] = "--eval-count",
        ["offline"] = "--offline", ["eval_batch"] = "--eval-batch", ["model"] = "--model",
        ["layers"] = "--layers", ["dim"] = "--dim", ["heads"] = "--heads", ["pos"] = "--pos", ["max_length"] = "--max-length",
        ["linear_pos_divisor"] = "--linear-divisor", ["use_abs_pos_emb"] = "--no-abs-pos", ["embed_dim"] = "--embed-dim", ["hidden"] = "--hidden", ["vocab_size"] = "vocab_size",
    };

    public static string Flag(string field) => Flags.GetValueOrDefault(field, field);

    /// <summary>The option error as the command line reports it: "--flag: problem".</summary>
    public static CliException Error(InvalidOptionException e) => new($"{Flag(e.Field)}: {e.Problem}");
}
