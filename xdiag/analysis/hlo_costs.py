"""The costs of a host's HLO modules, per op: what the op and step tables charge.

Each module the host's metadata plane carries is costed once by the cost model
(`hlo/cost.py`, in C over the module's bytes) into plain columns that can be cached
by the module's fingerprint (`CostCache`: the pipeline keeps them in the store), and
read back per op as `OpCostInfo` only for the ops that ran. Pure: bytes and columns
in, dataclasses out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("xdiag.analysis")

COLLECTIVE = "collective"


@dataclasses.dataclass
class OpCostInfo:
    flops: float
    bytes: float
    category: str
    fused_category: str = ""  # for fusions: what the work inside is (e.g. "dot")
    # Inside a fused computation: its cost is its fusion's, so an event of it (a runtime
    # that traces a fusion's inner ops) must not count it again.
    in_fusion: bool = False
    collective_bytes: float = 0.0  # a collective's payload per device


class OpCosts(Mapping[str, OpCostInfo]):
    """A module's per-op costs, read-only, over the cached plain columns (names, flops,
    bytes, category codes into labels): a train step has tens of thousands of ops, and
    only those that ran are looked up, so each becomes an OpCostInfo when it is."""

    def __init__(self, raw: dict[str, list[Any]]) -> None:
        self._raw = raw
        self._index: dict[str, int] | None = None

    def _at(self) -> dict[str, int]:
        if self._index is None:
            self._index = {name: i for i, name in enumerate(self._raw["names"])}
        return self._index

    def __getitem__(self, op: str) -> OpCostInfo:
        i, r = self._at()[op], self._raw
        labels = r["labels"]
        return OpCostInfo(float(r["flops"][i]), float(r["bytes"][i]), labels[r["category"][i]],
                          labels[r["fused_category"][i]], bool(r["in_fusion"][i]),
                          float(r["collective_bytes"][i]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._at())

    def scopes(self) -> Iterator[tuple[str, str]]:
        """(op, its framework name stack: JAX named scopes and primitive) for every op
        whose metadata has one."""
        names = self._raw.get("op_names") or ()
        return ((op, on) for op, on in zip(self._raw["names"], names, strict=False) if on)

    def __len__(self) -> int:
        return len(self._at())


@dataclasses.dataclass
class ModuleInfo:
    name: str
    program_id: int
    proto: bytes
    fingerprint: str
    instructions: int | None  # None: not costed (the module did not run in the capture)
    flops: float | None
    bytes: float | None
    costs: Mapping[str, OpCostInfo]
    triton_kernels: frozenset[str] = frozenset()
    triton_ops: frozenset[str] = frozenset()  # the custom calls that launch them
    _by_kernel: dict[str, str] | None = None

    def is_triton_kernel(self, kernel: str) -> bool:
        """A Pallas/Triton custom call's kernel (`gmm`, or `gmm__3` for its variants)."""
        return re.sub(r"__\d+$", "", kernel) in self.triton_kernels

    def op_of_kernel(self, kernel: str) -> str | None:
        """The instruction a GPU kernel runs: XLA names kernels after their instruction
        with '.' made '_' (fusion `loop_add_fusion.6` -> kernel `loop_add_fusion_6`)."""
        if self._by_kernel is None:
            self._by_kernel = {name.replace(".", "_"): name for name in self.costs}
            self._by_kernel.update({name: name for name in self.costs})
        return self._by_kernel.get(kernel)


class CostCache(Protocol):
    """Where module costs computed once are kept (a dict, or the store across processes)."""

    def get(self, fingerprint: str) -> dict[str, Any] | None: ...

    def put(self, fingerprint: str, costs: dict[str, Any]) -> None: ...


_TRITON_NAME = re.compile(r'\bname\s*=\s*"([^"]+)"')


def module_costs(proto: bytes) -> dict[str, Any]:
    """Per-op costs and totals of one module, as plain data (cacheable as JSON).

    Ops are columns (names, integer flops and bytes, category codes into `labels`):
    a train step's 18k ops encode and decode several times faster so than as a dict
    of rows.
    """
    from xdiag.analysis.hlo.cost import CATEGORIES, cost_columns

    cols = cost_columns(proto)
    triton = sorted({m.group(1) for _, target, config in cols.custom_configs
                     if target.endswith("triton") and (m := _TRITON_NAME.search(config))})
    triton_ops = sorted(cols.names[i] for i, target, config in cols.custom_configs
                        if target.endswith("triton") and _TRITON_NAME.search(config))
    fusion, collective = CATEGORIES.index("fusion"), CATEGORIES.index(COLLECTIVE)
    # A fusion around a collective is counted as the collective it is.
    shown = np.where((cols.category == fusion) & (cols.fused_category == collective),
                     collective, cols.category)
    return {
        "instructions": len(cols.names),
        "triton_kernels": triton,  # Pallas/Triton kernel names its custom calls launch
        "triton_ops": triton_ops,  # and those custom calls (their FLOPs are the kernel's)
        "flops": float(cols.total.flops), "bytes": float(cols.total.bytes_accessed),
        "ops": {"names": cols.names, "flops": cols.flops.tolist(),
                "bytes": (cols.bytes_read + cols.bytes_written).tolist(),
                "category": shown.tolist(),
                # -1 (no fused category) is the last label
                "fused_category": np.where(cols.fused_category < 0, len(CATEGORIES),
                                           cols.fused_category).tolist(),
                "in_fusion": cols.in_fusion.astype(np.int8).tolist(),
                "collective_bytes": cols.collective_bytes.tolist(),
                "op_names": cols.op_names,
                "labels": [*CATEGORIES, ""]},
    }


def module_infos(cols: Any, cache: CostCache | None = None,
                 ran: Callable[[str, int], bool] | None = None) -> list[ModuleInfo]:
    """HLO modules of the host with per-op costs (categories drive op stats and steps).

    Parsing and costing a large module takes seconds, and every capture of a job
    carries the same modules: `cache` keeps the costs by module fingerprint. A
    process's metadata lists every module it compiled (its init, say), but only
    those that ran in the capture (`ran(name, program_id)`) need costs now: the
    others are listed with `instructions`/`flops`/`bytes` None unless cached.
    """
    from xdiag.xplane.hlo import hlo_modules

    out = []
    for ref in hlo_modules(cols):
        fp = hashlib.sha256(ref.proto).hexdigest()[:16]
        costs = cache.get(fp) if cache is not None else None
        if costs is None and ran is not None and not ran(ref.name, ref.program_id):
            out.append(ModuleInfo(name=ref.name, program_id=ref.program_id, proto=ref.proto,
                                  fingerprint=fp, instructions=None, flops=None, bytes=None,
                                  costs={}))
            continue
        if costs is None:
            try:
                costs = module_costs(ref.proto)
            except Exception as exc:  # one odd module must not fail the whole profile
                log.warning("HLO module %s: cost model failed: %s", ref.name, exc)
                continue
            if cache is not None:
                cache.put(fp, costs)
        out.append(ModuleInfo(
            name=ref.name, program_id=ref.program_id, proto=ref.proto, fingerprint=fp,
            instructions=costs["instructions"], flops=costs["flops"], bytes=costs["bytes"],
            costs=OpCosts(costs["ops"]),
            triton_kernels=frozenset(costs.get("triton_kernels", ())),
            triton_ops=frozenset(costs.get("triton_ops", ()))))
    return out


def name_scopes(names: list[str], modules: list[ModuleInfo]) -> dict[int, str]:
    """The framework name stack of each event name that is an op of a module that ran
    (GPU kernels are named after their instruction with '.' made '_')."""
    by_op: dict[str, str] = {}
    for m in modules:
        if isinstance(m.costs, OpCosts):
            for op, scope in m.costs.scopes():
                by_op.setdefault(op, scope)
                by_op.setdefault(op.replace(".", "_"), scope)
    return {i: by_op[n] for i, n in enumerate(names) if n in by_op} if by_op else {}
