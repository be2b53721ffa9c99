namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// TF32, the tensor cores' 19-bit float: FP32's sign and 8-bit exponent with 10 mantissa bits (the low 13 bits of
/// an FP32 pattern are zero). One unit in the last place is 2^-10 relative, so rounding errs by at most 2^-11.
/// </summary>
public static class Tf32
{
    /// <summary>Mantissa bits an FP32 pattern loses in TF32.</summary>
    public const int DroppedBits = 13;

    /// <summary>
    /// x rounded to TF32 exactly as PTX's cvt.rna.tf32.f32: to nearest, ties away from zero (add half a TF32 ulp to
    /// the magnitude's bits, then clear the 13 low bits; a carry may raise the exponent, up to infinity). Infinities
    /// stay; a NaN becomes NaN.
    /// </summary>
    public static float Round(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if ((bits & 0x7f800000u) == 0x7f800000u) return float.IsNaN(x) ? float.NaN : x;
        return BitConverter.UInt32BitsToSingle((bits + (1u << (DroppedBits - 1))) & ~((1u << DroppedBits) - 1));
    }

    /// <summary>The TF32 number the tensor cores read from an FP32 pattern: its 13 low mantissa bits ignored (truncation).</summary>
    public static float Truncate(float x) =>
        float.IsNaN(x) ? x : BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(x) & ~((1u << DroppedBits) - 1));
}
