using System.Reflection;
using System.Text.Json.Nodes;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Training;

[Trait("Category", "Cpu")]
public sealed class OptionsSchemaTests
{
    static readonly TrainOptions Defaults = new() { Model = ModelConfig.Transformer(2, 16, 2, 64) };

    /// <summary>A value other than the default for every settable property; a property missing here fails the test.</summary>
    static readonly Dictionary<string, object?> OptionValues = new()
    {
        [nameof(TrainOptions.Model)] = ModelConfig.Lstm(8, 12),
        [nameof(TrainOptions.Task)] = TaskKind.Automaton,
        [nameof(TrainOptions.AutomatonPWrite)] = 0.25,
        [nameof(TrainOptions.Steps)] = 77,
        [nameof(TrainOptions.Batch)] = 3,
        [nameof(TrainOptions.Length)] = 48,
        [nameof(TrainOptions.LearningRate)] = 1.5e-3,
        [nameof(TrainOptions.WeightDecay)] = 0.0,
        [nameof(TrainOptions.AdamBeta1)] = 0.8,
        [nameof(TrainOptions.AdamBeta2)] = 0.95,
        [nameof(TrainOptions.AdamEpsilon)] = 1e-6,
        [nameof(TrainOptions.Warmup)] = 7,
        [nameof(TrainOptions.DecaySteps)] = 123,
        [nameof(TrainOptions.Seed)] = ulong.MaxValue,
        [nameof(TrainOptions.DataSeed)] = 42UL,
        [nameof(TrainOptions.Data)] = FlipFlopMixture.OfIgnoreProbabilities([0.9, 0.98, 0.1]),
        [nameof(TrainOptions.DataFile)] = new TrainingDataFile([new DataShard("/data/train-0.parquet", new string('a', 64)), new DataShard("/data/train-1.parquet", new string('b', 64))], 1000, 48),
        [nameof(TrainOptions.Mode)] = LossMode.Generative,
        [nameof(TrainOptions.DropoutEmbedding)] = 0.1f,
        [nameof(TrainOptions.DropoutAttention)] = 0.2f,
        [nameof(TrainOptions.DropoutFeedForward)] = 0.3f,
        [nameof(TrainOptions.Sharpen)] = 0.01,
        [nameof(TrainOptions.SharpenLayers)] = new List<int> { 0, 1 },
        [nameof(TrainOptions.SharpenFrom)] = 30,
        [nameof(TrainOptions.EvalEvery)] = 0,
        [nameof(TrainOptions.EvalCount)] = 5,
        [nameof(TrainOptions.Offline)] = new List<OfflineSplit> { new("dense", 9) },
        [nameof(TrainOptions.EvalBatch)] = 4,
        [nameof(TrainOptions.MatmulPrecision)] = MatmulPrecision.Tf32x3,
    };

    static readonly Dictionary<string, object?> ConfigValues = new()
    {
        [nameof(ModelConfig.Model)] = ModelConfig.LstmKind,
        [nameof(ModelConfig.VocabSize)] = 3,
        [nameof(ModelConfig.Layers)] = 5,
        [nameof(ModelConfig.Dim)] = 24,
        [nameof(ModelConfig.Heads)] = 3,
        [nameof(ModelConfig.MaxLength)] = 99,
        [nameof(ModelConfig.Pos)] = PositionEncoding.Alibi,
        [nameof(ModelConfig.LinearPosDivisor)] = 12.5,
        [nameof(ModelConfig.UseAbsPosEmb)] = false,
        [nameof(ModelConfig.EmbedDim)] = 7,
        [nameof(ModelConfig.Hidden)] = 9,
    };

    static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true });

    /// <summary>A copy of the record (its compiler-made clone) with one property set through its init accessor.</summary>
    static T With<T>(T record, PropertyInfo property, object? value) where T : class
    {
        var copy = (T)typeof(T).GetMethod("<Clone>$")!.Invoke(record, null)!;
        property.SetValue(copy, value);
        return copy;
    }

    static string Text(object? value) => System.Text.Json.JsonSerializer.Serialize(value, RawFlipFlop.Engine.IO.Json.Compact);

    [Fact]
    public void Every_option_round_trips_and_changes_the_hash()
    {
        var properties = Settable(typeof(TrainOptions)).ToList();
        Assert.Equal(OptionValues.Keys.Order(), properties.Select(p => p.Name).Order());
        string defaultHash = OptionsSchema.Hash(Defaults);
        foreach (var property in properties)
        {
            var value = OptionValues[property.Name];
            Assert.NotEqual(Text(property.GetValue(Defaults)), Text(value));
            var changed = With(Defaults, property, value);
            var back = OptionsSchema.FromJson(OptionsSchema.Canonical(changed), "test");
            Assert.True(Text(value) == Text(property.GetValue(back)), $"{property.Name} did not round-trip: {Text(property.GetValue(back))}");
            Assert.Equal(changed, back);
            Assert.NotEqual(defaultHash, OptionsSchema.Hash(changed));
            Assert.NotEmpty(OptionsSchema.Differences(Defaults, changed));
        }
    }

    [Fact]
    public void Every_model_config_field_round_trips_inside_the_options()
    {
        var properties = Settable(typeof(ModelConfig)).ToList();
        Assert.Equal(ConfigValues.Keys.Order(), properties.Select(p => p.Name).Order());
        foreach (var property in properties)
        {
            var options = Defaults with { Model = With(Defaults.Model, property, ConfigValues[property.Name]) };
            var back = OptionsSchema.FromJson(OptionsSchema.Canonical(options), "test");
            Assert.Equal(options.Model, back.Model);
            Assert.NotEqual(OptionsSchema.Hash(Defaults), OptionsSchema.Hash(options));
        }
    }

    [Fact]
    public void The_canonical_form_is_compact_snake_case_in_declaration_order()
    {
        var options = new TrainOptions { Model = ModelConfig.Lstm(8, 12), Steps = 20, Offline = [new("sparse", 10)] };
        // Written with ' for " to stay readable.
        string expected = ("{'model':{'model':'lstm','vocab_size':5,'embed_dim':8,'hidden':12},'task':'flipflop','automaton_p_write':0.5,'steps':20," +
            "'batch':16,'length':512,'learning_rate':0.0003,'weight_decay':0.1,'adam_beta1':0.9,'adam_beta2':0.999,'adam_epsilon':1E-08,'warmup':50," +
            "'decay_steps':null,'seed':1,'data_seed':1,'data':{'components':[{'p_write':0.09999999999999998,'p_read':0.09999999999999998,'p_ignore':0.8}]},'mode':'clean'," +
            "'dropout_embedding':0,'dropout_attention':0,'dropout_feed_forward':0,'sharpen':0,'sharpen_layers':null,'sharpen_from':0,'eval_every':100," +
            "'eval_count':1000,'offline':[{'split':'sparse','count':10}],'eval_batch':null}").Replace('\'', '"');
        Assert.Equal(expected,
            OptionsSchema.Canonical(options));
        Assert.Equal(64, OptionsSchema.Hash(options).Length);
    }

    [Fact]
    public void Differences_name_each_field_with_both_values()
    {
        var a = new TrainOptions { Model = ModelConfig.Lstm(32, 32), Steps = 300, Length = 64 };
        var b = new TrainOptions { Model = ModelConfig.Lstm(128, 128), Steps = 500, Length = 64, Offline = [new("sparse", 5)] };
        var diff = OptionsSchema.Differences(a, b);
        Assert.Contains("steps: 300 there, 500 now", diff);
        Assert.Contains("model.hidden: 32 there, 128 now", diff);
        Assert.Contains("model.embed_dim: 32 there, 128 now", diff);
        Assert.Contains(diff, d => d.StartsWith("offline[1].split:", StringComparison.Ordinal));
        Assert.Empty(OptionsSchema.Differences(a, a with { }));
    }

    [Fact]
    public void Unreadable_options_are_an_error_naming_the_source()
    {
        Assert.Contains("store.db", Assert.Throws<FormatException>(() => OptionsSchema.FromJson("{\"model\": 3}", "store.db")).Message);
        Assert.Contains("p_write", Assert.Throws<FormatException>(() => OptionsSchema.FromJson(
            """{"model":{"model":"lstm","embed_dim":8,"hidden":8},"data":{"components":[{"p_write":2,"p_read":0,"p_ignore":0}]}}""", "x")).Message);
        Assert.NotNull(JsonNode.Parse(OptionsSchema.Canonical(Defaults)));
    }
}
