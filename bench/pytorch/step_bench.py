#!/usr/bin/python3
"""Time one full PyTorch training step for the side-by-side benchmark with RawFlipFlop.

One step = forward, clean-mode loss, backward, AdamW(lr=3e-4, weight_decay=0.1) step, zero_grad,
at B=16, T=512, float32, on CPU, for
  (a) the LSTM: embed 128, hidden 128 (133,381 parameters), and
  (b) the Transformer: 2 layers, dim 128, 2 heads, learned positions, max_length 512, and
  (c) the paper's baseline Transformer: 6 layers, dim 512, 8 heads (1 warm-up and --baseline-steps timed steps).
Every step gets a freshly sampled FFL(0.8) batch (p_i=0.8, p_w=p_r=0.1); the batches are sampled
before the clock starts, so sampling is not timed.

Run with Debian's python (the one that has torch):
  /usr/bin/python3 bench/pytorch/step_bench.py [--steps 10] [--baseline-steps 3] [--models lstm,transformer,baseline]
                                               [--threads N] [--blas-threads N] [--json]
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time


def _early_blas_threads():
    # OpenBLAS reads OPENBLAS_NUM_THREADS when it is loaded (by `import torch`), so --blas-threads
    # has to be applied before the import.
    for k, a in enumerate(sys.argv):
        if a.startswith("--blas-threads"):
            v = a.split("=", 1)[1] if "=" in a else (sys.argv[k + 1] if k + 1 < len(sys.argv) else "")
            if v.isdigit():
                os.environ["OPENBLAS_NUM_THREADS"] = v


_early_blas_threads()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

V = 5
W, R, I, ZERO, ONE = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------------------------
# data: FFL(p_i) strings as token ids; first instruction w, last r, read bit = last written bit
# --------------------------------------------------------------------------------------------
def sample_ffl(rng, B, T, p_i=0.8):
    n = T // 2
    p_w = p_r = (1.0 - p_i) / 2.0
    ins = rng.choice(np.array([I, W, R]), size=(B, n), p=[p_i, p_w, p_r])
    ins[:, 0] = W
    ins[:, -1] = R
    bits = rng.integers(0, 2, size=(B, n))
    pos = np.arange(n)[None, :].repeat(B, axis=0)
    last_w = np.maximum.accumulate(np.where(ins == W, pos, 0), axis=1)  # index of last write so far
    read_bits = np.take_along_axis(bits, last_w, axis=1)
    bits = np.where(ins == R, read_bits, bits)
    tok = np.empty((B, T), dtype=np.int64)
    tok[:, 0::2] = ins
    tok[:, 1::2] = bits + ZERO
    return torch.from_numpy(tok)


def clean_loss(logits, tokens):
    """logits[:, t] predicts tokens[:, t+1]; only positions whose input token is r are scored."""
    mask = tokens[:, :-1] == R
    return F.cross_entropy(logits[:, :-1][mask], tokens[:, 1:][mask])


# --------------------------------------------------------------------------------------------
# models (same semantics as tests/pytorch/make_reference.py)
# --------------------------------------------------------------------------------------------
class Lstm(torch.nn.Module):
    def __init__(self, E=128, Hd=128):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, Hd, num_layers=1, batch_first=True)
        self.head = torch.nn.Linear(Hd, V)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.head(y)


class Block(torch.nn.Module):
    def __init__(self, d, H):
        super().__init__()
        self.d, self.H = d, H
        self.attn_norm = torch.nn.LayerNorm(d, eps=1e-5)
        self.wq = torch.nn.Linear(d, d, bias=False)
        self.wk = torch.nn.Linear(d, d, bias=False)
        self.wv = torch.nn.Linear(d, d, bias=False)
        self.wo = torch.nn.Linear(d, d, bias=False)
        self.ff_norm = torch.nn.LayerNorm(d, eps=1e-5)
        self.w1 = torch.nn.Linear(d, 4 * d)
        self.w2 = torch.nn.Linear(4 * d, d)

    def forward(self, x, causal):
        B, T, d = x.shape
        H, dh = self.H, d // self.H
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, H, dh).transpose(1, 2)
        k = self.wk(h).view(B, T, H, dh).transpose(1, 2)
        v = self.wv(h).view(B, T, H, dh).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) * dh ** -0.5
        s = s.masked_fill(~causal, float("-inf"))
        y = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.wo(y)
        return x + self.w2(F.gelu(self.w1(self.ff_norm(x))))


class Transformer(torch.nn.Module):
    def __init__(self, L=2, d=128, H=2, max_length=512):
        super().__init__()
        self.d = d
        self.tok_emb = torch.nn.Embedding(V, d)
        self.pos_emb = torch.nn.Embedding(max_length, d)
        self.layers = torch.nn.ModuleList([Block(d, H) for _ in range(L)])
        self.final_norm = torch.nn.LayerNorm(d, eps=1e-5)
        self.head = torch.nn.Linear(d, V)
        self.register_buffer("causal", torch.ones(max_length, max_length, dtype=torch.bool).tril(),
                             persistent=False)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb.weight[:T] * self.d ** -0.5
        causal = self.causal[:T, :T]
        for layer in self.layers:
            x = layer(x, causal)
        return self.head(self.final_norm(x))


def transformer_param_count(L, d, max_length):
    per_layer = 2 * d + 4 * d * d + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)
    return V * d + max_length * d + L * per_layer + 2 * d + V * d + V


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
def time_model(model, batches, warmup, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)

    def step(tokens):
        loss = clean_loss(model(tokens), tokens)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for k in range(warmup):
        step(batches[k])
    times = []
    loss = None
    for k in range(steps):
        t0 = time.perf_counter()
        loss = step(batches[warmup + k])
        times.append((time.perf_counter() - t0) * 1000.0)
    assert math.isfinite(loss.item())
    return statistics.median(times), min(times), loss.item()


def blas_libraries():
    """The BLAS/LAPACK shared objects actually loaded (torch's BLAS_INFO says 'generic' on Debian,
    which links against libblas.so.3 chosen by update-alternatives)."""
    a = torch.randn(64, 64)
    (a @ a).sum()
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if "blas" in p.lower() or "lapack" in p.lower():
                    libs.add(p)
    except OSError:
        pass
    return sorted(libs)


def openblas_threads(libs):
    for p in libs:
        if "openblas" in os.path.basename(p).lower():
            try:
                return ctypes.CDLL(p).openblas_get_num_threads()
            except (OSError, AttributeError):
                return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="OpenBLAS's own thread pool size (sets OPENBLAS_NUM_THREADS before torch loads); "
                         "default: OpenBLAS's default (all cores)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--baseline-steps", type=int, default=3)
    ap.add_argument("--models", default="lstm,transformer,baseline",
                    help="comma-separated subset of lstm, transformer, baseline")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="also print one JSON line with the results")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    cfg = torch.__config__.show()
    blas_info = next((p.strip().split()[-1] for p in cfg.replace(",", "\n").splitlines() if "BLAS_INFO" in p),
                     "BLAS_INFO=?")
    libs = blas_libraries()
    openblas = any("openblas" in l.lower() for l in libs) or "openblas" in cfg.lower()
    print("torch %s, torch.get_num_threads() = %d (os.cpu_count() = %s)"
          % (torch.__version__, torch.get_num_threads(), os.cpu_count()))
    pinfo = [l.strip() for l in torch.__config__.parallel_info().strip().splitlines()]
    # the first line is just the "ATen/Parallel:" heading; show the thread count line under it too
    print("parallel_info: %s %s" % (pinfo[0], pinfo[1] if len(pinfo) > 1 else ""))
    print("BLAS: OpenBLAS=%s (torch.__config__.show(): %s; loaded: %s)"
          % ("yes" if openblas else "no", blas_info, ", ".join(libs) or "none found"))
    print("OpenBLAS threads: %s (OPENBLAS_NUM_THREADS=%s, OMP_NUM_THREADS=%s)"
          % (openblas_threads(libs), os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
             os.environ.get("OMP_NUM_THREADS", "unset")))
    print("B=%d T=%d float32, AdamW(lr=3e-4, wd=0.1), clean loss, FFL(0.8), warmup %d, timed %d steps"
          % (args.batch, args.seq, args.warmup, args.steps))

    known = {
        "lstm": (lambda: Lstm(128, 128), 133381, args.warmup, args.steps),
        "transformer": (lambda: Transformer(2, 128, 2, args.seq), transformer_param_count(2, 128, args.seq),
                        args.warmup, args.steps),
        "baseline": (lambda: Transformer(6, 512, 8, args.seq), transformer_param_count(6, 512, args.seq),
                     1, args.baseline_steps),
    }
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in known]
    if unknown:
        ap.error("--models: unknown model(s) %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    results = {}
    for name in names:
        make, expect, warmup, steps = known[name]
        model = make()
        nparams = sum(p.numel() for p in model.parameters())
        assert nparams == expect, (name, nparams, expect)
        batches = [sample_ffl(rng, args.batch, args.seq, 0.8) for _ in range(warmup + steps)]
        med, mn, loss = time_model(model, batches, warmup, steps)
        results[name] = med
        print("%-12s params=%8d  median %9.2f ms/step  min %9.2f ms/step  (last loss %.4f)"
              % (name, nparams, med, mn, loss))

    if args.json:
        out = {name + "_ms": round(ms, 3) for name, ms in results.items()}
        out.update({"threads": torch.get_num_threads(), "torch": torch.__version__,
                    "blas_threads": openblas_threads(libs)})
        print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
