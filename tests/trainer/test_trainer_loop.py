"""loop.py: learning, instrumentation (agent, step annotations, named scopes), logging."""

import contextlib
import dataclasses
import json
import re
import sys
import time
import types

import jax
import pytest

from trainer import config, data, loop, sharding, step

ONE_DEVICE = dict(mesh_data=1, mesh_fsdp=1, mesh_expert=1)
STEPS = 30


@pytest.fixture(scope="module")
def instrumented(tmp_path_factory):
    """One 30-step run with a fake xdiag agent and recorded step annotations."""
    calls, annotations = {}, []

    def fake_start(**kwargs):
        calls.update(kwargs)
        return types.SimpleNamespace(peaks={"matmul_gflops": 100.0, "memcpy_gbps": 10.0})

    @contextlib.contextmanager
    def record(name, **kwargs):
        annotations.append((name, kwargs))
        yield

    fake_agent = types.ModuleType("xdiag.agent")
    fake_agent.start = fake_start
    path = tmp_path_factory.mktemp("metrics") / "m.jsonl"
    cfg = config.make("tiny", steps=STEPS, job="unit-job", profiler_port=0,
                      xdiag_server="http://x:1", metrics_file=str(path), **ONE_DEVICE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "xdiag.agent", fake_agent)
        mp.setattr(sys.modules["xdiag"], "agent", fake_agent, raising=False)
        mp.setattr(loop.jax.profiler, "StepTraceAnnotation", record)
        history = loop.run(cfg, devices=jax.devices()[:1])
    return history, calls, annotations, path


def test_loss_goes_down(instrumented):
    history, *_ = instrumented
    losses = [m["loss"] for m in history]
    assert len(losses) == STEPS
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.3, (first, last)


def test_agent_started_from_config_and_used_for_mfu(instrumented):
    history, calls, _, _ = instrumented
    assert calls == {"server": "http://x:1", "job": "unit-job", "port": 0}
    peak = 100e9 / jax.local_device_count()
    for m in history:
        assert m["mfu"] == pytest.approx(m["tflops_per_s_per_device"] * 1e12 / peak)


def test_every_step_is_annotated(instrumented):
    """Each step is annotated with its number and the model FLOPs of this process's share
    of it: what a profiler's MFU should use (the metrics file's MFU uses them too)."""
    history, _, annotations, _ = instrumented
    assert [(name, kw["step_num"]) for name, kw in annotations] == \
        [("train", s) for s in range(1, STEPS + 1)]
    flops = {kw["model_flops"] for _, kw in annotations}
    assert len(flops) == 1
    per_device = history[0]["tflops_per_device"] * 1e12
    assert flops.pop() == pytest.approx(per_device * jax.device_count() / jax.process_count())


def test_metrics_file_has_one_line_per_step(instrumented):
    *_, path = instrumented
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, STEPS + 1))
    assert {"loss", "lb_loss", "tokens_per_s", "step_s", "tflops_per_device", "mfu"} <= set(
        lines[0])


def test_sleep_is_not_counted_as_step_time(instrumented, monkeypatch):
    """A step's time is its own work, not the pause between steps: at least what a
    stopwatch around the step's device work measures, at most that plus its batch, and
    the loop's wall time does hold the pauses."""
    stopwatch: list[float] = []
    build = step.build

    def timed_build(*args, **kwargs):
        setup = build(*args, **kwargs)
        train_step = setup.train_step

        def timed(state, batch):
            t = time.perf_counter()
            out = jax.block_until_ready(train_step(state, batch))
            stopwatch.append(time.perf_counter() - t)
            return out

        return dataclasses.replace(setup, train_step=timed)

    monkeypatch.setattr(step, "build", timed_build)
    cfg = config.make("tiny", steps=3, sleep_ms=300, **ONE_DEVICE)  # same compiled step
    t = time.perf_counter()
    history = loop.run(cfg, devices=jax.devices()[:1])
    wall = time.perf_counter() - t
    assert wall >= 3 * 0.3
    for m, work in zip(history[1:], stopwatch[1:], strict=True):  # step 1 compiles
        assert work <= m["step_s"] < work + 0.15, (m["step_s"], work)


def test_moe_named_scopes_reach_the_lowered_program():
    cfg = config.make("tiny", **ONE_DEVICE)
    setup = step.build(cfg, sharding.make_mesh(cfg.mesh_shape, jax.devices()[:1]))
    batch = setup.put_batch(next(data.make(cfg)))
    text = setup.train_step.lower(setup.abstract_state, batch).as_text(debug_info=True)
    for scope in ("router", "dispatch", "experts", "combine"):
        assert re.search(rf"[/(]{scope}[)/]", text), scope


def test_trace_flags_write_a_profile_of_exactly_those_steps(tmp_path):
    """--trace-dir: a jax.profiler log dir holding the traced steps' annotations, no others."""
    from jax.profiler import ProfileData

    cfg = config.make("tiny", steps=5, trace_dir=str(tmp_path / "tr"), trace_first_step=2,
                      trace_num_steps=2, **ONE_DEVICE)
    loop.run(cfg)
    [path] = list((tmp_path / "tr").glob("plugins/profile/*/*.xplane.pb"))
    steps = set()
    for plane in ProfileData.from_file(str(path)).planes:
        for line in plane.lines:
            for event in line.events:
                if event.name == "train":
                    steps.add(dict(event.stats).get("step_num"))
    assert steps == {2, 3}
