"""What stock xprof's overview page says about the planted-cause captures, next to xdiag.

Usage: python tests/jobs/planted/xprof_overview.py [FIXTURES_DIR] > table.md
  FIXTURES_DIR (default tests/fixtures/planted): <case>/*.xplane.pb + oracle.json, as
  tests/test_diagnosis_planted.py writes them with XDIAG_PLANTED_SAVE.

Per case: the planted delay (the job's own clock), xdiag's top finding and its cost as the
service answered it on that capture (oracle.json keeps them), and xprof's `overview_page` (`xspace_to_tool_data(files, "overview_page", {})`):
its bottleneck verdict and statement, the input-pipeline conclusion, the step-time
breakdown it shows, and the top op of its table. xprof writes cache files beside the
files it reads, so it is given copies.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def xprof_overview(files: list[Path]) -> dict:
    from xprof.convert import raw_to_tool_data

    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for f in files:
            shutil.copy(f, Path(tmp, f.name))
            copies.append(str(Path(tmp, f.name)))
        raw = raw_to_tool_data.xspace_to_tool_data(copies, "overview_page", {})[0]
    tables = json.loads(raw)
    p = {}
    for t in tables:
        p.update({k: v for k, v in (t.get("p") or {}).items() if v not in ("", None)})
    ops = tables[0].get("rows") or []
    top_op = None
    if ops:
        c = [cell.get("v") for cell in ops[0]["c"]]
        top_op = f"{c[3]} ({c[2]}, {c[0]:.0f} %)"
    breakdown = {k[:-7]: float(v) for k, v in p.items()
                 if k.endswith("_time_ms_avg") and float(v) > 0}
    return {"bottleneck": p.get("bottleneck"), "statement": p.get("statement"),
            "input_conclusion": p.get("input_conclusion"),
            "flags": {k: v for k, v in p.items() if k.endswith("_bottleneck") and v != "no"},
            "step_ms": p.get("steptime_ms_average"), "breakdown_ms": breakdown,
            "top_op": top_op, "remark": p.get("remark_text")}


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "planted"
    rows = []
    for case_dir in sorted(p for p in root.iterdir() if (p / "oracle.json").exists()):
        oracle = json.loads((case_dir / "oracle.json").read_text())
        files = sorted(case_dir.glob("*.xplane.pb"))
        ours = oracle.get("xdiag_findings") or []
        xp = xprof_overview(files)
        rows.append((case_dir.name, oracle, ours, xp))
        print(json.dumps({"case": case_dir.name, "xprof": xp}), file=sys.stderr)
    print("| planted cause | planted delay per step, median (mean) on the job's clock | xdiag "
          "top finding + cost per step | xprof overview_page says |")
    print("| --- | --- | --- | --- |")
    for case, oracle, ours, xp in rows:
        planted = oracle.get("planted_ns_per_step")  # [median, mean] over the traced steps
        planted_s = ("none (control)" if planted is None else
                     f"{planted[0] / 1e6:.1f} ms (mean {planted[1] / 1e6:.1f})")
        top = ("no finding" if not ours else
               f"`{ours[0]['rule']}` {ours[0]['cost_ns_per_step'] / 1e6:.1f} ms: {ours[0]['title']}")
        said = [f"bottleneck: {xp['bottleneck']}"]
        if xp["statement"]:
            said.append(xp["statement"])
        if xp["flags"]:
            said.append("flags: " + ", ".join(f"{k}={v}" for k, v in xp["flags"].items()))
        if xp["breakdown_ms"]:
            said.append("step " + str(xp["step_ms"]) + " ms = " + ", ".join(
                f"{k} {v:.1f} ms" for k, v in xp["breakdown_ms"].items()))
        said.append("top op: " + (xp["top_op"] or "(table empty)"))
        print(f"| {case} | {planted_s} | {top} | {'; '.join(said)} |".replace("\n", " "))


if __name__ == "__main__":
    main()
