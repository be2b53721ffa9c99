using System.Numerics;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// Every op the models use: the one interface the model code is written against. The CPU twin of kernel
/// <c>layernorm_forward</c> is <see cref="LayerNormForward"/>, and so on for every op.
/// Conventions: shapes are written above each buffer, row-major; N = B*T rows; "+=" marks a buffer that is
/// accumulated into (gradients of parameters and of the residual stream), every other output is overwritten.
/// Reductions run in a fixed order, so results are bit-reproducible.
/// </summary>
public interface IOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    IDevice Device { get; }

    // ---- utility ----
    /// <summary>x[i] = value.</summary>
    void Fill(Buf<T> x, T value);

    /// <summary>output (1) = sum of input (n), fixed order.</summary>
    void SumForward(Buf<T> output, Buf<T> input, long n);

    /// <summary>
    /// diverged (1) = 1 when loss (1) is NaN or infinite, else unchanged (it stays 1 once set): the device-side
    /// divergence guard that <see cref="AdamWUpdate"/> reads through its skip buffer.
    /// </summary>
    void LossGuard(Buf<int> diverged, Buf<T> loss);

    // ---- embeddings and position encodings ----
    /// <summary>output (N,C) = table (V,C) [tokens (N)].</summary>
    void EmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, int n, int c);

    /// <summary>dtable (V,C) += scatter of doutput (N,C) by tokens (N); deterministic (rows in order, no atomics).</summary>
    void EmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c);

    /// <summary>x (B,T,C) += scale * table (>=T,C) [t] (learned and sinusoidal encodings).</summary>
    void PositionAddForward(Buf<T> x, Buf<T> table, T scale, int b, int t, int c);

    /// <summary>dtable (T,C) += scale * sum over b of dx (B,T,C).</summary>
    void PositionAddBackward(Buf<T> dtable, Buf<T> dx, T scale, int b, int t, int c);

    /// <summary>table (T,C): row t = [sin(t f_0..f_{C/2-1}), cos(t f_0..)], f_i = 10000^(-i/(C/2)).</summary>
    void SinusoidalTable(Buf<T> table, int t, int c);

    /// <summary>x (B,T,C) += scale (1) [0] * table (>=T,C) [t]: the scaled sinusoidal embedding, whose scale is a parameter on the device.</summary>
    void PositionScaleForward(Buf<T> x, Buf<T> table, Buf<T> scale, int b, int t, int c);

    /// <summary>dscale (1) += sum over b, t, j of dx (B,T,C) * table (>=T,C) [t, j]; fixed order.</summary>
    void PositionScaleBackward(Buf<T> dscale, Buf<T> dx, Buf<T> table, int b, int t, int c);

    /// <summary>x (B,T,C): x[b,t,C-1] += t / divisor, the linear position added onto the last channel (linear-add; the gradient passes through unchanged).</summary>
    void LinearPositionForward(Buf<T> x, T divisor, int b, int t, int c);

    /// <summary>
    /// output (B,T,C) = [table (V,C-1) [tokens (B,T)], t / divisor]: the token embedding with the linear position as a
    /// coordinate of its own (Appendix C.3: v_t = [e_t, p_t]).
    /// </summary>
    void LinearPositionEmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, T divisor, int b, int t, int c);

    /// <summary>dtable (V,C-1) += scatter of doutput (N,C) [:, :C-1] by tokens (N); deterministic (rows in order, no atomics).</summary>
    void LinearPositionEmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c);

    /// <summary>
    /// qkv (B,T,3C): rotates the first rotaryDim dims of every head of q and k, and of v when rotateValues, in place
    /// (rotate-half RoPE over those dims, angle t * 10000^(-2i/rotaryDim), i &lt; rotaryDim/2; the other dims pass through).
    /// </summary>
    void RopeForward(Buf<T> qkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues);

    /// <summary>dqkv (B,T,3C): the transpose rotation of <see cref="RopeForward"/> applied in place.</summary>
    void RopeBackward(Buf<T> dqkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues);

    // ---- layer norm ----
    /// <summary>output (N,C), mean (N), rstd (N) from input (N,C), weight (C), bias (C); eps 1e-5.</summary>
    void LayerNormForward(Buf<T> output, Buf<T> mean, Buf<T> rstd, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c);

    /// <summary>dinput (N,C) +=, dweight (C) +=, dbias (C) += from doutput (N,C).</summary>
    void LayerNormBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight,
        Buf<T> mean, Buf<T> rstd, int n, int c);

    // ---- linear ----
    /// <summary>
    /// output (N,OC) = input (N,C) weight (OC,C)^T + bias (OC) (bias may be empty); the products in
    /// <paramref name="precision"/> (double supports only <see cref="MatmulPrecision.Fp32"/>).
    /// </summary>
    void MatmulForward(Buf<T> output, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c, int oc, MatmulPrecision precision);

    /// <summary>
    /// dinput (N,C) += doutput weight; dweight (OC,C) += doutput^T input; dbias (OC) += column sums of doutput (N,OC).
    /// Any of dinput and dbias may be empty (not computed). The two products in <paramref name="precision"/>.
    /// </summary>
    void MatmulBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight,
        int n, int c, int oc, MatmulPrecision precision);

    // ---- attention ----
    /// <summary>
    /// Elements of the per-layer state the attention forward keeps for its backward: every device keeps per-row
    /// statistics (B,H,T,3) (log-sum-exp, mean score, D = dO.O) and recomputes the probabilities (FlashAttention-2 style).
    /// </summary>
    long AttentionSavedLength(int b, int t, int heads);

    /// <summary>
    /// Causal multi-head softmax attention. qkv (B,T,3C) holds q, k, v (head h at columns h*C/H..);
    /// output (B,T,C); saved (AttentionSavedLength) keeps what the backward needs. Scale 1/sqrt(C/H);
    /// ALiBi bias and attention dropout per options.
    /// </summary>
    void AttentionForward(Buf<T> output, Buf<T> saved, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads);

    /// <summary>
    /// dqkv (B,T,3C) (overwritten) from doutput (B,T,C), given the forward's qkv, output and saved state.
    /// When entropyScale is not zero it also adds the gradient of entropyScale * (sum of the entropies of all
    /// attention rows) — the sharpening regularizer.
    /// </summary>
    void AttentionBackward(Buf<T> dqkv, Buf<T> doutput, Buf<T> qkv, Buf<T> output, Buf<T> saved, T entropyScale,
        AttentionOptions options, int b, int t, int c, int heads);

    /// <summary>output (1) = sum over the B*H*T attention rows of -sum_j p log p, from the forward's saved state.</summary>
    void AttentionEntropyForward(Buf<T> output, Buf<T> saved, int b, int t, int heads);

    /// <summary>
    /// Analysis mode: probs (B,H,T,T) = the softmax probabilities (before dropout) and, when scores is not empty,
    /// scores (B,H,T,T) = the pre-softmax scores (scaled q.k plus ALiBi bias); entries above the diagonal are 0.
    /// </summary>
    void AttentionProbabilities(Buf<T> probs, Buf<T> scores, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads);

    // ---- pointwise ----
    /// <summary>output (n) = x Phi(x) with the exact erf.</summary>
    void GeluForward(Buf<T> output, Buf<T> input, long n);

    /// <summary>dinput (n) (overwritten) = GELU'(input) * doutput.</summary>
    void GeluBackward(Buf<T> dinput, Buf<T> input, Buf<T> doutput, long n);

    /// <summary>output (n) = a + b.</summary>
    void ResidualForward(Buf<T> output, Buf<T> a, Buf<T> b, long n);

    /// <summary>output (n) = input * keep / (1-p); keep decided by Philox (seed, stream) per element. In place allowed.</summary>
    void DropoutForward(Buf<T> output, Buf<T> input, DropoutSpec spec, long n);

    /// <summary>dinput (n) = doutput * keep / (1-p) (same mask as the forward). In place allowed.</summary>
    void DropoutBackward(Buf<T> dinput, Buf<T> doutput, DropoutSpec spec, long n);

    // ---- LSTM ----
    /// <summary>
    /// One-layer LSTM over whole sequences, PyTorch gate order (i, f, g, o), zero initial state.
    /// xproj (B,T,4H) = x W_ih^T + b_ih (precomputed by a matmul); whh (4H,H); bhh (4H).
    /// Outputs h (B,T,H), cell (B,T,H), gates (B,T,4H) (after their nonlinearities, kept for the backward).
    /// </summary>
    void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden);

    /// <summary>
    /// dxproj (B,T,4H) (overwritten; the gradient of the gate pre-activations), dwhh (4H,H) +=, dbhh (4H) += from dh (B,T,H).
    /// The recurrence runs in FP32; the one GEMM of dwhh over the whole sequence in <paramref name="precision"/>.
    /// </summary>
    void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden, MatmulPrecision precision);

    // ---- loss and evaluation ----
    /// <summary>
    /// Softmax cross-entropy fused with its gradient. logits (N,V), targets (N) (-1 = not scored).
    /// losses (N) = -log softmax[target] (0 where not scored); dlogits (N,V) = dscale * (softmax - onehot) (0 where not scored).
    /// </summary>
    void CrossEntropyForwardBackward(Buf<T> losses, Buf<T> dlogits, Buf<T> logits, Buf<int> targets, T dscale, int n, int v);

    /// <summary>predictions (N) = argmax of logits (N,V) (first maximum).</summary>
    void ArgmaxForward(Buf<int> predictions, Buf<T> logits, int n, int v);

    /// <summary>
    /// On-device read errors: errors (N) = 1 at read positions (input token r) whose argmax of logits (N,V)
    /// differs from the next token, else 0; perSequence (B,2) = (reads, errors). tokens (B,T).
    /// Evaluation copies back perSequence, and errors only for batches that have one.
    /// </summary>
    void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<T> logits, int b, int t, int v);

    // ---- optimizer ----
    /// <summary>
    /// AdamW (decoupled weight decay, PyTorch's formula) over n parameters. skip (1), when not empty: nothing changes
    /// while skip[0] != 0 (set by <see cref="LossGuard"/>), so a step may be queued before its loss is read.
    /// </summary>
    void AdamWUpdate(Buf<T> parameters, Buf<T> gradients, Buf<T> m, Buf<T> v, AdamWStep step, long n, Buf<int> skip = default);
}

/// <summary>
/// Attention options: ALiBi bias, dropout on the attention weights, and a softmax temperature: the logits
/// (q.k / sqrt(dh) minus the ALiBi bias) are divided by <see cref="Temperature"/> (1: the trained model; towards 0:
/// hard attention). The ops multiply by <see cref="InverseTemperature"/>, exact at temperature 1, so temperature 1
/// gives the same bits as no temperature. <see cref="Precision"/> is the model's matmul precision: the GPU computes the
/// attention's products QK^T, PV and their gradients in it (tensor cores in the TF32 modes); the CPU ignores it.
/// </summary>
public readonly record struct AttentionOptions(bool Alibi, DropoutSpec Dropout, float Temperature = 1f, MatmulPrecision Precision = MatmulPrecision.Fp32)
{
    public static AttentionOptions Plain => new(false, DropoutSpec.None);

    /// <summary>1 / <see cref="Temperature"/> in float, as every backend applies it.</summary>
    public float InverseTemperature => 1f / Temperature;
}

/// <summary>
/// A dropout mask: element i is dropped iff ToUnitFloat(Philox word i of (Seed, Stream, Dropout domain)) &lt; P.
/// The same function runs in kernels.cu, so CPU and GPU masks are identical.
/// </summary>
public readonly record struct DropoutSpec(float P, ulong Seed, ulong Stream)
{
    public bool Active => P > 0;
    public static DropoutSpec None => default;
}

/// <summary>One AdamW update: p -= lr*wd*p; m, v moments; p -= lr * mhat / (sqrt(vhat) + eps); t is 1-based.</summary>
public readonly record struct AdamWStep(double LearningRate, double Beta1, double Beta2, double Epsilon, double WeightDecay, int Step);
