#!/usr/bin/env bash
# The one prepared script for a lent GPU: every GPU figure of issue 21 in one call, in
# under 8 minutes on one H100/H200.
#
#   1. the grouped-matmul kernel tests, compiled (tests/trainer/test_trainer_gmm*.py);
#   2. bench/gmm.py at the MoE size (16k tokens x top-8, 4096 -> 1408, 64 experts, bf16):
#      our Pallas kernel vs ragged_dot vs a dense matmul of the same FLOPs, forward, dx,
#      dW and forward + backward (-> gmm_bench.json);
#   3. the trainer (preset gpu_small, Pallas gmm) with the xdiag agent, served by
#      `xdiag serve` and captured through `xdiag capture` (command buffers on, then off),
#      the raw captures gzipped beside the numbers xdiag's ingest gives for them: op-table
#      FLOPs vs the cost model's (coverage), unattributed kernels, kernel statistics
#      (-> capture_*.json, gpu_trainer*.xplane.pb.gz).
#
#   OUT=/some/dir bash bench/gpu_check.sh          # on the GPU machine
#   bash bench/gpu_check.sh --dry-run              # here, on CPU: tiny sizes, same steps
#
# On the GPU machine it uses that machine's python3/JAX with this tree on PYTHONPATH;
# the service's packages its image lacks come as cp312 wheels in .whl/ (carried; see
# /work/.library/device/README.md for the pip download flags): flask, blinker,
# itsdangerous, orjson, xprof (and xprof's own needs its METADATA lists that the image
# lacks, e.g. gviz-api). Without them step 3 falls back to the trainer's own trace
# (--trace-dir) and says so. Each step has its own time limit; a failed step
# is reported and the next one runs. Everything lands flat in $OUT (files come back at
# most two folders down).
set -u
DRY=0
[ "${1:-}" = "--dry-run" ] || [ "${1:-}" = "--cpu" ] && DRY=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-/tmp/xdiag-gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
step() { echo; echo "== [$(elapsed) s] $* =="; }
PORT=${PORT:-8795}
SERVER=http://127.0.0.1:$PORT

if [ $DRY = 1 ]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  [ -x "$PY" ] || PY=python3
  export JAX_PLATFORMS=cpu
  PRESET=tiny; BENCH=(--iters 1 --backward); TEST_SEL=(-k "ragged or holds_all or empty")
  CAPTURE_MS=1500; T_TEST=300; T_BENCH=300; T_CAPTURE=240
  echo "dry run on CPU: tiny sizes, Pallas in interpret mode; the numbers check the plumbing only"
else
  PY=${PYTHON:-python3}
  PRESET=gpu_small; BENCH=(--sweep --backward --iters 10); TEST_SEL=()
  CAPTURE_MS=2000; T_TEST=80; T_BENCH=200; T_CAPTURE=90
  nvidia-smi -L
  if ls .whl/*.whl > /dev/null 2>&1; then  # the service's packages this image lacks
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
  fi
fi
$PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())" \
  || { echo "no JAX here: nothing to run"; exit 1; }

# Our C extensions for this Python (the tree carries the ones built for the dev venv).
if ! $PY -c "import xdiag.xplane._xspace, xdiag.analysis._hlocost, xdiag.analysis._intervals" 2>/dev/null; then
  step "building xdiag's C extensions for $($PY -V 2>&1)"
  timeout 120 $PY -c "import setuptools; setuptools.setup()" build_ext --inplace -q > "$OUT/build.log" 2>&1 \
    || echo "C extensions failed to build (see build.log): the capture's numbers will be missing"
fi

MODE=compiled; [ $DRY = 1 ] && MODE="interpret mode"
step "kernel tests ($MODE)"
timeout $T_TEST $PY -m pytest -q --noconftest -p no:cacheprovider "${TEST_SEL[@]}" \
  tests/trainer/test_trainer_gmm.py tests/trainer/test_trainer_gmm_persistent.py > "$OUT/gmm_tests.log" 2>&1
echo "exit $? · $(tail -1 "$OUT/gmm_tests.log")"

step "bench/gmm.py: kernel vs ragged_dot vs dense, forward, dx, dW, forward + backward"
timeout $T_BENCH $PY bench/gmm.py "${BENCH[@]}" --json "$OUT/gmm_bench.json" 2>&1 \
  | grep -v "^WARNING" | tee "$OUT/gmm_bench.log"

# -- the trainer, captured through the service ---------------------------------------
have_service() { $PY -c "import flask, orjson, xprof.convert._pywrap_profiler_plugin, xdiag.server" 2>/dev/null; }
SERVE_PID=
stop_service() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=; }
trap 'stop_service; [ -n "${TRAIN_PID:-}" ] && kill "$TRAIN_PID" 2>/dev/null' EXIT

capture() {  # capture NAME [XLA_FLAGS]: one trainer run, captured, its numbers
  local name=$1 flags=${2:-} job="gpu-check-$1"
  step "trainer ($PRESET, gmm pallas) captured through xdiag capture: $name"
  XLA_FLAGS="${XLA_FLAGS:-} $flags" timeout $T_CAPTURE $PY -m trainer.train --preset $PRESET \
    --steps 0 --gmm-impl pallas --job "$job" --xdiag-server "$SERVER" \
    --metrics-file "$OUT/metrics_$name.jsonl" > "$OUT/trainer_$name.log" 2>&1 &
  TRAIN_PID=$!
  # Capture once the job has registered and run a few steps (compiled, warm).
  local ok=0
  for _ in $(seq 1 $((T_CAPTURE - 20))); do
    sleep 1
    kill -0 $TRAIN_PID 2>/dev/null || break
    [ -s "$OUT/metrics_$name.jsonl" ] && [ "$(wc -l < "$OUT/metrics_$name.jsonl")" -ge 3 ] && { ok=1; break; }
  done
  touch "$OUT/.before_$name"
  if [ $ok = 1 ]; then
    timeout 60 $PY -m xdiag capture "$job" --duration-ms $CAPTURE_MS --wait --json \
      --server "$SERVER" > "$OUT/capture_$name.cli.json" 2> "$OUT/capture_$name.err"
    echo "xdiag capture exit $?: $(head -c 300 "$OUT/capture_$name.cli.json")"
  else
    echo "the trainer did not get to step 3 (see trainer_$name.log):"; tail -5 "$OUT/trainer_$name.log"
  fi
  kill $TRAIN_PID 2>/dev/null; wait $TRAIN_PID 2>/dev/null; TRAIN_PID=
  tail -3 "$OUT/trainer_$name.log"
  $PY - "$SERVER" "$OUT/capture_$name.cli.json" "$OUT" "$name" <<'PY'
import gzip, json, shutil, sys, urllib.request
from pathlib import Path
server, cli, out, name = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
try:
    pid = json.loads(cli.read_text())["id"]
except Exception as exc:
    sys.exit(f"no capture to read ({exc})")
get = lambda p: json.load(urllib.request.urlopen(f"{server}/api/v1/profiles/{pid}{p}", timeout=60))
ops, steps = get("/ops"), get("/steps")
kernels, prof = get("/kernels?limit=100000"), get("")
modules = {(m["name"], m["program_id"]): m for m in get("/hlo")["modules"]}
done = [s for s in steps["steps"] if s["complete"]]
op_flops = sum(o["flops"] or 0 for o in ops["ops"])
# The cost model's FLOPs of the programs that ran, each once per complete step (a
# program run the capture cut at its edges counts in the op table, not here).
ran = {(o["module"], o["program_id"]) for o in ops["ops"]}
# The cost model's FLOPs are per device; the op table sums the devices.
devices = max((s["devices"] for s in done), default=1)
model = sum((modules[k].get("flops") or 0) * len(done) * devices for k in ran if k in modules)
unattributed = [o for o in ops["ops"] if o["op"].startswith(("command_buffer", "nvjet", "Memset"))]
numbers = {
    "name": name, "profile": pid, "device": prof.get("device_kind"),
    "complete_steps": len(done), "devices": devices,
    "step_ms": [round(s["dur_ns"] / 1e6, 3) for s in done][:20],
    "mfu": steps["summary"].get("mfu"), "hfu": steps["summary"].get("hfu"),
    "op_table_flops": op_flops, "cost_model_flops_of_complete_steps": model,
    "coverage_pct": 100 * op_flops / model if model else None,
    "unattributed_ops": [(o["op"], o["total_ns"]) for o in unattributed],
    "kernels": kernels.get("summary"),
    "top_kernels": [(k["name"], k["launches"], k["total_ns"], k["op"])
                    for k in kernels.get("kernels", [])[:10]],
}
(out / f"capture_{name}.json").write_text(json.dumps(numbers, indent=1))
print(json.dumps({k: numbers[k] for k in ("complete_steps", "devices", "mfu", "coverage_pct",
                                           "unattributed_ops", "kernels")}, indent=1))
PY
  local raw
  raw=$(find "$OUT/store" -name '*.xplane.pb' -newer "$OUT/.before_$name" 2>/dev/null | head -1)
  rm -f "$OUT/.before_$name"
  if [ -n "$raw" ] && [ $DRY = 0 ]; then gzip -c "$raw" > "$OUT/gpu_trainer_$name.xplane.pb.gz"
  elif [ -n "$raw" ]; then echo "raw capture: $(du -h "$raw" | cut -f1) (not kept in a dry run)"; fi
}

if have_service; then
  step "xdiag serve on $SERVER (store $OUT/store)"
  rm -rf "$OUT/store"
  $PY -m xdiag serve --store "$OUT/store" --port $PORT > "$OUT/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 60); do
    $PY -c "import urllib.request; urllib.request.urlopen('$SERVER/healthz', timeout=2)" 2>/dev/null && break
    sleep 0.5
  done
  capture cmdbuf_on
  if [ $DRY = 1 ] || [ "$(elapsed)" -lt 350 ]; then
    capture cmdbuf_off "--xla_gpu_enable_command_buffer="
  else
    echo "skipped the capture with command buffers off: $(elapsed) s used of 480"
  fi
  stop_service
  rm -rf "$OUT/store"  # the raw captures are in $OUT, gzipped; the views are re-derived
else
  step "no xdiag service here (flask/orjson/xprof missing: carry them as wheels in .whl/); the trainer's own trace instead"
  XLA_FLAGS="${XLA_FLAGS:-}" timeout $T_CAPTURE $PY -m trainer.train --preset $PRESET --steps 12 \
    --gmm-impl pallas --trace-dir "$OUT/trace" --trace-first-step 8 --trace-num-steps 2 \
    > "$OUT/trainer_trace.log" 2>&1
  echo "exit $?"; tail -3 "$OUT/trainer_trace.log"
  f=$(find "$OUT/trace" -name '*.xplane.pb' 2>/dev/null | head -1)
  [ -n "$f" ] && gzip -c "$f" > "$OUT/gpu_trainer_trace.xplane.pb.gz" && rm -rf "$OUT/trace"
fi

step "done"
ls -la "$OUT"
echo "total $(elapsed) s"
