"""`xdiag diagnose PROFILE [--json]`: what is wrong with a profile, costliest first.

Reads `/api/v1/profiles/<id>/diagnosis`; `--json` prints that answer unchanged (its schema
is in the OpenAPI document: `xdiag.diagnosis/1`), so CI jobs and scripts can act on the
findings. Exit code 0 whenever the diagnosis was read, findings or not.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from xdiag.cli.client import Client


def _time(ns: float | None) -> str:
    if ns is None:
        return "?"
    if abs(ns) >= 1e9:
        return f"{ns / 1e9:.3g} s"
    if abs(ns) >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if abs(ns) >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.0f} ns"


def _value(e: dict[str, Any]) -> str:
    v, unit = e.get("value"), e.get("unit", "")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if unit == "ns":
            return _time(v)
        if unit == "fraction":
            return f"{v * 100:.1f}%"
        if unit in ("B/s", "bytes"):
            for scale, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
                if abs(v) >= scale:
                    return f"{v / scale:.3g} {p}{'B/s' if unit == 'B/s' else 'B'}"
            return f"{v:.3g} {unit}"
        text = f"{v:,.4g}" if isinstance(v, float) else f"{v:,}"
        if v == 1 and unit.endswith("s"):  # "1 step", "1 compilation", as the web UI says
            unit = unit[:-1]
        return f"{text} {unit}".strip() + (f" of {e['of']}" if "of" in e else "")
    return f"{v}"


def human(d: dict[str, Any]) -> str:
    if not d.get("available", True):
        return d.get("reason") or "no diagnosis for this profile"
    s = d.get("summary") or {}
    n = s.get("steps", 0)
    lines = [f"{d['profile_id']}: {n} step{'' if n == 1 else 's'} on {s.get('hosts', 0)} host(s), "
             f"{s.get('devices', 0)} device(s), step {_time(s.get('step_ns'))}"
             + (f", MFU {s['mfu'] * 100:.1f}%" if s.get("mfu") is not None else "")]
    findings = d.get("findings") or []
    if not findings:
        lines.append("no findings: none of the rules fired (`--json` lists them with their "
                     "thresholds)")
    for i, f in enumerate(findings, 1):
        share = f" ({f['cost_share'] * 100:.0f}% of the step period)" if f.get("cost_share") else ""
        lines.append("")
        lines.append(f"{i}. [{f['severity']}] {f['title']}")
        lines.append(f"   costs ~{_time(f['cost_ns_per_step'])} per step{share}, "
                     f"confidence {f['confidence']:.0%}  ({f['rule']})")
        for e in f.get("evidence", []):
            lines.append(f"   - {e['label']}: {_value(e)}")
        for t in f.get("what_to_try", [])[:3]:
            lines.append(f"   try: {t}")
        tl = (f.get("links") or {}).get("timeline")
        if tl:
            lines.append(f"   see: timeline of {tl['host']} at {_time(tl['start_ns'])}"
                         f"-{_time(tl['end_ns'])}")
    skipped = d.get("skipped") or []
    if skipped:
        lines.append("")
        lines.append("not checked: " + "; ".join(f"{s['rule']} ({s['reason']})"
                                                 for s in skipped))
    return "\n".join(lines)


def run(client: Client, as_json: bool, profile: str,
        emit: Callable[[Any, bool, Callable[[Any], str]], None]) -> None:
    d = client.get(f"/api/v1/profiles/{urllib.parse.quote(profile, safe='~')}/diagnosis")
    emit(d, as_json, human)
