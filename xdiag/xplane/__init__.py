"""Reading XSpace profiles (`.xplane.pb`) into columnar arrays.

* `reader.read_xspace` -> `XSpaceColumns`: planes, lines, events, stats as numpy columns.
* `lean.read_xspace_lean` -> `LeanColumns`: only what ingest's analyses read (a few stats
  as per-event interned codes, no stat rows), without keeping the file's pages.
* `hlo.hlo_modules` / `hlo.hlo_text`: HLO modules carried in the `/host:metadata` plane.
* `synth.write_synthetic_xspace`: large valid CPU-like profiles for benchmarks and tests.

The fast path is the C extension `_xspace` (built from `_xspace.c`);
`xplane_pb2` is generated from `xplane.proto` by `gen_protos.sh`.
"""
