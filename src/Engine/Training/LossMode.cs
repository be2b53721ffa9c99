using System.Text.Json.Serialization;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Engine.Training;

/// <summary>Which next-token predictions the loss scores.</summary>
public enum LossMode
{
    /// <summary>Deterministic mode: only positions whose input token is `r` (predict the bit that follows).</summary>
    Clean,
    /// <summary>Noisy mode: every next token (positions 0..T-2).</summary>
    Generative,
}

public static class LossTargets
{
    /// <summary>
    /// targets (B,T): the next token where the position is scored, -1 elsewhere (always -1 at the last position).
    /// Returns the number of scored positions.
    /// </summary>
    public static int Build(ReadOnlySpan<byte> tokens, int b, int t, LossMode mode, Span<int> targets)
    {
        int scored = 0;
        for (int s = 0; s < b; s++)
            for (int i = 0; i < t; i++)
            {
                int k = s * t + i;
                bool score = i < t - 1 && (mode == LossMode.Generative || tokens[k] == Tokens.Read);
                targets[k] = score ? tokens[k + 1] : -1;
                if (score) scored++;
            }
        return scored;
    }
}
