#!/usr/bin/env bash
# Build a TensorRT engine from a darkedge ONNX export, on the Jetson that will run it.
#
#   deploy/build_engine.sh runs/latest/export/student_int8.onnx            # -> student_int8.engine
#   deploy/build_engine.sh runs/latest/export/student_fp32.onnx out.engine -- \
#       --minShapes=clips:1x3x8x48x48 --optShapes=clips:8x3x8x48x48 --maxShapes=clips:8x3x8x48x48
#
# TensorRT 10 (JetPack 6.x ships 10.3) is weakly typed: a Q/DQ graph is built with --int8 --fp16 (FP16 keeps
# LayerNorm, Softmax and GELU off FP32), a plain graph with --fp16. TensorRT 11 (JetPack 7.2.2 and later) removed
# every precision flag: networks are strongly typed, so the Q/DQ graph itself says what runs in INT8 and the
# ONNX's own types (FP32, or an FP16 export) say the rest. The script reads the TensorRT version and picks.
#
# Next to the engine it writes <engine>.json (the ONNX's darkedge metadata: class names, frames, frame step,
# resize and crop, which `darkedge infer` reads; needs darkedge installed), <engine>.layers.json (per-layer
# precision: deploy/layer_precision.py reads it) and <engine>.build.log (trtexec's output, with its timing
# summary). Arguments after `--` go to trtexec.
# Environment: TRTEXEC (path to trtexec), TRT_MAJOR (skip version detection), PRECISION=fp32 (TensorRT 10:
# no reduced-precision flags at all).
set -euo pipefail

usage() { echo "usage: $0 MODEL.onnx [OUT.engine] [-- trtexec args...]" >&2; exit 2; }
[[ $# -ge 1 && -f $1 ]] || usage
onnx=$1; shift
engine=${onnx%.onnx}.engine
if [[ $# -ge 1 && $1 != -- ]]; then engine=$1; shift; fi
[[ $# -ge 1 && $1 == -- ]] && shift
extra=("$@")

trtexec=${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}
[[ -x $trtexec ]] || { echo "error: trtexec not found (set TRTEXEC; JetPack puts it in /usr/src/tensorrt/bin)" >&2; exit 1; }

if [[ -z ${TRT_MAJOR:-} ]]; then
    # trtexec's first line reads "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] ...": v100300 is 10.3.0.
    code=$("$trtexec" --help 2>&1 | grep -o 'TensorRT v[0-9]*' | head -n1 | tr -dc '0-9' || true)
    [[ -n $code ]] || { echo "error: cannot read the TensorRT version from $trtexec; set TRT_MAJOR" >&2; exit 1; }
    TRT_MAJOR=$((10#$code / 10000))
fi

if grep -q QuantizeLinear "$onnx"; then qdq=yes; else qdq=no; fi
if (( TRT_MAJOR >= 11 )); then
    flags=()  # strongly typed: the graph is the precision
elif [[ ${PRECISION:-} == fp32 ]]; then
    flags=()
elif [[ $qdq == yes ]]; then
    flags=(--int8 --fp16)
else
    flags=(--fp16)
fi
echo "TensorRT $TRT_MAJOR, Q/DQ graph: $qdq, precision flags: ${flags[*]:-none}" >&2

tmp=$(mktemp "${engine}.XXXXXX.partial")
trap 'rm -f "$tmp"' EXIT
if ! "$trtexec" --onnx="$onnx" --saveEngine="$tmp" "${flags[@]}" \
    --profilingVerbosity=detailed --exportLayerInfo="${engine}.layers.json" \
    "${extra[@]}" 2>&1 | tee "${engine}.build.log" || [[ ! -s $tmp ]]; then
    echo "error: trtexec failed, see ${engine}.build.log" >&2
    exit 1
fi
mv "$tmp" "$engine"  # the engine appears under its real name only when complete
trap - EXIT
echo "wrote $engine (layers: ${engine}.layers.json)" >&2

# What the engine is and how to feed it, from the ONNX it was built from (an engine cannot hold metadata).
if (( TRT_MAJOR >= 11 )); then built=""  # strongly typed: the ONNX's own precision
elif [[ ${flags[*]:-} == *--int8* ]]; then built=int8
elif [[ ${flags[*]:-} == *--fp16* ]]; then built=fp16
else built=fp32
fi
if python3 -c 'import darkedge' 2>/dev/null; then
    python3 -c 'import sys; from darkedge.export.tensorrt import describe_engine; print("wrote", describe_engine(*sys.argv[1:]), file=sys.stderr)' \
        "$onnx" "$engine" "$built" \
        || echo "warning: no ${engine}.json: darkedge infer takes class names and sampling from export/manifest.json and the run's config.json instead" >&2
else
    echo "warning: darkedge is not installed here, so no ${engine}.json was written" >&2
fi
