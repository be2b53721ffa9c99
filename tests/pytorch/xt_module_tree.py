#!/usr/bin/python3
"""Loads a state dict written by `rawflipflop export` into the PyTorch module tree its printed constructor builds,
with load_state_dict(strict=True), and compares that tree's logits with the engine's.

x-transformers itself is not installable here (no network), so this file has a small module tree that follows
x-transformers 1.16.8's module names and nesting for the options the engine uses (written from its naming scheme, see
README "Export to PyTorch and x-transformers"):

  TransformerWrapper: token_emb.emb (nn.Embedding), pos_emb (AbsolutePositionalEmbedding .emb, or
    ScaledSinusoidalEmbedding .scale with a non-persistent inv_freq buffer, or nothing), attn_layers, to_logits (Linear
    with bias)
  Decoder (AttentionLayers): layers = ModuleList of ModuleList([ModuleList([LayerNorm, None, None]), block, Residual]),
    attention blocks (to_q, to_k, to_v, to_out without bias) and feed-forward blocks (ff = Sequential(Sequential(Linear,
    GELU), Identity, Dropout, Linear)) alternating; final_norm; rotary_pos_emb (persistent inv_freq buffer) with
    rotary_pos_emb=True; rel_pos (ALiBi, non-persistent slopes) with alibi_pos_bias=True.

The printed constructor is evaluated with these classes, so a constructor option this tree does not know is an error.
The LSTM's printed line builds nn.Embedding / nn.LSTM / nn.Linear directly.

  /usr/bin/python3 tests/pytorch/xt_module_tree.py --state X.safetensors --constructor "LINE" \
      --tokens SEQS.txt --logits ENGINE_LOGITS.safetensors [--tolerance 1e-5]

prints one JSON object (names, strict load, max |logit difference|) and exits 0 when the logits agree within the
tolerance, 1 otherwise. With --manifest FILE.json (a list of {name, state, constructor, tokens, logits}) it checks every
case in one process (torch starts once) and prints one JSON line per case. The forward pass runs in float64 on the float32 weights.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import VOCAB, alibi_slopes, read_safetensors  # noqa: E402


# ---------------------------------------------------------------------------------------------------------------
# x-transformers 1.16.8 naming scheme
# ---------------------------------------------------------------------------------------------------------------
class TokenEmbedding(nn.Module):
    def __init__(self, dim, num_tokens):
        super().__init__()
        self.emb = nn.Embedding(num_tokens, dim)

    def forward(self, x):
        return self.emb(x)


class AbsolutePositionalEmbedding(nn.Module):
    def __init__(self, dim, max_seq_len):
        super().__init__()
        self.scale = dim ** -0.5
        self.emb = nn.Embedding(max_seq_len, dim)

    def forward(self, x):
        return self.emb(torch.arange(x.shape[1])) * self.scale


class ScaledSinusoidalEmbedding(nn.Module):
    def __init__(self, dim, theta=10000):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1) * dim ** -0.5)
        half = dim // 2
        # not part of the state dict (non-persistent in x-transformers)
        self.register_buffer("inv_freq", theta ** -(torch.arange(half, dtype=torch.float64) / half), persistent=False)

    def forward(self, x):
        t = torch.arange(x.shape[1], dtype=self.inv_freq.dtype)
        ang = t[:, None] * self.inv_freq[None, :]
        return torch.cat((ang.sin(), ang.cos()), dim=-1) * self.scale


class RotaryEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        # persistent: RotaryEmbedding's inv_freq is in the state dict
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, n):
        t = torch.arange(n, dtype=self.inv_freq.dtype)
        freqs = t[:, None] * self.inv_freq[None, :]
        return torch.cat((freqs, freqs), dim=-1)


class AlibiPositionalBias(nn.Module):
    def __init__(self, heads):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(alibi_slopes(heads), dtype=torch.float64)[:, None, None],
                             persistent=False)

    def forward(self, n):
        i = torch.arange(n, dtype=self.slopes.dtype)
        return -(i[:, None] - i[None, :]).abs()[None] * self.slopes


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rotary(t, freqs):
    rot = freqs.shape[-1]
    tr, tp = t[..., :rot], t[..., rot:]
    return torch.cat((tr * freqs.cos() + rotate_half(tr) * freqs.sin(), tp), dim=-1)


class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x, rotary=None, bias=None):
        b, n, _ = x.shape
        q, k, v = (f(x).view(b, n, self.heads, -1).transpose(1, 2) for f in (self.to_q, self.to_k, self.to_v))
        if rotary is not None:  # 1.16.8 turns the values too
            q, k, v = (apply_rotary(z, rotary) for z in (q, k, v))
        s = (q @ k.transpose(-1, -2)) * self.scale
        if bias is not None:
            s = s + bias
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
        y = s.softmax(dim=-1) @ v
        return self.to_out(y.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        inner = dim * mult
        self.ff = nn.Sequential(nn.Sequential(nn.Linear(dim, inner), nn.GELU()), nn.Identity(), nn.Dropout(0.0),
                                nn.Linear(inner, dim))

    def forward(self, x):
        return self.ff(x)


class Residual(nn.Module):
    def forward(self, x, residual):
        return x + residual


class Decoder(nn.Module):
    def __init__(self, *, dim, depth, heads, attn_dim_head, rotary_pos_emb=False, alibi_pos_bias=False,
                 alibi_num_heads=None):
        super().__init__()
        self.dim = dim
        self.has_pos_emb = rotary_pos_emb
        self.rotary_pos_emb = RotaryEmbedding(max(attn_dim_head // 2, 32)) if rotary_pos_emb else None
        if alibi_pos_bias:
            assert alibi_num_heads in (None, heads), "alibi_num_heads below the head count is not modelled"
        self.rel_pos = AlibiPositionalBias(heads) if alibi_pos_bias else None
        self.layers = nn.ModuleList()
        for _ in range(depth):
            for block in (Attention(dim, heads, attn_dim_head), FeedForward(dim)):
                self.layers.append(nn.ModuleList([nn.ModuleList([nn.LayerNorm(dim), None, None]), block, Residual()]))
        self.final_norm = nn.LayerNorm(dim)

    def forward(self, x):
        n = x.shape[1]
        rotary = self.rotary_pos_emb(n).to(x.dtype) if self.rotary_pos_emb is not None else None
        bias = self.rel_pos(n).to(x.dtype) if self.rel_pos is not None else None
        for (norms, block, residual) in self.layers:
            h = norms[0](x)
            out = block(h, rotary, bias) if isinstance(block, Attention) else block(h)
            x = residual(out, x)
        return self.final_norm(x)


class TransformerWrapper(nn.Module):
    def __init__(self, *, num_tokens, max_seq_len, attn_layers, use_abs_pos_emb=True, scaled_sinu_pos_emb=False):
        super().__init__()
        dim = attn_layers.dim
        self.token_emb = TokenEmbedding(dim, num_tokens)
        if not (use_abs_pos_emb and not attn_layers.has_pos_emb):
            self.pos_emb = None
        elif scaled_sinu_pos_emb:
            self.pos_emb = ScaledSinusoidalEmbedding(dim)
        else:
            self.pos_emb = AbsolutePositionalEmbedding(dim, max_seq_len)
        self.attn_layers = attn_layers
        self.to_logits = nn.Linear(dim, num_tokens)

    def forward(self, tokens):
        x = self.token_emb(tokens)
        if self.pos_emb is not None:
            x = x + self.pos_emb(x).to(x.dtype)
        return self.to_logits(self.attn_layers(x))


class Lstm(nn.Module):
    """The three modules the LSTM's printed line builds, under the names emb, lstm, head."""

    def __init__(self, line):
        super().__init__()
        scope = {"nn": nn}
        exec(line, scope)
        self.emb, self.lstm, self.head = scope["emb"], scope["lstm"], scope["head"]

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.head(y)


def build(constructor):
    if constructor.startswith("TransformerWrapper("):
        return eval(constructor, {"__builtins__": {}, "TransformerWrapper": TransformerWrapper, "Decoder": Decoder, "True": True, "False": False})
    if constructor.startswith("emb = nn.Embedding("):
        return Lstm(constructor)
    raise SystemExit("not a constructor this module tree builds: " + constructor)


def check(state_path, constructor, tokens_path, logits_path, tolerance):
    """One export against the engine's logits: a report (dict) and whether it passed."""
    state, _ = read_safetensors(state_path)
    model = build(constructor)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    report = {
        "constructor": constructor,
        "missing": sorted(set(expected) - set(got)),
        "unexpected": sorted(set(got) - set(expected)),
        "misshaped": sorted(k for k in set(expected) & set(got) if expected[k] != got[k]),
        "tensors": len(got),
    }
    if report["missing"] or report["unexpected"] or report["misshaped"]:
        return report, False
    model.load_state_dict(state, strict=True)
    report["strict_load"] = True
    model = model.double().eval()

    with open(tokens_path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    tokens = torch.tensor([[VOCAB[c] for c in s] for s in lines], dtype=torch.int64)
    engine, _ = read_safetensors(logits_path)
    with torch.no_grad():
        logits = model(tokens)
    diff = (logits - engine["logits"].double()).abs().max().item()
    report["sequences"], report["length"] = tokens.shape
    report["max_abs_diff"] = diff
    report["max_abs_logit"] = engine["logits"].abs().max().item()
    return report, math.isfinite(diff) and diff <= tolerance


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state")
    ap.add_argument("--constructor")
    ap.add_argument("--tokens")
    ap.add_argument("--logits")
    ap.add_argument("--manifest", help="JSON list of {name, state, constructor, tokens, logits}: one report line each")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.manifest:
        with open(a.manifest) as f:
            cases = json.load(f)
    else:
        cases = [{"name": "", "state": a.state, "constructor": a.constructor, "tokens": a.tokens, "logits": a.logits}]
    ok = True
    for c in cases:
        try:
            report, passed = check(c["state"], c["constructor"], c["tokens"], c["logits"], a.tolerance)
        except Exception as e:  # one case's failure is reported, the others still run
            report, passed = {"error": repr(e)}, False
        report["name"], report["passed"] = c["name"], passed
        print(json.dumps(report), flush=True)
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
