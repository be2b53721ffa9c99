#!/usr/bin/env bash
# One training step (B=16, T=512) of the LSTM, the 2-layer 128-wide 2-head Transformer and the paper's baseline
# (6 layers, d 512, 8 heads) in RawFlipFlop's CPU engine and in PyTorch (Debian python3-torch with OpenBLAS).
# First it finds PyTorch's fastest thread setting per model (intra-op threads x OpenBLAS threads, each 1 or all
# cores); then it runs both engines alternately, round after round, so both see the same machine state, and prints
# a Markdown table of medians with the speed-up (PyTorch's time over ours). With --ops it then runs the
# BenchmarkDotNet op suite (ShortRun) and prints its table with the GFLOP/s and GB/s of each op.
# Usage: bash bench/compare-pytorch.sh [--rounds R (2)] [--steps S (10)] [--baseline-steps S (2)] [--ops]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2; steps=10; baseline_steps=2; ops=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --baseline-steps) baseline_steps=$2; shift 2 ;;
    --ops) ops=1; shift ;;
    *) echo "error: unknown option '$1' (known: --rounds R, --steps S, --baseline-steps S, --ops)" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
if ! $python -c 'import torch' 2>/dev/null; then
  echo "error: $python cannot import torch: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2
fi
cores=$(nproc)
dotnet build bench -c Release -v quiet -nologo >/dev/null
bench_ours() { dotnet run -c Release --project bench --no-build -- step-timing --steps "$steps" --baseline-steps "$baseline_steps" --json | tail -1; }
bench_torch() { # threads blas-threads models
  $python bench/pytorch/step_bench.py --steps "$steps" --baseline-steps "$baseline_steps" --threads "$1" --blas-threads "$2" --models "$3" --json | tail -1
}

echo "searching PyTorch's fastest thread setting (threads x OpenBLAS threads in {1, $cores}^2) ..." >&2
search=()
for threads in 1 "$cores"; do
  for blas in 1 "$cores"; do
    search+=("$threads $blas $(bench_torch "$threads" "$blas" lstm,transformer,baseline)")
    [ "$cores" = 1 ] && break
  done
  [ "$cores" = 1 ] && break
done
# per model "threads blas"
settings=$(printf '%s\n' "${search[@]}" | $python -c '
import json, sys
best = {}
for line in sys.stdin:
    threads, blas, js = line.split(" ", 2)
    for model, ms in json.loads(js).items():
        if model.endswith("_ms") and (model not in best or ms < best[model][0]):
            best[model] = (ms, threads, blas)
print(json.dumps({m: [t, b] for m, (ms, t, b) in best.items()}))')
echo "fastest settings: $settings" >&2

ours=(); theirs=()
for ((r = 1; r <= rounds; r++)); do
  echo "round $r of $rounds ..." >&2
  ours+=("$(bench_ours)")
  round="{}"
  # one PyTorch process per distinct setting, with the models that run fastest in it
  while read -r threads blas models; do
    [ -z "$threads" ] && continue
    round=$($python -c 'import json,sys; a=json.loads(sys.argv[1]); a.update(json.loads(sys.argv[2])); print(json.dumps(a))' \
      "$round" "$(bench_torch "$threads" "$blas" "$models")")
  done < <($python -c '
import json, sys
groups = {}
for model, (t, b) in json.loads(sys.argv[1]).items():
    groups.setdefault((t, b), []).append(model[:-3])
for (t, b), models in groups.items():
    print(t, b, ",".join(models))' "$settings")
  theirs+=("$round")
done

$python - "$rounds" "$settings" "${ours[@]}" "${theirs[@]}" <<'PY'
import json, platform, statistics, sys
rounds = int(sys.argv[1])
settings = json.loads(sys.argv[2])
ours = [json.loads(s) for s in sys.argv[3:3 + rounds]]
theirs = [json.loads(s) for s in sys.argv[3 + rounds:]]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print("| model | RawFlipFlop | PyTorch, fastest setting | ours faster by |")
print("|---|---|---|---|")
for key, name, ours_key in (("lstm_ms", "LSTM 133K", "lstm_ms"), ("transformer_ms", "Transformer L2 d128 H2", "transformer_ms"),
                            ("baseline_ms", "baseline L6 d512 H8", "baseline_ms")):
    a = statistics.median(o[ours_key] for o in ours)
    b = statistics.median(t[key] for t in theirs)
    t, blas = settings[key]
    unit = (lambda ms: f"{ms / 1000:.2f} s") if a >= 2000 or b >= 2000 else (lambda ms: f"{ms:.0f} ms")
    print(f"| {name} | {unit(a)} | {unit(b)} ({t} threads, {blas} OpenBLAS) | {b / a:.1f}x |")
print()
print(f"{cpu}, {ours[0]['threads']} cores; torch {theirs[0].get('torch', '?')}; "
      f"medians over {rounds} alternating rounds")
PY

if [ "$ops" = 1 ]; then
  echo "running the op suite (BenchmarkDotNet ShortRun) ..." >&2
  dotnet run -c Release --project bench --no-build -- --filter 'RawFlipFlop.Bench.OpBenchmarks.*' --job short --exporters github >&2
  sed -n '/^| *Method/,$p' BenchmarkDotNet.Artifacts/results/RawFlipFlop.Bench.OpBenchmarks-report-github.md
fi
