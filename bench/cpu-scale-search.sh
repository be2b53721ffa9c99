#!/usr/bin/env bash
# The search for the cpu scale (issue: instruments, item 1): small Transformers on length-64 flip-flop strings, trained
# on the CPU, evaluated on 10^4 in-distribution FFL(0.8), sparse FFL(0.98) and dense FFL(0.1) sequences. For each
# setting: wall minutes, final-iterate errors per split. Prints one TSV row per run to stdout (and to $OUT/search.tsv).
# Usage: bench/cpu-scale-search.sh OUT [SETTING...]   (settings: the names below; default all)
set -euo pipefail
out=${1:?usage: bench/cpu-scale-search.sh OUT [SETTING...]}; shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${RFF_BIN:-$here/src/Experiments/bin/Release/net10.0/rawflipflop}
mkdir -p "$out"
declare -A settings=(
  [L1-d64-H2-s3000]="--model transformer --layers 1 --dim 64 --heads 2 --steps 3000 --batch 32 --lr 1e-3 --warmup 100"
  [L2-d16-H2-s4000]="--model transformer --layers 2 --dim 16 --heads 2 --steps 4000 --batch 32 --lr 3e-3 --warmup 100"
  [L2-d32-H2-s2000]="--model transformer --layers 2 --dim 32 --heads 2 --steps 2000 --batch 32 --lr 2e-3 --warmup 100"
  [L2-d32-H2-s4000]="--model transformer --layers 2 --dim 32 --heads 2 --steps 4000 --batch 32 --lr 2e-3 --warmup 100"
  [L2-d64-H2-s2000]="--model transformer --layers 2 --dim 64 --heads 2 --steps 2000 --batch 32 --lr 1e-3 --warmup 100"
  [L2-d64-H2-s4000]="--model transformer --layers 2 --dim 64 --heads 2 --steps 4000 --batch 32 --lr 1e-3 --warmup 100"
  [L4-d64-H4-s3000]="--model transformer --layers 4 --dim 64 --heads 4 --steps 3000 --batch 32 --lr 1e-3 --warmup 100"
  [lstm-32-s1000]="--model lstm --embed-dim 32 --hidden 32 --steps 1000 --batch 32 --lr 3e-3 --warmup 50"
)
names=("$@"); [ ${#names[@]} -eq 0 ] && names=(L1-d64-H2-s3000 L2-d32-H2-s4000 L2-d64-H2-s2000 L2-d64-H2-s4000 L4-d64-H4-s3000 lstm-32-s1000)
seeds=${SEEDS:-1}
printf 'setting\tseed\tminutes\tload\tindist\tsparse\tdense\n' | tee -a "$out/search.tsv"
for name in "${names[@]}"; do
  for seed in $seeds; do
    dir="$out/$name-seed$seed"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$bin" train ${settings[$name]} --length 64 --seed "$seed" --data-seed $((100 + seed)) --eval-every 500 --eval-count 1000 \
      --offline indist:10000,sparse:10000,dense:10000 --quiet --out "$dir" > "$dir.log" 2>&1 || { echo "$name seed $seed failed (see $dir.log)" >&2; continue; }
    end=$(date +%s.%N)
    errors=$(python3 -c "
import json,sys
s=json.load(open('$dir/summary.json'))
e={x['split']:x['errors'] for x in s['eval'] if x['iterate']=='final'}
print('\t'.join(str(e.get(k,'')) for k in ('indist','sparse','dense')))")
    printf '%s\t%s\t%.1f\t%s\t%s\n' "$name" "$seed" "$(echo "($end - $start)/60" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)" "$errors" | tee -a "$out/search.tsv"
  done
done
