using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class AutomatonTests
{
    [Fact]
    public void Transitions_follow_definition_1()
    {
        // The paper's input [sigma1, bottom, sigma0, bottom, bottom, sigma0, sigma1, bottom].
        byte[] inputs = [Automaton.Sigma1, Automaton.Bottom, Automaton.Sigma0, Automaton.Bottom, Automaton.Bottom, Automaton.Sigma0, Automaton.Sigma1, Automaton.Bottom];
        var states = new byte[inputs.Length];
        Automaton.Run(inputs, states);
        Assert.Equal([1, 1, 0, 0, 0, 0, 1, 1], states);
    }

    [Fact]
    public void Sampler_is_deterministic_and_consistent_and_round_trips()
    {
        var sampler = new AutomatonSampler(0.5);
        var a = sampler.SampleMany(9, 0, 100, 40);
        var b = sampler.SampleMany(9, 0, 100, 40);
        Assert.Equal(a.Inputs, b.Inputs);
        int writes = a.Inputs.Count(x => x != Automaton.Bottom);
        Assert.InRange(writes, 1700, 2300);
        using var dir = new TempDir();
        foreach (var name in new[] { "auto.txt", "auto.parquet" })
        {
            AutomatonFiles.Write(dir.File(name), a);
            var back = AutomatonFiles.Read(dir.File(name));
            Assert.Equal(a.Inputs, back.Inputs);
            Assert.Equal(a.States, back.States);
            Assert.True(DataFileKinds.IsAutomaton(dir.File(name)));
        }
    }

    [Fact]
    public void Inconsistent_states_are_reported()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a.txt"), "1--0\t1100\n1-x\t110\n");
        var (data, problems) = AutomatonFiles.Check(dir.File("a.txt"));
        Assert.Null(data);
        Assert.Equal(2, problems.Total);
        Assert.Contains("state '0' after input '-' at position 3; the automaton is in state 1", problems.Problems[0].Reason);
        Assert.Contains("unexpected input character 'x'", problems.Problems[1].Reason);
    }
}
