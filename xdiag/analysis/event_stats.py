"""The per-event stats the analyses read, gathered once per host file (each gather is a
pass over the stats), and the facts derived from them before any table is built."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from xdiag.xplane.arrays import index_type

ANALYSED_STATS = ("hlo_op", "hlo_module", "program_id", "device_ordinal", "step_num",
                  "correlation_id", "run_id", "model_flops", "kernel_details")


@dataclasses.dataclass
class EventStats:
    """The per-event stats the analyses use, gathered once (each gather is a pass over stats)."""

    names: tuple[np.ndarray, list[str]]
    hlo_op: tuple[np.ndarray, list[Any], np.ndarray]
    hlo_module: tuple[np.ndarray, list[Any], np.ndarray]
    # A callable until `materialise`: not needed before the timeline is written.
    program_id: tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]]
    device_ordinal: tuple[np.ndarray, np.ndarray] | None  # None once tracks are assigned
    # (events that carry a step number, its value); None once the step marks are taken
    step_num: tuple[np.ndarray, np.ndarray] | None
    # (events that carry the job's declared model FLOPs of a step, the value); likewise
    model_flops: tuple[np.ndarray, np.ndarray] | None
    # GPU only (gathered once kernel tracks are known): kernel <-> its host launch.
    correlation_id: tuple[np.ndarray, np.ndarray] | None = None
    # GPU: per event, the graph launch (its correlation id) of a command-buffer kernel tied
    # to its instruction (`gpu_kernels.resolve`), -1 for others: an instruction runs once
    # per launch of its graph, however many kernels it has (a cuBLAS memset and GEMM).
    graph_run: np.ndarray | None = None
    # GPU only: CUPTI's launch shape of each kernel (grid, block, registers, shared memory,
    # occupancy) as interned strings; events without it are not kernels.
    kernel_details: tuple[np.ndarray, list[Any], np.ndarray] | None = None
    # CPU: the XLA program run an op belongs to (and host events of that run), deferred
    # like program_id.
    run_id: tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]] \
        | None = None

    @classmethod
    def gather(cls, cols: Any, *, with_ordinal: bool = True,
               hlo_op: tuple[np.ndarray, list[Any], np.ndarray] | None = None) -> EventStats:
        return cls(names=cols.event_names(),
                   hlo_op=hlo_op if hlo_op is not None else cols.event_stat_codes("hlo_op"),
                   hlo_module=cols.event_stat_codes("hlo_module"),
                   program_id=cols.event_stat_later("program_id", narrow=True),
                   device_ordinal=cols.event_stat("device_ordinal") if with_ordinal else None,
                   step_num=cols.event_stat_sparse("step_num"),
                   model_flops=cols.event_stat_sparse("model_flops"),
                   run_id=cols.event_stat_later("run_id", narrow=True))

    def materialise(self) -> None:
        """Computes what `gather` deferred."""
        if callable(self.program_id):
            self.program_id = self.program_id()
        if callable(self.run_id):
            self.run_id = self.run_id()


def modules_that_ran(es: EventStats) -> Callable[[str, int], bool] | None:
    """Whether a module (name, program id) has events in the capture; None: can't tell."""
    _, mod_table, has_mod = es.hlo_module
    prog, has_prog = es.program_id
    if not (np.any(has_mod) or np.any(has_prog)):
        return None
    names = {str(x) for x in mod_table}
    ran_programs = np.asarray(prog)[has_prog]  # a module is checked only when not cached

    def ran(name: str, program_id: int) -> bool:
        return name in names or bool(np.any(ran_programs == program_id))
    return ran


def event_lines(cols: Any) -> np.ndarray:
    """The line (host thread, device stream) of every event, int16 (int32 past 32k
    lines): nesting is only within one line, so the timeline index needs it (CPU device
    tracks gather the ops of one device from several threads)."""
    lines = cols.lines
    n = len(cols.events)
    a = np.asarray(lines.event_start, np.int64)
    z = np.asarray(lines.event_stop, np.int64)
    dtype = index_type(len(a), smallest=np.int16)
    if not (len(a) and n):
        return np.zeros(n, dtype)
    # Lines hold contiguous runs of events: the output is each run's line repeated over
    # it (events in no line, which no profiler writes: the line before them, else 0).
    # One np.repeat writes it, with no per-event scratch: each such temporary is fresh
    # memory to fault in (a 3M-event profile's ingest spent ~0.1 s here faulting 70 MB
    # of scratch for a 12 MB result).
    order = np.lexsort((z, a))  # empty runs before the run that starts with them
    a, z, line = a[order], z[order], order.astype(dtype)
    if np.all(a[1:] >= z[:-1]) and a[0] >= 0 and z[-1] <= n:
        # Runs and the gaps between them, in order: values and lengths for np.repeat.
        gap = np.concatenate([[a[0]], a[1:] - z[:-1]])
        values = np.zeros(2 * len(a) + 1, dtype)
        values[1::2] = line
        values[2::2] = line
        lengths = np.empty(2 * len(a) + 1, np.int64)
        lengths[0:-1:2], lengths[1::2], lengths[-1] = gap, z - a, n - int(z[-1])
        return np.repeat(values, lengths)
    out = np.zeros(n, dtype)  # overlapping runs (no profiler we know writes them)
    for li, (x, y) in enumerate(zip(a.tolist(), z.tolist(), strict=True)):
        out[x:y] = line[li]
    return out
