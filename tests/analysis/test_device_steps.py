"""Steps as the device ran them (analysis/device_steps.py), worked by hand: pipelined
runs, a pause between steps, a run the capture cut off, work dispatched outside any step,
and a TPU-like profile whose device writes its own step line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xdiag.analysis import device_steps as ds

MS = 1_000_000


def _items(runs: list[tuple[int, int, int | None, bool]]) -> dict[str, np.ndarray]:
    """(start, end, step, finished) per run."""
    return {"item": np.arange(len(runs)), "start": np.array([r[0] for r in runs]),
            "end": np.array([r[1] for r in runs]),
            "step": np.array([-1 if r[2] is None else r[2] for r in runs]),
            "done": np.array([1 if r[3] else 0 for r in runs])}


def test_pipelined_steps_tile_the_device_and_a_pause_belongs_to_no_step() -> None:
    # Annotations (host dispatch): 10 ms each. Step 0's run takes 0.5..100 ms; step 1 is
    # dispatched at 20 ms but can only start when step 0's run ends; step 2 comes after a
    # 50 ms pause (a sleep on the host) and its annotation starts at 200 ms.
    a = np.array([0, 20, 200]) * MS
    b = np.array([10, 30, 210]) * MS
    items = _items([(MS // 2, 100 * MS, 0, True), (100 * MS, 180 * MS, 1, True),
                    (201 * MS, 260 * MS, 2, True)])
    w = ds.windows(items, a, b, capture_end=400 * MS)
    assert w["start_ns"].tolist() == [0, 100 * MS, 200 * MS]
    assert w["end_ns"].tolist() == [100 * MS, 180 * MS, 260 * MS]
    assert w["complete"].all()


def test_prior_work_outside_any_step_delays_the_start() -> None:
    # A run dispatched before the capture (no step) still holds the device until 15 ms.
    a, b = np.array([5 * MS]), np.array([8 * MS])
    items = _items([(0, 15 * MS, None, True), (15 * MS, 40 * MS, 0, True)])
    w = ds.windows(items, a, b, capture_end=100 * MS)
    assert (w["start_ns"][0], w["end_ns"][0]) == (15 * MS, 40 * MS)


def test_a_blocking_step_is_its_annotation() -> None:
    a, b = np.array([0]), np.array([50 * MS])
    items = _items([(2 * MS, 45 * MS, 0, True)])
    w = ds.windows(items, a, b, capture_end=100 * MS)
    assert (w["start_ns"][0], w["end_ns"][0]) == (0, 50 * MS)


def test_a_run_the_capture_cut_off_makes_its_step_incomplete() -> None:
    a, b = np.array([0, 20 * MS]), np.array([10 * MS, 30 * MS])
    items = _items([(MS, 19 * MS, 0, True), (21 * MS, 60 * MS, 1, False)])
    assert ds.windows(items, a, b, capture_end=60 * MS)["complete"].tolist() == [True, False]


def test_without_completion_markers_the_last_step_at_the_capture_end_is_incomplete() -> None:
    a, b = np.array([0, 20 * MS]), np.array([10 * MS, 30 * MS])
    items = _items([(MS, 19 * MS, 0, True), (21 * MS, 60 * MS, 1, True)])
    items["done"][:] = -1
    assert ds.windows(items, a, b, capture_end=60 * MS)["complete"].tolist() == [True, False]
    assert ds.windows(items, a, b, capture_end=90 * MS)["complete"].tolist() == [True, True]


def test_runs_tie_to_the_annotation_holding_their_dispatch() -> None:
    # Two annotations; run 7 dispatched inside the first but running during the second,
    # run 8 dispatched inside the second, run 9 dispatched outside any (belongs to none).
    a, b = np.array([0, 20]) * MS, np.array([10, 30]) * MS
    op_run = np.array([7, 7, 8, 9])
    op_s = np.array([22, 25, 31, 40]) * MS
    op_e = op_s + MS
    host_run = np.array([7, 8, 9, 7])
    host_s = np.array([5, 21, 35, 23]) * MS  # the 4th: run 7's completion marker
    host_e = np.array([6, 22, 36, 26]) * MS
    got = ds.cpu_items(op_run, np.ones(4, bool), op_s, op_e, host_run, host_s, host_e, a, b)
    run_step = dict(zip([7, 8, 9], got["step"].tolist(), strict=True))
    assert run_step == {7: 0, 8: 1, 9: -1}
    assert got["done"].tolist() == [1, 0, 0]  # only run 7 has a host event past its end


def test_queued_runs_whose_launch_went_unrecorded_pair_with_their_steps() -> None:
    # XLA:CPU, one device, each step launching a program and then awaiting the previous
    # step's result (the planted control capture's timings, ms): a program queued behind
    # another is run by the runtime's thread, which records only a "wait for completion"
    # marker of it, after its first op. Taking that marker for the dispatch put run 101
    # in step 0 (whose annotation its marker ends inside) and every later run a step
    # late; a run cut off at the capture's end has no marker at all.
    a = np.array([0.0, 281.0, 506.1, 580.2, 601.7]) * MS
    b = np.array([280.8, 506.0, 579.3, 601.5, 851.5]) * MS
    runs = {100: (-20.3, 269.1, 269.1), 101: (269.2, 494.7, 280.5), 102: (504.3, 578.4, 578.4),
            103: (580.5, 601.5, 601.5), 104: (601.9, 831.2, 607.0), 105: (831.2, 894.1, None)}
    op_run = np.array(list(runs))
    op_s = (np.array([r[0] for r in runs.values()]) * MS).astype(np.int64)
    op_e = (np.array([r[1] for r in runs.values()]) * MS).astype(np.int64)
    marked = [k for k, r in runs.items() if r[2] is not None]
    host_run = np.array(marked)
    host_s = (np.array([runs[k][2] for k in marked]) * MS).astype(np.int64)
    host_e = np.maximum(host_s, op_e[:len(marked)])
    got = ds.cpu_items(op_run, np.ones(len(runs), bool), op_s, op_e, host_run, host_s,
                       host_e, a.astype(np.int64), b.astype(np.int64))
    assert dict(zip(runs, got["step"].tolist(), strict=True)) == {
        100: -1, 101: 0, 102: 1, 103: 2, 104: 3, 105: 4}
    w = ds.windows(got, a.astype(np.int64), b.astype(np.int64), capture_end=int(894.1 * MS))
    dur_ms = ((w["end_ns"] - w["start_ns"]) / MS).round(1).tolist()
    assert dur_ms[:4] == [225.6, 83.7, 23.1, 229.7]  # run 100 ends at 269.1: step 0 waits
    assert w["complete"].tolist() == [True, True, True, True, False]


def test_an_ambiguous_queue_keeps_the_markers_placement() -> None:
    # Two queued runs, three steps that launched none: no unambiguous pairing, so each
    # run stays where its marker puts it (as before), never guessed.
    a, b = np.array([0, 20, 40]) * MS, np.array([10, 30, 50]) * MS
    op_run, op_s = np.array([1, 2]), np.array([5, 26]) * MS
    op_e = op_s + 3 * MS
    host_run, host_s = np.array([1, 2]), np.array([7, 28]) * MS
    got = ds.cpu_items(op_run, np.ones(2, bool), op_s, op_e, host_run, host_s, host_s, a, b)
    assert got["step"].tolist() == [0, 1]


def test_no_annotations_means_no_steps() -> None:
    assert ds.annotation_at(np.zeros(0, np.int64), np.zeros(0, np.int64),
                            np.array([1, 2]), True).tolist() == [-1, -1]


def _tpu_profile(path: Path) -> None:
    """A TPU-like XSpace: a device plane with its own 'Steps' line (events named by step
    number) over an 'XLA Ops' line, and host annotations far shorter than the steps."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace()
    dev = space.planes.add(id=1, name="/device:TPU:0")
    names = {1: "7", 2: "8", 3: "fusion.1", 4: "fusion.2"}
    for i, n in names.items():
        dev.event_metadata[i].id, dev.event_metadata[i].name = i, n
    steps = dev.lines.add(id=1, name="Steps", timestamp_ns=1000)
    ops = dev.lines.add(id=2, name="XLA Ops", timestamp_ns=1000)
    for md, off, dur in ((1, 1_000_000, 40_000_000), (2, 41_000_000, 38_000_000)):
        steps.events.add(metadata_id=md, offset_ps=off * 1000, duration_ps=dur * 1000)
    for off in (2, 21, 42, 60):
        ops.events.add(metadata_id=3 if off < 40 else 4, offset_ps=off * MS * 1000,
                       duration_ps=15 * MS * 1000)
    host = space.planes.add(id=2, name="/host:CPU")
    host.event_metadata[1].id, host.event_metadata[1].name = 1, "train"
    host.stat_metadata[1].id, host.stat_metadata[1].name = 1, "step_num"
    py = host.lines.add(id=1, name="python", timestamp_ns=1000)
    for step, off in ((7, 0), (8, 30)):
        ev = py.events.add(metadata_id=1, offset_ps=off * MS * 1000, duration_ps=3 * MS * 1000)
        ev.stats.add(metadata_id=1, int64_value=step)
    path.write_bytes(space.SerializeToString())


def test_a_device_step_line_is_the_truth(tmp_path: Path) -> None:
    from xdiag.core.config import Settings
    from xdiag.pipeline import admit
    from xdiag.server.services import Services

    path = tmp_path / "tpu.xplane.pb"
    _tpu_profile(path)
    svc = Services(Settings(store=str(tmp_path / "store"), ingest_inline=True))
    rec = svc.admission.store_session(run="tpu", session="s",
                               files=[admit.HostFile("h0", path)], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    steps = svc.views.get(rec).analysis("steps")["steps"]
    assert [s["step"] for s in steps] == [7, 8]
    t0 = min(s["host_start_ns"] for s in steps)
    assert [(s["start_ns"] - t0, s["dur_ns"]) for s in steps] == [(MS, 40 * MS), (41 * MS, 38 * MS)]
    assert [s["host_dur_ns"] for s in steps] == [3 * MS, 3 * MS]
    assert steps[0]["compute_ns"] == 30 * MS and steps[1]["compute_ns"] == 30 * MS
