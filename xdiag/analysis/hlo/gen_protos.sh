#!/usr/bin/env bash
# Regenerates the *_pb2.py (and typing stubs *_pb2.pyi) of our HLO proto subset.
# Run from anywhere; needs grpcio-tools in the project venv (its protoc emits
# code for the protobuf runtime we pin).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
"$py" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
  xdiag/analysis/hlo/proto/xla_data.proto xdiag/analysis/hlo/proto/hlo.proto
# Generated stubs follow protoc's style, not ours: keep the linter off them.
for f in xdiag/analysis/hlo/proto/*_pb2.pyi; do
  printf '# ruff: noqa\n%s\n' "$(cat "$f")" > "$f"
done
