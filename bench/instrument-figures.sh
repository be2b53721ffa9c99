#!/usr/bin/env bash
# README's figures of the instruments, from a cpu-scale baseline experiment:
#   bench/instrument-figures.sh RUNS_DIR OUT_DIR
# RUNS_DIR: the --out of `experiment run baseline --scale cpu` (results.db and runs/); OUT_DIR gets the PNGs and
# the text outputs (miner, temperature table) the README quotes. Replicate 0's final checkpoint is inspected.
set -euo pipefail
runs=${1:?usage: bench/instrument-figures.sh RUNS_DIR OUT_DIR}; out=${2:?usage: bench/instrument-figures.sh RUNS_DIR OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
rff=${RFF_BIN:-$here/src/Experiments/bin/Release/net10.0/rawflipflop}
model="$runs/runs/baseline/baseline/0/model.safetensors"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
"$rff" experiment report --db "$runs/results.db" --out "$work/report" > /dev/null
cp "$work/report/baseline-dependency-dense.png" "$out/dependency-dense.png"
cp "$work/report/baseline-errors.png" "$out/errors.png"
cp "$work/report/baseline-attention-entropy.png" "$out/attention-entropy.png"
# the first glitch of replicate 0 on the dense set, drawn as the paper's attention figures
"$rff" glitches list --db "$runs/results.db" --run baseline/baseline/0 --split dense --limit 1 --json > "$out/first-glitch.json"
index=$(python3 -c "import json; g=json.load(open('$out/first-glitch.json')); print(g[0]['sequence'] if g else 0)")
"$rff" inspect attention --checkpoint "$model" --from "dense:$index" --length 64 --out "$work/inspect" > "$out/inspect.txt"
cp "$work/inspect/attention.png" "$out/attention-grid.png"
"$rff" inspect temperature --checkpoint "$model" --values 4,2,1,0.5,0.25,0.125 --splits sparse,dense --count 10000 --length 64 \
  --out "$work/temperature" > "$out/temperature.txt" 2> /dev/null
cp "$work/temperature/temperature.png" "$out/temperature.png"
for strategy in targeted mutate; do
  "$rff" glitches mine --checkpoint "$model" --budget 20000 --strategy "$strategy" --out "$work/$strategy.txt" > "$out/mine-$strategy.txt" 2> /dev/null
done
ls "$out"
