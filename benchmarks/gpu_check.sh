#!/usr/bin/env bash
# One prepared check of darkedge on a lent GPU (issue 11), in under 8 minutes and without network:
#
#   bash benchmarks/gpu_check.sh              # on the GPU machine, from the checkout (PYTHONPATH is set here)
#   bash benchmarks/gpu_check.sh --dry-run    # anywhere: every part at the test preset on the CPU (plumbing only)
#
# Parts, each its own process under its own time limit, in order of importance, while the budget lasts: machine
# facts; the built-in data; the default `darkedge train` on CUDA (seed 0, alone: the headline wall time); the GPU
# latency table (student vs enhance-then-classify vs two-stream, FP32 and bf16, batch 1 and 16, paper shape); the
# paper preset's training throughput; the loader alone; seeds 1 and 2 as parallel processes (the 3-seed premise);
# QAT on CUDA where NNCF is installed; latency with CUDA graphs. Opt-in (GPU_CHECK_RECIPE=1, up to 10 more minutes):
# the paper preset's teacher from scratch under the candidate recipe.
#
# Writes $GPU_CHECK_RESULTS/gpu.md and gpu.json (default benchmarks/results; a dry run writes under the work folder)
# and copies them to $OUT when that is set. Wheels in .whl/ (nncf and the dependencies the GPU image lacks: see
# benchmarks/gpu_wheels.sh) are installed first, offline. Environment: GPU_CHECK_WORK (scratch, default
# /tmp/darkedge-gpu-check), GPU_CHECK_BUDGET (seconds for all parts, default 460).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
WORK=${GPU_CHECK_WORK:-/tmp/darkedge-gpu-check}
BUDGET=${GPU_CHECK_BUDGET:-460}
if [ "$DRY" = 1 ]; then RESULTS=${GPU_CHECK_RESULTS:-$WORK/results}; else RESULTS=${GPU_CHECK_RESULTS:-benchmarks/results}; fi
rm -rf "$WORK" && mkdir -p "$WORK" "$RESULTS"
START=$(date +%s)

if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$WORK/wheels.log" 2>&1 && export PYTHONPATH="/tmp/site:$PYTHONPATH" PATH="/tmp/site/bin:$PATH"  # ninja
fi
export NNCF_EXTENSION_LOAD_TIMEOUT=${NNCF_EXTENSION_LOAD_TIMEOUT:-240}  # nvcc builds NNCF's kernels on first use

# part NAME LIMIT COMMAND...: run COMMAND with at most LIMIT seconds (less when the budget is nearly spent), log it
# to WORK/NAME.log, and record NAME, exit status, seconds and limit in WORK/parts.tsv.
part() {
  local name=$1 limit=$2 left
  shift 2
  left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -lt 20 ]; then skip "$name" "the ${BUDGET} s budget was spent"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit} s)" >&2
  local t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - t0))" "$limit" >> "$WORK/parts.tsv"
  [ "$rc" = 0 ] || { echo "   $name: exit $rc, last lines of $WORK/$name.log:" >&2; tail -3 "$WORK/$name.log" >&2; }
}
skip() { printf '%s\tskip:%s\t0\t0\n' "$1" "$2" >> "$WORK/parts.tsv"; echo "== $1 skipped: $2" >&2; }

part machine 60 $PY benchmarks/gpu_check.py machine --work "$WORK"
CUDA=$($PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["cuda_available"]))' "$WORK/machine.json" 2>/dev/null || echo 0)
CORES=$(nproc)
PARALLEL_WORKERS=$(( CORES / 2 - 1 > 1 ? CORES / 2 - 1 : 1 ))  # two training processes share the cores
if [ "$DRY" = 1 ]; then
  DEVICE=cpu; PRESET=test; PAPER=test; QUICK=(--runs 5 --min-time 0 --compare two-stream)
  SYNTH=(--clips-per-class 2 --frames 12 --size 48x36 --scenes 3 --test-scenes 1)
  QAT=(--max-steps 2 --calib-clips 4)
elif [ "$CUDA" = 1 ]; then
  DEVICE=cuda; PRESET=small; PAPER=paper; QUICK=(--runs 30 --min-time 1); SYNTH=(); QAT=(--epochs 1)
else
  for name in data pipeline latency paper loader premise qat graphs recipe; do skip "$name" "no CUDA GPU visible to torch"; done
fi

if [ "$DRY" = 1 ] || [ "$CUDA" = 1 ]; then
  DATA="$WORK/data"
  TRAIN=($PY -m darkedge --quiet train --preset "$PRESET" --data "$DATA")
  part data 90 $PY -m darkedge data synth --out "$DATA" --workers "$CORES" "${SYNTH[@]}"
  part pipeline 200 "${TRAIN[@]}" --seed 0 --out "$WORK/runs/seed0" --calib "$WORK/calib"
  part latency 100 bash -c "$PY benchmarks/gpu_check.py random-run --preset $PAPER '$WORK/latency' > /dev/null && \
    $PY -m darkedge bench --run '$WORK/latency' --backend torch --device $DEVICE --batch 16 ${QUICK[*]} \
    --precision bf16 $([ "$DRY" = 1 ] || echo --precision fp32)"
  part paper 75 $PY -m darkedge --quiet train --preset "$PAPER" --data "$DATA" --stage raw --epochs 1 \
    --out "$WORK/paper"
  part loader 45 bash -c "$PY benchmarks/bench_workers.py --loader-only --device $DEVICE --data '$DATA' \
    --preset $PRESET --workers 0 auto --out '$WORK/loader/small' && \
    $PY benchmarks/bench_workers.py --loader-only --device $DEVICE --data '$DATA' --preset $PAPER --workers auto \
    --out '$WORK/loader/paper'"
  part premise 200 bash -c "for seed in 1 2; do ${TRAIN[*]} --seed \$seed --out '$WORK/runs/seed'\$seed --calib '' \
    --workers $PARALLEL_WORKERS & done; wait -n && wait -n"
  if $PY -c 'import nncf' 2> /dev/null; then
    part qat 120 $PY -m darkedge quantize --run "$WORK/runs/seed0/latest" --calib "$WORK/calib" --no-export "${QAT[@]}"
  else
    skip qat "nncf is not installed (carry its wheels in .whl/: benchmarks/gpu_wheels.sh)"
  fi
  if [ "$DEVICE" = cuda ]; then
    part graphs 60 bash -c "cp -r '$WORK/latency' '$WORK/graphs' && rm -rf '$WORK/graphs/bench' && \
      $PY -m darkedge bench --run '$WORK/graphs' --backend torch --device cuda --batch 16 ${QUICK[*]} \
      --precision bf16 --cuda-graphs"
  else
    skip graphs "CUDA graphs need a GPU"
  fi
  if [ "${GPU_CHECK_RECIPE:-0}" = 1 ]; then
    BUDGET=$((BUDGET + 600))
    # the recipe's settings (e.g. "--set epochs=8 --set lr=5e-4") are the run's: given when it is made
    part recipe 600 bash -c "$PY -m darkedge --quiet train --preset $PAPER --data '$DATA' --stage enhancer \
      ${GPU_CHECK_RECIPE_SETTINGS:-} --out '$WORK/recipe' && \
      $PY -m darkedge --quiet train --stage teacher --run '$WORK/recipe/latest'"
  else
    skip recipe "opt-in: GPU_CHECK_RECIPE=1"
  fi
fi

report=(--work "$WORK" --out "$RESULTS")
[ "$DRY" = 1 ] && report+=(--dry-run)
$PY benchmarks/gpu_check.py report "${report[@]}" >&2
if [ -n "${OUT:-}" ]; then cp "$RESULTS/gpu.md" "$RESULTS/gpu.json" "$OUT"/ && tar -czf "$OUT/gpu_check_logs.tgz" -C "$WORK" --exclude=data --exclude='*.pt' . ; fi
echo "wrote $RESULTS/gpu.md in $(($(date +%s) - START)) s" >&2
