#!/usr/bin/env bash
# The GPU check (issue 13): one command for the day a GPU is there. Two phases, because the GPU machine (the `device`
# tool's) has no network and maybe no .NET SDK, and takes at most 64 MiB of files along with the working tree:
#   bash bench/gpu-check.sh prepare [DIR]       here, with the SDK: publishes the tests and the bench self-contained
#                                               (linux-x64) into one folder with this machine's NVRTC beside them and
#                                               packs it as DIR/gpu-check.tar.xz (DIR: gpu-check/ in the repo root,
#                                               which git ignores); fails if it and the working tree exceed 64 MiB
#   bash bench/gpu-check.sh run [DIR [REPORT]]  there: unpacks it into a temporary folder, runs the Gpu tests, gpu-step
#                                               and the CUDA op benchmarks, each under a time limit, and writes REPORT
#                                               (default $OUT/gpu-report.md, else DIR/gpu-report.md) and the raw logs
#                                               beside it as gpu-check-logs.tar.gz
#   bash bench/gpu-check.sh report LOGS REPORT  the report alone from a run's logs folder (run ends with it)
# Exit codes: 0 done, also without a GPU (the report says so); 1 something that ran failed (a test, a crash, a time
# limit: the report is written all the same) or prepare could not build; 2 bad usage, nothing written.
# Time limits in seconds: GPU_CHECK_TESTS_S (200), GPU_CHECK_STEP_S (120), GPU_CHECK_OPS_S (120); about 8 minutes in
# all, inside the device tool's 10 per command. NVIDIA_SMI names another nvidia-smi (the tests hide it this way).
set -euo pipefail

readonly usage="usage: bash bench/gpu-check.sh prepare [DIR] | run [DIR [REPORT]] | report LOGS REPORT"
readonly archive_name=gpu-check.tar.xz
readonly carry_limit=$((64 * 1024 * 1024))
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tests_s=${GPU_CHECK_TESTS_S:-200}
step_s=${GPU_CHECK_STEP_S:-120}
ops_s=${GPU_CHECK_OPS_S:-120}
nvidia_smi=${NVIDIA_SMI:-nvidia-smi}

# A usage problem: one line, exit 2, before anything is written.
usage_error() { echo "error: gpu-check.sh: $1 ($usage)" >&2; exit 2; }
fail() { echo "error: gpu-check.sh: $1" >&2; exit 1; }
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# ---------------------------------------------------------------------------------------------------------- prepare

# The libnvrtc to carry: $RFF_NVRTC_LIBRARY, else the newest the loader knows or CUDA's own folder holds.
find_nvrtc() {
  if [ -n "${RFF_NVRTC_LIBRARY:-}" ]; then printf '%s\n' "$RFF_NVRTC_LIBRARY"; return; fi
  { ldconfig -p 2>/dev/null | awk '$1 ~ /^libnvrtc\.so\.[0-9]/ { print $NF }'
    ls /usr/local/cuda/lib64/libnvrtc.so.[0-9]* 2>/dev/null || true; } \
    | while read -r f; do printf '%s %s\n' "$(basename "$(readlink -f "$f")")" "$f"; done \
    | sort -V | tail -n 1 | cut -d' ' -f2
}

# The bytes that travel with every device call besides the carried folder: tracked and untracked-not-ignored files
# (DIR left out) and shared/.
tree_bytes() { # dir
  git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || { echo 0; return; }
  local rel exclude=()
  case "$1/" in "$root"/*) rel=${1#"$root"/}; exclude=(":(exclude)$rel") ;; esac
  { (cd "$root" && git ls-files -co --exclude-standard -z -- . "${exclude[@]}" | xargs -0 -r stat -c %s 2>/dev/null || true)
    if [ -d "$root/shared" ]; then du -sb "$root/shared" | cut -f1; fi; } | awk '{ s += $1 } END { print s + 0 }'
}

prepare() { # dir
  local dir=$1
  [ -e "$dir" ] && [ ! -d "$dir" ] && usage_error "$dir: exists and is not a folder"
  [ -d "$(dirname "$dir")" ] || usage_error "$(dirname "$dir"): no such folder"
  command -v dotnet >/dev/null || fail "prepare needs the .NET SDK (dotnet is not on PATH)"
  command -v xz >/dev/null || fail "prepare needs xz (apt-get install xz-utils)"
  local nvrtc; nvrtc=$(find_nvrtc)
  [ -n "$nvrtc" ] && [ -f "$(readlink -f "$nvrtc")" ] \
    || fail "no libnvrtc on this machine to carry: apt-get install libnvrtc11.2 (Debian non-free), or set RFF_NVRTC_LIBRARY to its path"
  local real; real=$(readlink -f "$nvrtc")
  local version; version=$(basename "$real" | sed -nE 's/^libnvrtc\.so\.([0-9]+\.[0-9]+).*/\1/p')

  stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-prepare.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  local app=$stage/app start=$SECONDS
  # Two publishes (each writes its own deps.json and runtimeconfig.json), merged below. No pdb, no satellite
  # assemblies: the device tool carries 64 MiB in all.
  local project
  for project in tests/RawFlipFlop.Tests.csproj bench/RawFlipFlop.Bench.csproj; do
    echo "gpu-check: dotnet publish $project (self-contained, linux-x64) ..."
    dotnet publish "$root/$project" -c Release -r linux-x64 --self-contained -nologo -v quiet \
      -p:DebugType=none -p:SatelliteResourceLanguages=en -o "$stage/$(basename "$project" .csproj)" >"$stage/publish.log" 2>&1 \
      || { tail -n 30 "$stage/publish.log" >&2; fail "dotnet publish $project failed (above)"; }
  done
  cp -a "$stage/RawFlipFlop.Tests" "$app"
  local f conflicts=()
  while IFS= read -r -d '' f; do
    if [ -e "$app/$f" ]; then cmp -s "$stage/RawFlipFlop.Bench/$f" "$app/$f" || conflicts+=("$f")
    else mkdir -p "$app/$(dirname "$f")" && cp -a "$stage/RawFlipFlop.Bench/$f" "$app/$f"; fi
  done < <(cd "$stage/RawFlipFlop.Bench" && find . -type f -printf '%P\0')
  [ ${#conflicts[@]} -eq 0 ] || fail "the tests and the bench publish different files under one name: ${conflicts[*]}"
  # Windows-only natives of TraceEvent, and the debugger's libraries: nothing here loads them.
  rm -rf "$app/amd64" "$app/x86" "$app/arm64" "$app/createdump" "$app/libmscordaccore.so" "$app/libmscordbi.so"

  # NVRTC beside the executables, where NativeLibraries looks first after LD_LIBRARY_PATH; its builtins under the
  # soname it opens (NvrtcLibrary preloads that file from the same folder).
  cp -L "$real" "$app/libnvrtc.so.$(basename "$nvrtc" | sed -E 's/^libnvrtc\.so\.//')"
  local builtins; builtins=$(dirname "$real")/libnvrtc-builtins.so.$version
  [ -f "$builtins" ] || fail "$real has no $(basename "$builtins") beside it"
  cp -L "$builtins" "$app/"
  {
    echo "commit: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "prepared: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
    echo "sdk: $(dotnet --version)"
    echo "nvrtc: $(basename "$nvrtc") ($(basename "$real"), from $(dirname "$real"))"
  } >"$app/gpu-check-manifest.txt"

  echo "gpu-check: packing $(mib "$(du -sb "$app" | cut -f1)") ($(find "$app" -type f | wc -l) files) with xz ..."
  tar -C "$stage" -cf - app | xz -T0 -6 >"$stage/$archive_name"
  local bytes tree total
  bytes=$(stat -c %s "$stage/$archive_name"); tree=$(tree_bytes "$dir"); total=$((bytes + tree))
  if [ "$total" -gt "$carry_limit" ]; then
    fail "$dir/$archive_name would be $(mib "$bytes"), with the working tree ($(mib "$tree")) $(mib "$total"): over the device tool's 64 MiB; nothing written"
  fi
  mkdir -p "$dir"
  mv -f "$stage/$archive_name" "$dir/$archive_name"
  echo "gpu-check: $dir/$archive_name: $(mib "$bytes"); with the working tree ($(mib "$tree")) $(mib "$total") of the device tool's 64 MiB; $((SECONDS - start)) s"
  case "$dir/" in
    "$root"/*) git -C "$root" check-ignore -q "$dir" 2>/dev/null \
      || echo "gpu-check: warning: $dir is not ignored by git: it travels with every device call, not only when carried" ;;
  esac
}

# -------------------------------------------------------------------------------------------------------------- run

# phase NAME SECONDS COMMAND...: runs COMMAND under a time limit into LOGS/NAME.log; LOGS/NAME.status holds
# "exit seconds limit" (exit 124 or 137: the time limit).
phase() {
  local name=$1 limit=$2 start=$SECONDS rc=0; shift 2
  echo "gpu-check: $name (at most $limit s) ..."
  (cd "$work" && timeout -k 10 "$limit" "$@") >"$logs/$name.log" 2>&1 </dev/null || rc=$?
  echo "$rc $((SECONDS - start)) $limit" >"$logs/$name.status"
  echo "gpu-check: $name: exit $rc after $((SECONDS - start)) s"
}

run() { # dir report
  local dir=$1 report=$2
  [ -d "$dir" ] || usage_error "$dir: no such folder (run 'bash bench/gpu-check.sh prepare' first)"
  [ -f "$dir/$archive_name" ] || usage_error "$dir: holds no published build ($archive_name); run 'bash bench/gpu-check.sh prepare $dir' first"
  [ -d "$(dirname "$report")" ] || usage_error "$(dirname "$report"): no such folder for the report"
  [ -d "$report" ] && usage_error "$report: is a folder, not a report file"

  work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-run.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  logs=$work/logs
  mkdir -p "$logs"
  echo "gpu-check: unpacking $dir/$archive_name ..."
  # tar needs the xz program; Python's tarfile (there with PyTorch) does without
  tar -C "$work" -xJf "$dir/$archive_name" 2>"$logs/unpack.log" \
    || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$dir/$archive_name" "$work" 2>>"$logs/unpack.log" \
    || fail "$dir/$archive_name does not unpack ($(tail -n 1 "$logs/unpack.log")); prepare it again"
  local app=$work/app
  [ -x "$app/RawFlipFlop.Tests" ] && [ -x "$app/RawFlipFlop.Bench" ] \
    || fail "$dir/$archive_name holds no RawFlipFlop.Tests and RawFlipFlop.Bench; prepare it again"
  cp "$app/gpu-check-manifest.txt" "$logs/manifest.txt" 2>/dev/null || true

  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host: $(hostname) ($(uname -srm))"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null), $(nproc) cores"
  } >"$logs/env.txt"
  if command -v "$nvidia_smi" >/dev/null; then
    # compute_cap is a field of newer drivers only
    timeout 30 "$nvidia_smi" --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
      >"$logs/nvidia-smi-query.txt" 2>&1 \
      || timeout 30 "$nvidia_smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader \
      >"$logs/nvidia-smi-query.txt" 2>&1 || true
    timeout 30 "$nvidia_smi" >"$logs/nvidia-smi.txt" 2>&1 || true
    echo "gpu-check: nvidia-smi: $(head -n 1 "$logs/nvidia-smi-query.txt")"
  else
    echo "gpu-check: nvidia-smi: not found"
  fi

  # Kernels compile once into a cache that the three phases share (the tests fill it).
  export RFF_KERNEL_CACHE=${RFF_KERNEL_CACHE:-$work/kernel-cache}
  phase tests "$tests_s" "$app/RawFlipFlop.Tests" -noColor -trait "Category=Gpu"
  phase gpu-step "$step_s" "$app/RawFlipFlop.Bench" gpu-step
  if grep -q '^gpu-step: no GPU here' "$logs/gpu-step.log"; then
    grep -m 1 '^gpu-step: no GPU here' "$logs/gpu-step.log" >"$logs/ops.skipped"
  else
    # In-process (no SDK there to build BenchmarkDotNet's child project), CUDA cases only, ShortRun with 100 ms
    # iterations: about 3 s an op.
    phase ops "$ops_s" "$app/RawFlipFlop.Bench" --filter 'RawFlipFlop.Bench.OpBenchmarks.*cuda*' --inProcess \
      --job short --iterationTime 100 --exporters github --artifacts "$logs/ops"
    # BenchmarkDotNet's GitHub table escapes quotes and arrows as HTML; plain text reads better in a terminal too
    sed -e "s/&#39;/'/g" -e 's/&gt;/>/g' -e 's/&lt;/</g' -e 's/&quot;/"/g' -e 's/&amp;/\&/g' \
      "$logs/ops/results/RawFlipFlop.Bench.OpBenchmarks-report-github.md" >"$logs/ops-report.md" 2>/dev/null || rm -f "$logs/ops-report.md"
  fi

  local out_dir; out_dir=$(dirname "$report")
  write_report "$logs" "$report"
  tar -C "$work" -czf "$out_dir/.gpu-check-logs.tar.gz.$$" logs && mv -f "$out_dir/.gpu-check-logs.tar.gz.$$" "$out_dir/gpu-check-logs.tar.gz"
  echo "gpu-check: wrote $report and $out_dir/gpu-check-logs.tar.gz"
  echo
  cat "$report"
  return "$(failed "$logs")"
}

# 1 when a phase that ran failed or ran out of time, else 0.
failed() { # logs
  local s rc
  for s in "$1"/*.status; do
    [ -f "$s" ] || continue
    read -r rc _ <"$s"
    [ "$rc" = 0 ] || { echo 1; return; }
  done
  echo 0
}

# ----------------------------------------------------------------------------------------------------------- report

# Markdown table cell: no pipes, no line breaks.
cell() { tr '\n' ' ' | sed -e 's/|/\\|/g' -e 's/ *$//'; }

# "ran in S s (exit 0)", "timed out after S s", "failed: exit N after S s", or "did not run".
status_text() { # logs name
  local s=$1/$2.status rc secs limit
  [ -f "$s" ] || { echo "did not run"; return; }
  read -r rc secs limit <"$s"
  case "$rc" in
    0) echo "ran in $secs s (exit 0)" ;;
    124 | 137) echo "**timed out** after $secs s (limit $limit s)" ;;
    *) echo "**failed**: exit $rc after $secs s" ;;
  esac
}

log_tail() { # file lines
  echo
  echo '```text'
  tail -n "$2" "$1" 2>/dev/null || true
  echo '```'
}

report_machine() { # logs
  local logs=$1 query="" smi="" step=$1/gpu-step.log
  [ -f "$logs/nvidia-smi-query.txt" ] && query=$(head -n 1 "$logs/nvidia-smi-query.txt")
  [ -f "$logs/nvidia-smi.txt" ] && smi=$(cat "$logs/nvidia-smi.txt")
  local name driver memory cc cuda
  IFS=, read -r name driver memory cc <<<"$query" || true
  cuda=$(grep -oE 'CUDA Version: *[0-9.]+' <<<"$smi" | grep -oE '[0-9.]+$' || true)
  local device nvrtc_used nvrtc_found arch no_gpu
  device=$(grep -m 1 '; matmul precision' "$step" 2>/dev/null || true)
  nvrtc_used=$(sed -n 's/^gpu-step: NVRTC used: \(.*\); kernels .*/\1/p' "$step" 2>/dev/null | head -n 1)
  arch=$(sed -n 's/^gpu-step: NVRTC used: .*; kernels \(.*\)/\1/p' "$step" 2>/dev/null | head -n 1)
  nvrtc_found=$(sed -n 's/^gpu-step: NVRTC found: //p' "$step" 2>/dev/null | head -n 1)
  no_gpu=$(grep -m 1 '^gpu-step: no GPU here' "$step" 2>/dev/null || true)

  echo "## Machine"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(sed -n 's/^date: //p' "$logs/env.txt" | cell) |"
  echo "| host | $(sed -n 's/^host: //p' "$logs/env.txt" | cell); $(sed -n 's/^cpu: //p' "$logs/env.txt" | cell) |"
  if [ -n "$query" ] && [ -n "$driver" ]; then
    echo "| GPU (nvidia-smi) | $(echo "$name" | xargs | cell), $(echo "$memory" | xargs | cell), compute capability $(echo "$cc" | xargs | cell) |"
    echo "| driver | $(echo "$driver" | xargs | cell) |"
    echo "| CUDA (the driver's) | ${cuda:-not in the nvidia-smi header} |"
  elif [ -n "$query$smi" ]; then
    echo "| GPU (nvidia-smi) | none listed: nvidia-smi said \`$(head -n 3 <<<"$query$smi" | cell)\` |"
  else
    echo "| GPU (nvidia-smi) | none: nvidia-smi not found |"
  fi
  if [ -n "$device" ]; then
    echo "| the engine's device | $(echo "$device" | cell) |"
  elif [ -n "$no_gpu" ]; then
    echo "| the engine's device | none: $(echo "${no_gpu#gpu-step: }" | cell) |"
  else
    echo "| the engine's device | unknown: gpu-step $(status_text "$logs" gpu-step | cell) without naming one |"
  fi
  echo "| NVRTC used | ${nvrtc_used:-none (no GPU opened)} |"
  echo "| kernel architecture | ${arch:-none (no GPU opened)} |"
  echo "| NVRTC found | ${nvrtc_found:-unknown (gpu-step did not say)} |"
  echo "| build | $(sed -e 's/^\([a-z]*\): /\1 /' "$logs/manifest.txt" 2>/dev/null | paste -sd ';' - | sed 's/;/; /g' | cell) |"
}

report_tests() { # logs
  local log=$1/tests.log summary
  echo "## Tests: Category=Gpu"
  echo
  echo "The published test executable, \`RawFlipFlop.Tests -trait Category=Gpu\`: $(status_text "$1" tests)."
  [ -f "$log" ] || return 0
  summary=$(grep -m 1 -E 'Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+' "$log" || true)
  if [ -z "$summary" ]; then
    echo
    echo "No totals: the runner ended before its summary. The end of its log:"
    log_tail "$log" 40
    return 0
  fi
  local total errors failed skipped notrun
  total=$(sed -E 's/.*Total: ([0-9]+).*/\1/' <<<"$summary"); errors=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*Failed: ([0-9]+).*/\1/' <<<"$summary"); skipped=$(sed -E 's/.*Skipped: ([0-9]+).*/\1/' <<<"$summary")
  notrun=$(sed -nE 's/.*Not Run: ([0-9]+).*/\1/p' <<<"$summary"); notrun=${notrun:-0}
  echo
  echo "| passed | failed | skipped | not run | errors | total |"
  echo "|---|---|---|---|---|---|"
  echo "| $((total - failed - skipped - notrun)) | $failed | $skipped | $notrun | $errors | $total |"
  if [ "$failed" != 0 ] || [ "$errors" != 0 ]; then
    echo
    echo "Failing:"
    echo
    sed -nE 's/^ *(.*) \[FAIL\]$/- `\1`/p' "$log"
    echo
    echo "What the runner said of them (the first 10, 30 lines each):"
    echo
    echo '```text'
    # a failure's message and stack trace are the lines indented under its [FAIL] line
    awk '/\[FAIL\]$/ { n++; show = n <= 10; lines = 0; if (show) print; next }
         show && /^      / && lines < 30 { print; lines++; next }
         { show = 0 }' "$log"
    echo '```'
  fi
  if [ "$skipped" != 0 ]; then
    echo
    echo "Skip reasons (count, reason):"
    echo
    awk '/\[SKIP\]$/ { getline; sub(/^ +/, ""); print }' "$log" | sort | uniq -c | sort -rn | head -n 5 \
      | sed -E 's/^ *([0-9]+) (.*)/- \1: \2/'
  fi
}

report_step() { # logs
  local log=$1/gpu-step.log
  echo "## Step benchmark: gpu-step"
  echo
  echo "\`RawFlipFlop.Bench gpu-step\` (B 16, T 512; LSTM, Transformer L2 d128, baseline; 3xTF32): $(status_text "$1" gpu-step)."
  [ -f "$log" ] || return 0
  echo
  if grep -q '^gpu-step: no GPU here' "$log"; then
    echo "Nothing measured: no GPU. gpu-step said: \`$(grep -m 1 '^gpu-step: no GPU here' "$log")\`"
  else
    echo "Its whole output (median and fastest ms per step, then the most expensive kernels per step from CUDA events):"
    log_tail "$log" 400
  fi
}

report_ops() { # logs
  local logs=$1
  echo "## Op benchmarks: OpBenchmarks on CUDA"
  echo
  if [ -f "$logs/ops.skipped" ]; then
    echo "Not run: no GPU (\`$(cat "$logs/ops.skipped")\`)."
    return 0
  fi
  echo "BenchmarkDotNet in-process, ShortRun with 100 ms iterations, the cuda cases of \`RawFlipFlop.Bench.OpBenchmarks\`: $(status_text "$logs" ops)."
  [ -f "$logs/ops.log" ] || return 0
  echo
  if [ -s "$logs/ops-report.md" ]; then
    cat "$logs/ops-report.md"
  else
    echo "No result table. The end of its log:"
    log_tail "$logs/ops.log" 40
  fi
  if [ -f "$logs/ops.status" ] && [ "$(cut -d' ' -f1 "$logs/ops.status")" != 0 ] && [ -s "$logs/ops-report.md" ]; then
    echo
    echo "The end of its log:"
    log_tail "$logs/ops.log" 40
  fi
}

report_phases() { # logs
  local name rc secs limit
  echo "## Phases"
  echo
  echo "| phase | exit | seconds | limit |"
  echo "|---|---|---|---|"
  for name in tests gpu-step ops; do
    if [ -f "$1/$name.status" ]; then read -r rc secs limit <"$1/$name.status"; echo "| $name | $rc | $secs | $limit |"
    elif [ "$name" = ops ] && [ -f "$1/ops.skipped" ]; then echo "| ops | not run (no GPU) | - | - |"
    else echo "| $name | did not run | - | - |"; fi
  done
}

write_report() { # logs report: written to a temporary file beside it, then moved into place
  local logs=$1 report=$2 tmp
  tmp="$(dirname "$report")/.$(basename "$report").$$.tmp"
  {
    echo "# GPU check"
    echo
    echo "Written by \`bash bench/gpu-check.sh run\` (the published tests and bench, no SDK). Raw logs: gpu-check-logs.tar.gz."
    echo
    report_machine "$logs"
    echo
    report_tests "$logs"
    echo
    report_step "$logs"
    echo
    report_ops "$logs"
    echo
    report_phases "$logs"
  } >"$tmp" || { rm -f "$tmp"; fail "could not write $report"; }
  mv -f "$tmp" "$report"
}

# ------------------------------------------------------------------------------------------------------------- main

[ $# -ge 1 ] || usage_error "no phase given"
case "$1" in
  -h | --help) echo "$usage"; exit 0 ;;
  prepare)
    [ $# -le 2 ] || usage_error "prepare takes at most one folder, got: ${*:2}"
    prepare "$(absolute "${2:-$root/gpu-check}")" ;;
  run)
    [ $# -le 3 ] || usage_error "run takes a folder and a report file at most, got: ${*:2}"
    dir=$(absolute "${2:-$root/gpu-check}")
    if [ $# -ge 3 ]; then report=$(absolute "$3")
    elif [ -n "${OUT:-}" ]; then report=$OUT/gpu-report.md
    else report=$dir/gpu-report.md; fi
    run "$dir" "$report" ;;
  report)
    [ $# -eq 3 ] || usage_error "report takes a logs folder and a report file"
    [ -d "$2" ] || usage_error "$2: no such logs folder"
    [ -d "$(dirname "$(absolute "$3")")" ] || usage_error "$(dirname "$3"): no such folder for the report"
    write_report "$2" "$(absolute "$3")" ;;
  *) usage_error "unknown phase '$1'" ;;
esac
