using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Analysis;

/// <summary>How the miner chooses the sequences it tries.</summary>
public enum MiningStrategy
{
    /// <summary>Random FFL(p) sequences.</summary>
    Random,
    /// <summary>Families built to stress recall: dependency-length sweeps, write densities, long ignore runs, distracting bit patterns, reads near the end.</summary>
    Targeted,
    /// <summary>A local search: near misses of a random pool are mutated to shrink the right bit's margin until it flips.</summary>
    Mutate,
}

/// <summary>A sequence on which the model misreads: its tokens, the first wrong read and that read's dependency length and margin.</summary>
public sealed record MinedGlitch(byte[] Tokens, int Position, int Dependency, double Margin);

/// <summary>What a search found: sequences evaluated, the glitches (distinct sequences), and the rate per 10^5 sequences.</summary>
public sealed record MiningResult(MiningStrategy Strategy, long Evaluated, IReadOnlyList<MinedGlitch> Glitches)
{
    public double PerHundredThousand => Evaluated == 0 ? 0 : Glitches.Count * 1e5 / Evaluated;
}

/// <summary>
/// Searches for flip-flop sequences that make a language model misread (its argmax at a read is not the bit last
/// written). A read's margin is the logit of the right bit minus the logit of the other bit; a misread has a negative
/// margin or a non-bit argmax. Every strategy spends a budget of sequences, evaluated in batches on the model's device,
/// and is reproducible from its seed. Sequences are always valid FFL strings (first instruction w, last r, reads repeat
/// the last written bit).
/// </summary>
public sealed class GlitchMiner(IModel<float> model, int length, int batch)
{
    readonly int _vocab = model.Config.VocabSize;

    /// <summary>Margin of every read (NaN elsewhere) and whether it is a misread, for each sequence: one batch.</summary>
    (double[][] Margins, bool[][] Wrong) Score(IReadOnlyList<byte[]> sequences)
    {
        int b = sequences.Count, n = b * length;
        var device = model.Ops.Device;
        var tokens = device.AllocateFrom<int>(sequences.SelectMany(s => s.Select(x => (int)x)).ToArray());
        try
        {
            var logits = device.ToArray(model.Forward(tokens, b, length, PassOptions.Evaluation));
            var margins = new double[b][];
            var wrong = new bool[b][];
            for (int s = 0; s < b; s++)
            {
                margins[s] = new double[length];
                wrong[s] = new bool[length];
                Array.Fill(margins[s], double.NaN);
                for (int t = 0; t + 1 < length; t += 2)
                {
                    if (sequences[s][t] != Tokens.Read) continue;
                    var row = logits.AsSpan((s * length + t) * _vocab, _vocab);
                    byte bit = sequences[s][t + 1];
                    byte other = bit == Tokens.One ? Tokens.Zero : Tokens.One;
                    int argmax = 0;
                    for (int v = 1; v < _vocab; v++) if (row[v] > row[argmax]) argmax = v;
                    margins[s][t] = row[bit] - row[other];
                    wrong[s][t] = argmax != bit;
                }
            }
            return (margins, wrong);
        }
        finally { device.Free(tokens); }
    }

    /// <summary>Evaluates candidates in batches; records each misread sequence once; returns the per-sequence least margin.</summary>
    double[] Evaluate(IReadOnlyList<byte[]> candidates, List<MinedGlitch> found, HashSet<string> seen)
    {
        var least = new double[candidates.Count];
        for (int first = 0; first < candidates.Count; first += batch)
        {
            var chunk = candidates.Skip(first).Take(batch).ToList();
            var (margins, wrong) = Score(chunk);
            for (int s = 0; s < chunk.Count; s++)
            {
                least[first + s] = margins[s].Where(m => !double.IsNaN(m)).DefaultIfEmpty(double.PositiveInfinity).Min();
                int position = Array.IndexOf(wrong[s], true);
                if (position < 0 || !seen.Add(Convert.ToBase64String(chunk[s]))) continue;
                found.Add(new MinedGlitch(chunk[s], position, Dependency(chunk[s], position), margins[s][position]));
            }
        }
        return least;
    }

    static int Dependency(byte[] tokens, int read)
    {
        for (int t = read - 2; t >= 0; t -= 2) if (tokens[t] == Tokens.Write) return read - t;
        return read;
    }

    public MiningResult Mine(MiningStrategy strategy, long budget, ulong seed, FlipFlopDistribution randomDistribution) => strategy switch
    {
        MiningStrategy.Random => RandomSearch(budget, seed, randomDistribution),
        MiningStrategy.Targeted => Targeted(budget, seed),
        _ => Mutate(budget, seed, randomDistribution),
    };

    /// <summary>Random FFL(p) sequences: the baseline every strategy is compared with.</summary>
    public MiningResult RandomSearch(long budget, ulong seed, FlipFlopDistribution distribution)
    {
        var sampler = new FlipFlopSampler(distribution);
        var found = new List<MinedGlitch>();
        var seen = new HashSet<string>();
        for (long first = 0; first < budget; first += batch)
        {
            var chunk = Enumerable.Range(0, (int)Math.Min(batch, budget - first)).Select(k =>
            {
                var s = new byte[length];
                sampler.Sample(seed, RandomDomain.Mining, first + k, s);
                return s;
            }).ToList();
            Evaluate(chunk, found, seen);
        }
        return new MiningResult(MiningStrategy.Random, budget, found);
    }

    /// <summary>Round-robin over the targeted families until the budget is spent.</summary>
    public MiningResult Targeted(long budget, ulong seed)
    {
        var random = new Rng(seed);
        var families = new Func<Rng, long, byte[]>[] { DependencySweep, WriteDensity, LongIgnoreRun, DistractingBits, ReadsNearTheEnd };
        var found = new List<MinedGlitch>();
        var seen = new HashSet<string>();
        long made = 0;
        while (made < budget)
        {
            var chunk = new List<byte[]>();
            for (; chunk.Count < batch && made < budget; made++) chunk.Add(families[made % families.Length](random, made / families.Length));
            Evaluate(chunk, found, seen);
        }
        return new MiningResult(MiningStrategy.Targeted, budget, found);
    }

    /// <summary>
    /// A quarter of the budget samples a random pool; the rest mutates the 32 sequences with the smallest margins (one or
    /// two changes each: an ignore's bit, an ignore made a write, a write made an ignore), a mutant replacing its parent
    /// when its least margin is smaller. Parents that already misread stay: every distinct misread mutant is a glitch.
    /// </summary>
    public MiningResult Mutate(long budget, ulong seed, FlipFlopDistribution distribution)
    {
        var random = new Rng(seed);
        long poolSize = Math.Max(1, budget / 4);
        var sampler = new FlipFlopSampler(distribution);
        var found = new List<MinedGlitch>();
        var seen = new HashSet<string>();
        var pool = Enumerable.Range(0, (int)poolSize).Select(k =>
        {
            var s = new byte[length];
            sampler.Sample(seed, RandomDomain.Mining, k, s);
            return s;
        }).ToList();
        var margins = Evaluate(pool, found, seen);
        const int Keep = 32;
        // the sequences with the least margins, misreads included: the neighbourhood of a glitch is rich in glitches
        var population = pool.Zip(margins).Where(x => !double.IsInfinity(x.Second)).OrderBy(x => x.Second).Take(Keep)
            .Select(x => (Tokens: x.First, Margin: x.Second)).ToList();
        long made = poolSize;
        while (made < budget && population.Count > 0)
        {
            var children = new List<(byte[] Tokens, int Parent)>();
            for (; children.Count < batch && made < budget; made++)
            {
                int parent = (int)(made % population.Count);
                children.Add((Mutation(population[parent].Tokens, random), parent));
            }
            var childMargins = Evaluate(children.Select(c => c.Tokens).ToList(), found, seen);
            for (int c = 0; c < children.Count; c++)
            {
                var p = children[c].Parent;
                if (childMargins[c] < population[p].Margin) population[p] = (children[c].Tokens, childMargins[c]);
            }
        }
        return new MiningResult(MiningStrategy.Mutate, made, found);
    }

    byte[] Mutation(byte[] parent, Rng random)
    {
        var child = (byte[])parent.Clone();
        int changes = 1 + random.Next(2);
        int pairs = length / 2;
        for (int c = 0; c < changes; c++)
        {
            int j = 1 + random.Next(pairs - 2); // never the first write nor the last read
            int t = 2 * j;
            switch (random.Next(3))
            {
                case 0 when child[t] == Tokens.Ignore: child[t + 1] = Tokens.Bit(random.Next(2)); break;
                case 1 when child[t] == Tokens.Ignore: child[t] = Tokens.Write; child[t + 1] = Tokens.Bit(random.Next(2)); break;
                case 2 when child[t] == Tokens.Write: child[t] = Tokens.Ignore; break;
                default: if (child[t] != Tokens.Read) child[t + 1] = Tokens.Bit(random.Next(2)); break;
            }
        }
        return Repair(child);
    }

    /// <summary>Makes every read's bit the last written one again (after a mutation changed the writes).</summary>
    static byte[] Repair(byte[] tokens)
    {
        byte last = tokens[1];
        for (int t = 0; t + 1 < tokens.Length; t += 2)
        {
            if (tokens[t] == Tokens.Write) last = tokens[t + 1];
            else if (tokens[t] == Tokens.Read) tokens[t + 1] = last;
        }
        return tokens;
    }

    /// <summary>A sequence of ignores with random bits: write at the start, read at the end; the families fill in between.</summary>
    byte[] Background(Rng random)
    {
        var s = new byte[length];
        for (int t = 0; t < length; t += 2) { s[t] = Tokens.Ignore; s[t + 1] = Tokens.Bit(random.Next(2)); }
        s[0] = Tokens.Write;
        s[length - 2] = Tokens.Read;
        return s;
    }

    /// <summary>One write, then a read exactly k tokens later, k sweeping every even length; reads also at the end.</summary>
    byte[] DependencySweep(Rng random, long round)
    {
        var s = Background(random);
        int pairs = length / 2;
        int k = 1 + (int)(round % Math.Max(1, pairs - 2));          // pairs between write and read
        int write = 2 * random.Next(Math.Max(1, pairs - 1 - k));
        s[write] = Tokens.Write;
        s[write + 2 * k] = Tokens.Read;
        return Repair(s);
    }

    /// <summary>FFL with a write probability drawn from {0.01, 0.03, 0.1, 0.3} and as many reads.</summary>
    byte[] WriteDensity(Rng random, long round)
    {
        double[] densities = [0.01, 0.03, 0.1, 0.3];
        double p = densities[round % densities.Length];
        var s = Background(random);
        for (int t = 2; t + 2 < length; t += 2)
        {
            double u = random.NextDouble();
            s[t] = u < p ? Tokens.Write : u < 2 * p ? Tokens.Read : Tokens.Ignore;
        }
        return Repair(s);
    }

    /// <summary>A write at the start, ignores to the end, one read: the longest dependency.</summary>
    byte[] LongIgnoreRun(Rng random, long round) => Repair(Background(random));

    /// <summary>Ignores whose bits all oppose the written bit (or alternate), so attending to the wrong bit token misreads.</summary>
    byte[] DistractingBits(Rng random, long round)
    {
        var s = Background(random);
        byte written = Tokens.Bit(random.Next(2));
        s[1] = written;
        byte opposite = written == Tokens.One ? Tokens.Zero : Tokens.One;
        for (int t = 2; t + 2 < length; t += 2) s[t + 1] = round % 2 == 0 ? opposite : Tokens.Bit((t / 2) % 2);
        int reads = 1 + random.Next(4);
        for (int r = 0; r < reads; r++) s[2 * (1 + random.Next(length / 2 - 2))] = Tokens.Read;
        return Repair(s);
    }

    /// <summary>Writes early, reads only in the last few pairs.</summary>
    byte[] ReadsNearTheEnd(Rng random, long round)
    {
        var s = Background(random);
        int pairs = length / 2;
        for (int w = 0; w < 1 + random.Next(3); w++) s[2 * random.Next(Math.Max(1, pairs / 4))] = Tokens.Write;
        s[0] = Tokens.Write;
        for (int j = pairs - 1 - random.Next(4); j < pairs - 1; j++) s[2 * j] = Tokens.Read;
        return Repair(s);
    }

    /// <summary>The miner's random numbers: Philox words of (seed, counter) in the mining domain, so a search repeats exactly.</summary>
    sealed class Rng(ulong seed)
    {
        ulong _counter;
        readonly uint[] _words = new uint[4];

        uint NextWord()
        {
            Philox.Fill(seed, _counter++, RandomDomain.Mining ^ 0x1, _words.AsSpan(0, 1));
            return _words[0];
        }

        public int Next(int below) => below <= 1 ? 0 : (int)((ulong)NextWord() * (ulong)below >> 32);
        public double NextDouble() => NextWord() / 4294967296.0;
    }
}
