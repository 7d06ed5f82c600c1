"""The loop every planted-cause job shares: agent, warm-up, the job's own oracle, timed steps.

A job script sets its device count (XLA_FLAGS) before importing JAX, builds a `Case` and
calls `run(case)`. The protocol on stdin/stdout (one JSON object per line) lets a test
start many jobs at once and trace them one at a time, so that no job runs while another
is being traced (2 cores):

    job  -> {"event": "ready", "job", "case", "process_index", "port"}  (warmed up)
    test -> "go"        the job measures its oracle (alone: the other jobs wait too) ...
    job  -> {"event": "oracle", ...numbers}
    test -> "steps N"   only with --fixed-steps (a multi-process job, whose processes must
                        all run the same steps: the test picks N from the oracles' step_s)
                        ... then the job runs its numbered steps (step_num 0, 1, ...)
    job  -> {"event": "step", "step", "dur_s", "planted_s"}  per step
    test -> "stop"      (or stdin closed) the job finishes the step and exits (with
                        --fixed-steps it runs exactly N steps instead)
    job  -> {"event": "done", "steps", "median_step_s", "median_planted_s"}

The oracle is the job's own measurement of what was planted, taken with
`time.perf_counter` around the planted work, or as an A/B of the same step with and
without it (`Case.oracle`) -- never anything xdiag computes. Steps block on their result
inside their `StepTraceAnnotation`, so a step's time is what the loop sees.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

# Given peaks skip the agent's 1 s probe, which would run while the other jobs compile
# (a test starts several at once on 2 cores); the test measures them once, beforehand.
PEAKS = {"matmul_gflops": 50.0, "memcpy_gbps": 10.0}


@dataclasses.dataclass
class Case:
    """One planted cause (or the clean control).

    step: runs step `i` in full (input, dispatch, wait for the result) and returns the
      seconds of it the planted cause took, as measured by the job (0.0 if unknown or none).
    warmup: called once before the oracle (compilation of every shape the loop will see
      again; a recompiling job warms only its first shape).
    oracle: the job's own A/B measurements, called after warm-up; a dict of numbers.
    """

    name: str
    step: Callable[[int], float]
    warmup: Callable[[], None] = lambda: None
    oracle: Callable[[], dict[str, float]] = dict


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def median_time(fn: Callable[[], Any], n: int = 5) -> float:
    """Median wall seconds of `fn()` over `n` calls (fn blocks on its own result)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ab_times(a: Callable[[], Any], b: Callable[[], Any], n: int = 7,
             stat: Callable[[list[float]], float] = statistics.median) -> tuple[float, float]:
    """`stat` (median; `min` for a baseline, which contention can only lengthen) of the
    wall seconds of `a()` and of `b()`, run alternately `n` times each (so that a change
    in the machine's load hits both alike)."""
    ta, tb = [], []
    for _ in range(n):
        ta.append(median_time(a, 1))
        tb.append(median_time(b, 1))
    return stat(ta), stat(tb)


def parse_args(extra: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("job")
    ap.add_argument("--peaks", type=json.loads, default=PEAKS,
                    help="the host's peaks as JSON (xdiag.agent.measure_host_peaks())")
    ap.add_argument("--max-s", type=float, default=30.0, help="stop by itself after this")
    ap.add_argument("--fixed-steps", action="store_true",
                    help="after the oracle, read 'steps N' and run exactly N steps, ignoring "
                         "'stop' (a multi-process job, whose processes must all run the same "
                         "steps)")
    if extra:
        extra(ap)
    return ap.parse_args()


def start_agent(args: argparse.Namespace) -> Any:
    import xdiag.agent

    return xdiag.agent.start(server=args.server, job=args.job, heartbeat_s=1.0, peaks=args.peaks)


def run(case: Case, args: argparse.Namespace, agent: Any) -> None:
    import jax

    case.warmup()
    deadline = time.monotonic() + 60
    while not agent.registered and time.monotonic() < deadline:
        time.sleep(0.05)
    emit(event="ready", job=args.job, case=case.name, process_index=jax.process_index(),
         port=agent.port, registered=agent.registered)
    if sys.stdin.readline().strip() != "go":
        return
    emit(event="oracle", **case.oracle())
    steps = int(sys.stdin.readline().split()[1]) if args.fixed_steps else 0
    stop = threading.Event()

    def watch() -> None:
        sys.stdin.readline()  # "stop" or EOF
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    durs, planted = [], []
    end = time.monotonic() + args.max_s
    i = 0
    while (i < steps) if steps else (not stop.is_set() and time.monotonic() < end):
        t = time.perf_counter()
        with jax.profiler.StepTraceAnnotation("train", step_num=i):
            p = case.step(i)
        d = time.perf_counter() - t
        durs.append(d)
        planted.append(p)
        emit(event="step", step=i, dur_s=round(d, 6), planted_s=round(p, 6))
        i += 1
    emit(event="done", steps=i, median_step_s=statistics.median(durs) if durs else None,
         median_planted_s=statistics.median(planted) if planted else None)
    agent.stop()
