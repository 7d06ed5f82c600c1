"""The XSpace format (`.xplane.pb`): bytes in, columns out.

* `lean.read_xspace_lean` -> `LeanColumns`: what ingest's analyses read (a few stats as
  per-event interned codes, no stat rows), without keeping the file's pages.
* `events.EventReader`: one event's stats for the details panel, without a full parse.
* `columns`: what the readers share (planes, lines, event metadata, the C parser).
* `hlo.hlo_modules`: the HLO modules carried in the `/host:metadata` plane.
* `synth.write_synthetic_xspace`: large valid CPU-like profiles for benchmarks and tests.

The fast path is the C extension `_xspace` (built from `_xspace.c`);
`xplane_pb2` is generated from `xplane.proto` by `gen_protos.sh`.
"""
