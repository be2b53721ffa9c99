using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>The error function, which .NET does not provide: exact to double rounding for double, to ~1e-7 for float.</summary>
public static class SpecialFunctions
{
    const double TwoOverSqrtPi = 1.1283791670955126;

    /// <summary>erf in double precision (within a few ulps).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        double r;
        if (ax < 3.0)
        {
            // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): all terms positive, no cancellation.
            double x2 = ax * ax, term = ax, sum = ax;
            for (int n = 1; n < 200; n++)
            {
                term *= 2.0 * x2 / (2 * n + 1);
                sum += term;
                if (term < sum * 1e-17) break;
            }
            r = TwoOverSqrtPi * Math.Exp(-x2) * sum;
        }
        else r = 1.0 - Erfc(ax);
        return x < 0 ? -r : r;
    }

    /// <summary>erfc for x >= 3 by its continued fraction (modified Lentz), to double precision.</summary>
    static double Erfc(double x)
    {
        if (x > 27) return 0;
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double an = n * 0.5;
            d = x + an * d; if (Math.Abs(d) < tiny) d = tiny; d = 1 / d;
            c = x + an / c; if (Math.Abs(c) < tiny) c = tiny;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>erf in single precision (Numerical Recipes' erfc Chebyshev fit, |error| below 1.2e-7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Erf(float x)
    {
        float z = MathF.Abs(x);
        float t = 1f / (1f + 0.5f * z);
        float erfc = t * MathF.Exp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
            t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
        float r = 1f - erfc;
        return x < 0 ? -r : r;
    }

    /// <summary>erf of 8 floats at once: the same fit as <see cref="Erf(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x)
    {
        var z = Vector256.Abs(x);
        var t = Vector256<float>.One / (Vector256<float>.One + 0.5f * z);
        var poly = Vector256.Create(0.17087277f);
        poly = poly * t + Vector256.Create(-0.82215223f);
        poly = poly * t + Vector256.Create(1.48851587f);
        poly = poly * t + Vector256.Create(-1.13520398f);
        poly = poly * t + Vector256.Create(0.27886807f);
        poly = poly * t + Vector256.Create(-0.18628806f);
        poly = poly * t + Vector256.Create(0.09678418f);
        poly = poly * t + Vector256.Create(0.37409196f);
        poly = poly * t + Vector256.Create(1.00002368f);
        var erfc = t * Vector256.Exp(-z * z - Vector256.Create(1.26551223f) + t * poly);
        var r = Vector256<float>.One - erfc;
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), -r, r);
    }

    /// <summary>erf at the precision of T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Erf<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) { float r = Erf(Unsafe.As<T, float>(ref x)); return Unsafe.As<float, T>(ref r); }
        return T.CreateTruncating(Erf(double.CreateTruncating(x)));
    }
}
