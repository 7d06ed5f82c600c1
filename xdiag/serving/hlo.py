"""HLO module text and op neighbourhood for the API (parsed modules cached per fingerprint)."""

from __future__ import annotations

import functools
from typing import Any

from xdiag.core.errors import NotFound
from xdiag.store import layout


@functools.lru_cache(maxsize=32)
def _parsed(proto: bytes) -> tuple[Any, Any, str]:
    from xdiag.analysis.hlo.cost import module_cost
    from xdiag.analysis.hlo.module import hlo_text, parse_module

    module = parse_module(proto)
    return module, module_cost(module), hlo_text(module)


def find_module(modules: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """A module by `name`, `name(program_id)` or fingerprint."""
    for m in modules:
        if ref in (m["fingerprint"], f"{m['name']}({m['program_id']})"):
            return m
    named = [m for m in modules if m["name"] == ref]
    if named:
        return max(named, key=lambda m: m["instructions"] or 0)
    known = ", ".join(sorted({m["name"] for m in modules})) or "none"
    raise NotFound(f"no HLO module {ref!r} in this profile (modules: {known})")


def module_view(data: Any, ref: str, *, op: str | None, hops: int, expand: bool) -> dict[str, Any]:
    from xdiag.analysis.hlo.graph import neighborhood, to_dot

    m = find_module(data.manifest["modules"], ref)
    proto = data.store.read(layout.Derived.of(data.record).hlo(m["fingerprint"]))
    module, cost, text = _parsed(proto)
    graph = dot = None
    if op:
        graph = neighborhood(module, op, hops=hops, expand=expand, cost=cost)
        dot = to_dot(graph)
    return {"module": m["name"], "program_id": m["program_id"], "fingerprint": m["fingerprint"],
            "text": text, "op": op, "graph": graph, "dot": dot,
            "cost": cost.total.to_json()}
