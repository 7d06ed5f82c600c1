#!/usr/bin/env bash
# Regenerates xplane_pb2.py from xplane.proto (run from anywhere; needs grpcio-tools).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
"$py" -m grpc_tools.protoc -I. --python_out=. xdiag/xplane/xplane.proto
