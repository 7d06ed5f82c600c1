"""HLO module text and op neighbourhood for the API (parsed modules cached by their bytes).

The text is XLA's own printer's (jaxlib), the same a user sees from JAX; our printer
(`analysis.hlo.format_module`) stands in for a proto jaxlib cannot read.
"""

from __future__ import annotations

import functools
from typing import Any

from xdiag.analysis.hlo.cost import ModuleCost, module_cost
from xdiag.analysis.hlo.module import HloModule, format_module, parse_module
from xdiag.core.errors import NotFound
from xdiag.serving.profile import ProfileData
from xdiag.store import layout


def hlo_text(module: HloModule, *, metadata: bool = True) -> str:
    """HLO text of the module: XLA's printer, or ours if jaxlib can't parse it.

    Args:
        module: A parsed module (its `raw` bytes are what XLA prints).
        metadata: Include `metadata={...}` attributes.
    """
    try:
        from jaxlib import _hlo  # type: ignore[attr-defined]

        mod = _hlo.HloModule.from_serialized_hlo_module_proto(module.raw)
        opts = _hlo.HloPrintOptions()
        opts.print_metadata = metadata
        return mod.to_string(opts)
    except Exception:  # jaxlib missing, or a proto newer/odder than it accepts
        return format_module(module, metadata=metadata)


@functools.lru_cache(maxsize=32)
def _parsed(proto: bytes) -> tuple[HloModule, ModuleCost, str]:
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


def module_view(data: ProfileData, ref: str, *, op: str | None, hops: int,
                expand: bool) -> dict[str, Any]:
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
