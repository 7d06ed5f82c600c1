"""Memory viewer and memory profile: xdiag served vs stock xprof, cold and warm, same files.

    python -m bench.memory [FILE ...]      (default: the H100 and trainer CPU fixtures)

xdiag: `xdiag serve` as its own process on a fresh local store, the file uploaded with
`xdiag upload` (ingest derives the memory views once), then over real HTTP the requests the
Memory tab makes: `GET .../memory` (program picker), `.../memory/programs/<default>`
(the heap chart and the buffers at the peak) and `.../memory/allocators`. Cold: the first
requests after the server process starts (the service restarted after the upload, so
nothing of the profile is in memory); warm: the same requests again.

Stock xprof 2.24.2: `xspace_to_tool_data([file], "memory_viewer", {"module_name": <the
same program>, "memory_space": "0"})` and `"memory_profile"`, each in a fresh Python process
that has imported xprof (a running xprof server): cold is the first call on the file (for
the viewer with the `xspace_to_tool_names` before it, which writes the `*.hlo_proto.pb` it
reads, as xprof's UI asks for the tool list first), warm the best of the next calls.

Times are wall seconds; ratios are xprof / xdiag (higher: xdiag faster).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_FILES = (FIXTURES / "h100_trainer.xplane.pb.gz",
                 FIXTURES / "trainer_cpu_memory.xplane.pb.gz")
RUNS = 5

XPROF = r"""
import json, sys, time
from xprof.convert import raw_to_tool_data as r
path, tool, module, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
params = {"module_name": module, "memory_space": "0"} if tool == "memory_viewer" else {}
out = []
t = time.perf_counter()
if tool == "memory_viewer":
    r.xspace_to_tool_names([path])  # what xprof's UI asks first: writes the *.hlo_proto.pb
for i in range(1 + runs):
    r.xspace_to_tool_data([path], tool, params)
    out.append(time.perf_counter() - t)
    t = time.perf_counter()
print(json.dumps(out))
"""


def _plain(path: Path, folder: Path) -> Path:
    """The capture uncompressed, alone in a session folder (xprof writes beside it)."""
    session = folder / "xprof" / "plugins" / "profile" / "s"
    session.mkdir(parents=True)
    out = session / (path.name.removesuffix(".gz"))
    out.write_bytes(gzip.decompress(path.read_bytes()) if path.suffix == ".gz"
                    else path.read_bytes())
    return out


def _xprof(path: Path, module: str) -> dict[str, float]:
    """Each tool in a fresh process (imported first: a running xprof server's state), its
    first call on the file (cold) and the best of the next ones (warm)."""
    out = {}
    for key, tool in (("viewer", "memory_viewer"), ("profile", "memory_profile")):
        res = subprocess.run([sys.executable, "-c", XPROF, str(path), tool, module, str(RUNS)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        times = json.loads(res.stdout.strip().splitlines()[-1])
        out[f"cold_{key}_s"], out[f"warm_{key}_s"] = times[0], min(times[1:])
    return out


def _get(http: Any, url: str) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    r = http.get(url, timeout=120)
    r.raise_for_status()
    body = r.json()
    return time.perf_counter() - t, body


def _xdiag(path: Path, work: Path) -> dict[str, Any]:
    import requests

    from bench.userpath import Server, upload

    store = work / "store"
    server = Server(store)
    try:
        up = upload(server, path, "s")
    finally:
        server.stop()
    pid = up["id"]
    server = Server(store)  # cold: a fresh process, nothing of the profile in memory
    try:
        http = requests.Session()
        base = f"{server.url}/api/v1/profiles/{urllib.parse.quote(pid, safe='~')}/memory"
        t_overview, overview = _get(http, base)
        program = overview["default_program"]
        prog_url = f"{base}/programs/{urllib.parse.quote(program, safe='()')}"
        t_program, view = _get(http, prog_url)
        t_alloc, _ = _get(http, f"{base}/allocators")
        warm_viewer = min(_get(http, base)[0] + _get(http, prog_url)[0] for _ in range(RUNS))
        warm_alloc = min(_get(http, f"{base}/allocators")[0] for _ in range(RUNS))
    finally:
        server.stop()
    return {"program": program, "peak_heap_bytes": view.get("peak_heap_bytes"),
            "cold_viewer_s": t_overview + t_program, "cold_profile_s": t_alloc,
            "warm_viewer_s": warm_viewer, "warm_profile_s": warm_alloc,
            "ingest_s": (up.get("ingest") or {}).get("seconds")}


def measure(path: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="xdiag-bench-memory-"))
    try:
        plain = _plain(path, work)
        ours = _xdiag(plain, work)
        theirs = _xprof(plain, ours["program"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"file": path.name, "program": ours["program"], "xdiag": ours, "xprof": theirs,
            "ratios": {k: theirs[k] / max(ours[k], 1e-9) for k in theirs}}


def report(rows: list[dict[str, Any]]) -> str:
    lines = ["| file (program) | view | xdiag cold | xprof cold | ratio | xdiag warm | "
             "xprof warm | ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for view, key in (("memory viewer", "viewer"), ("memory profile", "profile")):
            x, p, q = r["xdiag"], r["xprof"], r["ratios"]
            lines.append(f"| {r['file']} ({r['program']}) | {view} | "
                         f"{x[f'cold_{key}_s'] * 1e3:.1f} ms | {p[f'cold_{key}_s'] * 1e3:.1f} ms"
                         f" | {q[f'cold_{key}_s']:.1f}x | {x[f'warm_{key}_s'] * 1e3:.1f} ms | "
                         f"{p[f'warm_{key}_s'] * 1e3:.1f} ms | {q[f'warm_{key}_s']:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or list(DEFAULT_FILES)
    rows = [measure(f) for f in files]
    print(json.dumps(rows, indent=1))
    print(report(rows))


if __name__ == "__main__":
    main()
