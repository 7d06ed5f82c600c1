#!/usr/bin/env bash
# The one prepared script for a lent GPU (see ../README.md, "Trainer"): the kernel
# tests compiled by Triton, bench/gmm.py at the realistic MoE size with a tiling
# sweep, and the trainer on one GPU with each gmm implementation, the Pallas run
# traced so its xplane can be brought back and ingested by xdiag.
#   OUT=/some/dir bash bench/gpu_check.sh
# Uses the machine's own python3/JAX (our package is not installed there).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/xdiag-gpu-check}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"

echo "== kernel tests (compiled) =="
timeout 240 python3 -m pytest -q --noconftest -p no:cacheprovider \
  tests/trainer/test_trainer_gmm.py 2>&1 | tee "$OUT/gmm_tests.log" | tail -25

echo "== bench/gmm.py (16k tokens x top-8, 4096 -> 1408, 64 experts, bf16) =="
timeout 300 python3 bench/gmm.py --sweep --backward 2>&1 | tee "$OUT/gmm_bench.log"

for impl in pallas ragged_dot; do
  echo "== trainer, preset gpu_small, gmm $impl =="
  trace=()
  [ "$impl" = pallas ] && trace=(--trace-dir "$OUT/trace" --trace-first-step 8 --trace-num-steps 2)
  timeout 200 python3 -m trainer.train --preset gpu_small --steps 14 --gmm-impl "$impl" \
    "${trace[@]}" 2>&1 | tee "$OUT/trainer_$impl.log" | grep -v "^WARNING" | tail -16
done
# Files come back at most two folders down: flatten the trace.
f=$(find "$OUT/trace" -name '*.xplane.pb' 2>/dev/null | head -1)
[ -n "$f" ] && gzip -c "$f" > "$OUT/gpu_trainer.xplane.pb.gz" && rm -rf "$OUT/trace"
ls -la "$OUT"
