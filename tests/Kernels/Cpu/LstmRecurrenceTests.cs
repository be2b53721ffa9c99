using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>
/// The fused LSTM recurrence (CpuOps.Lstm.cs) against a plain double-precision reference on sizes that leave partial
/// register tiles (hidden not a multiple of 8, B = 1 and odd B, T = 1), and its bits against the grouping of batch rows.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class LstmRecurrenceTests
{
    sealed record Case(double[] XProj, double[] Whh, double[] Bhh, double[] Dh, double[] DwhhStart);

    static Case Random(int b, int t, int hidden, int seed)
    {
        var r = new System.Random(seed);
        double[] Values(int n, double scale) => Enumerable.Range(0, n).Select(_ => scale * (2 * r.NextDouble() - 1)).ToArray();
        return new Case(Values(b * t * 4 * hidden, 1.5), Values(4 * hidden * hidden, 0.3), Values(4 * hidden, 0.5),
            Values(b * t * hidden, 1), Values(4 * hidden * hidden, 1));
    }

    /// <summary>h, cell, gates, dxproj, dwhh, dbhh by the textbook recurrence and backpropagation through time.</summary>
    static double[][] Reference(Case c, int b, int t, int hidden)
    {
        int g4 = 4 * hidden;
        double S(double x) => 1 / (1 + Math.Exp(-x));
        var h = new double[b * t * hidden]; var cell = new double[b * t * hidden]; var gates = new double[b * t * g4];
        var dx = new double[b * t * g4]; var dw = (double[])c.DwhhStart.Clone(); var db = new double[g4];
        for (int bi = 0; bi < b; bi++)
        {
            for (int s = 0; s < t; s++)
            {
                int row = bi * t + s;
                for (int n = 0; n < g4; n++)
                {
                    double z = c.XProj[row * g4 + n] + c.Bhh[n];
                    if (s > 0) for (int k = 0; k < hidden; k++) z += h[(row - 1) * hidden + k] * c.Whh[n * hidden + k];
                    gates[row * g4 + n] = n / hidden == 2 ? Math.Tanh(z) : S(z);
                }
                for (int j = 0; j < hidden; j++)
                {
                    double ig = gates[row * g4 + j], fg = gates[row * g4 + hidden + j], gg = gates[row * g4 + 2 * hidden + j], og = gates[row * g4 + 3 * hidden + j];
                    double cv = ig * gg + (s > 0 ? fg * cell[(row - 1) * hidden + j] : 0);
                    cell[row * hidden + j] = cv;
                    h[row * hidden + j] = og * Math.Tanh(cv);
                }
            }
            var dhNext = new double[hidden]; var dcNext = new double[hidden];
            for (int s = t - 1; s >= 0; s--)
            {
                int row = bi * t + s;
                for (int j = 0; j < hidden; j++)
                {
                    double ig = gates[row * g4 + j], fg = gates[row * g4 + hidden + j], gg = gates[row * g4 + 2 * hidden + j], og = gates[row * g4 + 3 * hidden + j];
                    double tc = Math.Tanh(cell[row * hidden + j]), dhTotal = c.Dh[row * hidden + j] + dhNext[j];
                    double dc = dcNext[j] + dhTotal * og * (1 - tc * tc), cp = s > 0 ? cell[(row - 1) * hidden + j] : 0;
                    dx[row * g4 + j] = dc * gg * ig * (1 - ig);
                    dx[row * g4 + hidden + j] = dc * cp * fg * (1 - fg);
                    dx[row * g4 + 2 * hidden + j] = dc * ig * (1 - gg * gg);
                    dx[row * g4 + 3 * hidden + j] = dhTotal * tc * og * (1 - og);
                    dcNext[j] = dc * fg;
                }
                for (int k = 0; k < hidden; k++)
                {
                    double sum = 0;
                    for (int n = 0; n < g4; n++) sum += dx[row * g4 + n] * c.Whh[n * hidden + k];
                    dhNext[k] = sum;
                }
                for (int n = 0; n < g4; n++)
                {
                    db[n] += dx[row * g4 + n];
                    if (s > 0) for (int k = 0; k < hidden; k++) dw[n * hidden + k] += dx[row * g4 + n] * h[(row - 1) * hidden + k];
                }
            }
        }
        return [h, cell, gates, dx, dw, db];
    }

    static T[][] Run<T>(Case c, int b, int t, int hidden, int groups) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var device = new CpuDevice();
        var ops = new CpuOps<T>(device);
        Buf<T> Of(double[] values) => device.AllocateFrom(values.Select(T.CreateTruncating).ToArray());
        int g4 = 4 * hidden;
        var h = device.Allocate<T>(b * t * hidden); var cell = device.Allocate<T>(b * t * hidden); var gates = device.Allocate<T>(b * t * g4);
        var whh = Of(c.Whh);
        ops.LstmForward(h, cell, gates, Of(c.XProj), whh, Of(c.Bhh), b, t, hidden, groups);
        var dx = device.Allocate<T>(b * t * g4); var dw = Of(c.DwhhStart); var db = device.Allocate<T>(g4);
        ops.LstmBackward(dx, dw, db, Of(c.Dh), h, cell, gates, whh, b, t, hidden, groups);
        return [device.ToArray(h), device.ToArray(cell), device.ToArray(gates), device.ToArray(dx), device.ToArray(dw), device.ToArray(db)];
    }

    [Theory]
    [InlineData(1, 1, 5)]
    [InlineData(1, 7, 13)]
    [InlineData(3, 6, 5)]
    [InlineData(5, 4, 11)]
    [InlineData(7, 3, 20)]
    [InlineData(2, 5, 1)]
    public void Fused_recurrence_matches_the_reference(int b, int t, int hidden)
    {
        var c = Random(b, t, hidden, 100 * b + 10 * t + hidden);
        var expected = Reference(c, b, t, hidden);
        foreach (int groups in new[] { 1, b })
        {
            var inDouble = Run<double>(c, b, t, hidden, groups);
            var inFloat = Run<float>(c, b, t, hidden, groups);
            for (int i = 0; i < expected.Length; i++)
                for (int j = 0; j < expected[i].Length; j++)
                {
                    Assert.Equal(expected[i][j], inDouble[i][j], 1e-12);
                    Assert.Equal(expected[i][j], inFloat[i][j], 2e-5 * Math.Max(1, Math.Abs(expected[i][j])));
                }
        }
    }

    [Theory]
    [InlineData(13)]
    [InlineData(40)]
    [InlineData(128)]
    public void Bits_do_not_depend_on_the_grouping_of_batch_rows(int hidden)
    {
        int b = 16, t = 9;
        var c = Random(b, t, hidden, hidden);
        var one = Run<float>(c, b, t, hidden, 1);
        foreach (int groups in new[] { 2, 5, 16 })
        {
            var other = Run<float>(c, b, t, hidden, groups);
            for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], other[i]);
        }
        var oneD = Run<double>(c, b, t, hidden, 1);
        Assert.Equal(oneD[3], Run<double>(c, b, t, hidden, 5)[3]);
    }
}
