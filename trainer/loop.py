"""The training loop: mesh, state (fresh or resumed), steps, checkpoints, metrics.

Step s (1-based) -- its batch and its dispatch -- runs inside
`StepTraceAnnotation("train", step_num=s, model_flops=...)`.
Metrics of step s are fetched after step s + 1 is dispatched, so the host
never waits on the device just to log. Step time runs from when step s could
start (its batch was requested and step s - 1 was done) to when the host saw
it done; step 1 includes compilation. With --sleep-ms the device would idle
anyway, so metrics are fetched before the pause instead.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable

import jax

from trainer import checkpoint, data, metrics, sharding, step

log = logging.getLogger("trainer")
_host_peaks_cache: dict | None = None


def start_agent(cfg):
    """Start the xdiag agent (profiler server + registration); None if not asked for."""
    if not cfg.xdiag_server:
        return None
    import xdiag.agent

    return xdiag.agent.start(server=cfg.xdiag_server, job=cfg.job, port=cfg.profiler_port)


class PeakFlops:
    """Per-device peak FLOP/s: the vendor table, else the host's measured rate (CPU)."""

    def __init__(self, agent):
        self.agent = agent
        self.device = jax.devices()[0]
        self.table = metrics.table_peak_flops(self.device.device_kind)
        if self.table is None and agent is None:
            global _host_peaks_cache
            if _host_peaks_cache is None:
                import xdiag.agent

                _host_peaks_cache = xdiag.agent.measure_host_peaks()
            self.host = _host_peaks_cache
        else:
            self.host = None

    def __call__(self) -> float | None:
        if self.table is not None:
            return self.table
        peaks = self.agent.peaks if self.agent is not None else self.host
        return metrics.cpu_peak_flops(peaks, jax.local_device_count())


class StepTrace:
    """A jax.profiler trace of a fixed range of steps, when cfg.trace_dir is set."""

    def __init__(self, cfg):
        # No trace unless a directory and at least one step are asked for.
        self.dir = cfg.trace_dir if cfg.trace_num_steps > 0 else ""
        self.first = cfg.trace_first_step
        self.last = cfg.trace_first_step + cfg.trace_num_steps - 1
        self.active = False

    def ends_before(self, step_num: int) -> bool:
        """True when step_num must not be dispatched until the traced steps are done."""
        return self.active and step_num > self.last

    def before(self, step_num: int) -> None:
        if self.ends_before(step_num):
            self.stop()
            print(f"trainer: trace of steps {self.first}..{self.last} written to {self.dir}",
                  flush=True)
        if self.dir and step_num == self.first:
            jax.profiler.start_trace(self.dir)
            self.active = True

    def stop(self) -> None:
        if self.active:
            self.active = False
            jax.profiler.stop_trace()


def restore_or_init(setup: step.Setup, ckpt: checkpoint.Checkpointer | None,
                    data_iter: data.Mixture, resume: bool):
    """The latest checkpoint when resuming (and one exists), else a fresh state."""
    latest = ckpt.latest_step() if (ckpt and resume) else None
    if latest is None:
        if resume:
            log.warning("--resume: no checkpoint found, starting from scratch")
        return setup.init()
    state, data_state = ckpt.restore(latest, setup.abstract_state, setup.shardings)
    data_iter.restore(data_state)
    log.info("resumed from step %d", latest)
    return state


def run(cfg, resume: bool = False, devices=None,
        on_step: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train for cfg.steps steps (forever when 0).

    Args:
      cfg: the Config.
      resume: continue from the latest checkpoint in cfg.checkpoint_dir.
      devices: devices for the mesh (default: all).
      on_step: called with (step, metrics) once each step's metrics are fetched.

    Returns:
      Per-step metric dicts in step order (the last 1000 when running forever).
    """
    mesh = sharding.make_mesh(cfg.mesh_shape, devices)
    setup = step.build(cfg, mesh)
    counts = metrics.ParamCounts(
        metrics.count_params(setup.abstract_state.params),
        metrics.active_from_total(cfg, metrics.count_params(setup.abstract_state.params)))
    print(f"trainer: {counts.total:,} params ({counts.active:,} active) | mesh "
          f"{dict(mesh.shape)} on {mesh.devices.size} x {jax.devices()[0].device_kind} | "
          f"gmm {cfg.gmm_impl}", flush=True)
    agent = start_agent(cfg)
    peak = PeakFlops(agent)
    data_iter = data.make(cfg)
    ckpt = (checkpoint.Checkpointer(cfg.checkpoint_dir, cfg.checkpoint_every,
                                    cfg.keep_checkpoints) if cfg.checkpoint_dir else None)
    history: collections.deque | list = collections.deque(maxlen=1000) if cfg.steps == 0 else []
    metrics_file = open(cfg.metrics_file, "a") if cfg.metrics_file else None
    latest = None  # (step, state, data position) of the last dispatched step
    trace = StepTrace(cfg)
    try:
        state = restore_or_init(setup, ckpt, data_iter, resume)
        s = int(state.step)
        pending: tuple[int, dict, float] | None = None
        last_done = 0.0

        def report(item):
            nonlocal last_done
            done_step, device_metrics, t_start = item
            raw = jax.device_get(device_metrics)  # blocks until that step is done
            now = time.perf_counter()
            step_s = now - max(t_start, last_done)
            m = metrics.step_summary(cfg, raw, step_s, mesh.devices.size, peak())
            last_done = now
            m["step"] = done_step
            history.append(m)
            if done_step % cfg.log_every == 0:
                print(metrics.format_line(done_step, m), flush=True)
            if metrics_file:
                metrics_file.write(json.dumps(m) + "\n")
                metrics_file.flush()
            if on_step:
                on_step(done_step, m)

        # The job's own FLOPs of a step on this process's devices, on each step annotation:
        # profilers report MFU from them (the HLO counts padded kernel tiles too).
        model_flops = metrics.train_flops_per_step(cfg) / jax.process_count()
        while cfg.steps == 0 or s < cfg.steps:
            s += 1
            if trace.ends_before(s) and pending:  # the last traced step must finish first
                report(pending)
                pending = None
            trace.before(s)
            t_start = time.perf_counter()
            # The batch is part of the step: an input-bound step shows as such.
            with jax.profiler.StepTraceAnnotation("train", step_num=s, model_flops=model_flops):
                batch = setup.put_batch(next(data_iter))
                state, device_metrics = setup.train_step(state, batch)
                if cfg.block_steps:  # a synchronous loop: the step ends when it is done
                    jax.block_until_ready((state, device_metrics))
            latest = (s, state, data_iter.state())  # a consistent triple to checkpoint
            if pending:
                report(pending)
            pending = (s, device_metrics, t_start)
            if ckpt:  # after logging s - 1, so only step s's time includes the save
                ckpt.maybe_save(*latest)
            if cfg.sleep_ms or cfg.block_steps:  # the host waits anyway: log it now
                report(pending)
                pending = None
            if cfg.sleep_ms:
                time.sleep(cfg.sleep_ms / 1000)
        if pending:
            report(pending)
    except KeyboardInterrupt:
        print("trainer: interrupted", flush=True)
    finally:
        trace.stop()
        if ckpt:
            if latest is not None:  # the final (or interrupted) state, off-interval too
                try:
                    ckpt.maybe_save(*latest, force=True)
                except Exception as exc:  # e.g. interrupted mid-dispatch: buffers donated
                    log.warning("final checkpoint of step %d skipped: %s", latest[0], exc)
            ckpt.wait()
            ckpt.close()
        if metrics_file:
            metrics_file.close()
    return list(history)
