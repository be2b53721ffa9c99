#!/usr/bin/env bash
# One training step (B=16, T=512) of the LSTM and of the 2-layer 128-wide 2-head Transformer, in RawFlipFlop's
# CPU engine and in PyTorch (Debian python3-torch with OpenBLAS), run alternately in one session so both see
# the same machine state; prints each median and the ratio ours / PyTorch (below 1: we are faster).
# Usage: bash bench/compare-pytorch.sh [rounds (default 2)] [steps per round (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
steps=${2:-10}
python=/usr/bin/python3
dotnet build bench -c Release -v quiet -nologo >/dev/null
ours=(); theirs=()
for ((r = 1; r <= rounds; r++)); do
  ours+=("$(dotnet run -c Release --project bench --no-build -- step-timing --steps "$steps" --json | tail -1)")
  # torch uses all cores for its own threads; OpenBLAS is kept to one thread so the two pools do not oversubscribe
  theirs+=("$($python bench/pytorch/step_bench.py --steps "$steps" --blas-threads 1 --json | tail -1)")
done
$python - "$rounds" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, statistics, sys
rounds = int(sys.argv[1])
ours = [json.loads(s) for s in sys.argv[2:2 + rounds]]
theirs = [json.loads(s) for s in sys.argv[2 + rounds:]]
print(f"{'model':<24}{'RawFlipFlop ms':>16}{'PyTorch ms':>12}{'ratio':>8}")
for key, name in (("lstm_ms", "LSTM 133K"), ("transformer_ms", "Transformer 2x128x2")):
    a = statistics.median(o[key] for o in ours)
    b = statistics.median(t[key] for t in theirs)
    print(f"{name:<24}{a:>16.1f}{b:>12.1f}{a / b:>8.2f}")
print(f"torch {theirs[0].get('torch')}, {theirs[0].get('threads')} threads; {rounds} alternating rounds of medians")
PY
