"""Edited copies of real captures for the browser tests: the same events, slower or cut."""

from __future__ import annotations

from pathlib import Path


def slowed_copy(src: Path, dst: Path, factor: float, keep_steps: int | None = None) -> Path:
    """`src` with every event `factor` times longer and further from the capture's start,
    and (with `keep_steps`) only the events that start before its (keep_steps + 1)-th step
    annotation."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace()
    space.ParseFromString(src.read_bytes())
    lines = [ln for p in space.planes for ln in p.lines if len(ln.events)]
    t0_ps = min(ln.timestamp_ns * 1000 + ev.offset_ps for ln in lines for ev in ln.events)
    step_starts = []
    for p in space.planes:
        step_md = {k for k, m in p.stat_metadata.items() if m.name == "step_num"}
        step_starts += [ln.timestamp_ns * 1000 + ev.offset_ps for ln in p.lines for ev in ln.events
                        if any(s.metadata_id in step_md for s in ev.stats)]
    cut_ps = sorted(step_starts)[keep_steps] if keep_steps is not None else float("inf")
    for ln in lines:
        base = ln.timestamp_ns * 1000
        kept = []
        for ev in ln.events:
            if base + ev.offset_ps < cut_ps:
                e = type(ev)()
                e.CopyFrom(ev)
                e.offset_ps = round(t0_ps + (base + ev.offset_ps - t0_ps) * factor) - base
                e.duration_ps = round(ev.duration_ps * factor)
                kept.append(e)
        del ln.events[:]
        ln.events.extend(kept)
    dst.write_bytes(space.SerializeToString())
    return dst
