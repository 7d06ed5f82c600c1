"""Whatever an upload's validation accepts, ingest analyses (issue 16, item 4).

A bounded, deterministic, structure-aware fuzz: the real CPU fixture parsed with our
schema subset (xplane.proto), one to four mutations of its structure (times, ids,
stat types, metadata, plane names, HLO bytes), serialized, uploaded. Every file must
either be refused with a message a user can read (what is wrong, where; no Python
exception text) and leave nothing behind, or ingest to `ready` with its timeline and
event details answering.

Before validation checked times, stat types and HLO modules, 29 of 300 files mutated
with these operators (random seed 1) were accepted and then failed ingest: 12 spans too
long for the index, 4 OverflowError ("int too big to convert"), 3 TypeError ("int()
argument must be ... not 'NoneType'"), 10 malformed HLO modules.
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import SMALL

from xdiag.core.config import Settings
from xdiag.core.errors import XdiagError
from xdiag.pipeline import admit
from xdiag.server.services import Services
from xdiag.serving.events import details as event_details
from xdiag.store import layout
from xdiag.xplane.xplane_pb2 import XSpace

EXTREMES = [0, -1, 1, -10**12, 2**31, 2**32, 2**53 + 1, 2**62, 2**63 - 1, -2**63, 999_999]
STATS = ["hlo_op", "hlo_module", "program_id", "device_ordinal", "step_num", "correlation_id",
         "peak_teraflops_per_second", "memory_bandwidth", "gpu_device_name", "Hlo Proto"]
# Python's own words for its exceptions: never in what a user is told.
PYTHON_TEXT = re.compile(r"Traceback|\b[A-Z]\w*(Error|Exception)\b|NoneType|object of type|"
                         r"argument must be|too big to convert|index \d+ is out of bounds")


def _events(space: XSpace) -> list:
    return [e for p in space.planes for line in p.lines for e in line.events]


def _stat_id(plane, name: str) -> int:
    for k, m in plane.stat_metadata.items():
        if m.name == name:
            return k
    k = max([0, *plane.stat_metadata.keys()]) + 1
    plane.stat_metadata[k].id, plane.stat_metadata[k].name = k, name
    return k


def _set_value(stat, rng: random.Random, extreme: int, plane) -> None:
    kind = rng.randrange(6)
    if kind == 0:
        stat.double_value = rng.choice([float("nan"), float("inf"), -1.0, 0.5, 1e308])
    elif kind == 1:
        stat.uint64_value = rng.choice([0, 2**63, 2**64 - 1])
    elif kind == 2:
        stat.int64_value = extreme
    elif kind == 3:
        stat.str_value = rng.choice(["", "x", "1.5", "\u00e9\u4e2d", "a" * 3000])
    elif kind == 4:
        stat.bytes_value = rng.choice([b"", b"\xff\xfe", b"1.5"])
    else:
        stat.ref_value = rng.choice([*plane.stat_metadata.keys(), 0, 999_999, 2**64 - 1])


def mutate(space: XSpace, op: int, rng: random.Random, extreme: int) -> None:
    """One structural mutation; `op` picks its kind, `rng` its target."""
    plane = rng.choice(space.planes)
    events, lines = _events(space), [li for p in space.planes for li in p.lines]
    if op == 0 and events:
        rng.choice(events).offset_ps = extreme
    elif op == 1 and events:
        rng.choice(events).duration_ps = extreme
    elif op == 2 and lines:
        rng.choice(lines).timestamp_ns = extreme
    elif op == 3 and events:
        rng.choice(events).metadata_id = extreme
    elif op == 4:
        owner = next((p for p in space.planes if p.lines), plane)
        evs = [e for li in owner.lines for e in li.events]
        if evs:
            ev = rng.choice(evs)
            stat = ev.stats.add() if not ev.stats or rng.random() < 0.5 else rng.choice(ev.stats)
            stat.metadata_id = _stat_id(owner, rng.choice(STATS))
            _set_value(stat, rng, extreme, owner)
    elif op == 5 and events:
        ev = rng.choice(events)
        if ev.stats:
            rng.choice(ev.stats).metadata_id = extreme
    elif op == 6 and events:
        rng.choice(events).num_occurrences = extreme
    elif op == 7 and plane.event_metadata:
        del plane.event_metadata[rng.choice(list(plane.event_metadata))]
    elif op == 8 and plane.stat_metadata:
        del plane.stat_metadata[rng.choice(list(plane.stat_metadata))]
    elif op == 9:
        plane.name = rng.choice(["/device:GPU:0", "/host:CPU", "/device:TPU:0", "",
                                 "/host:metadata"])
    elif op == 10:
        stat = plane.stats.add()
        stat.metadata_id = _stat_id(plane, rng.choice(STATS))
        _set_value(stat, rng, extreme, plane)
    elif op == 11:
        protos = [s for p in space.planes for m in p.event_metadata.values() for s in m.stats
                  if s.WhichOneof("value") == "bytes_value" and s.bytes_value]
        if protos:
            stat = rng.choice(protos)
            data = bytearray(stat.bytes_value)
            if rng.random() < 0.5:
                data = data[:rng.randrange(len(data))]
            else:
                for _ in range(rng.randint(1, 8)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            stat.bytes_value = bytes(data)
    elif op == 12 and plane.event_metadata:
        meta = plane.event_metadata[rng.choice(list(plane.event_metadata))]
        if rng.random() < 0.5:
            meta.id = extreme
        else:
            meta.name = rng.choice(["", "x" * 5000, "\x00", "a.b"])
    elif op == 13 and plane.lines:
        plane.lines.add().CopyFrom(rng.choice(plane.lines))
    elif op == 14:
        copy = space.planes.add()
        copy.CopyFrom(rng.choice(space.planes[:-1]))
        copy.id = extreme
    elif op == 15 and plane.lines:
        rng.choice(plane.lines).id = extreme


N_OPS = 16
MUTATIONS = st.lists(st.tuples(st.integers(0, N_OPS - 1), st.integers(0, 2**31),
                               st.sampled_from(EXTREMES)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Services:
    # The store's fsyncs are most of an example's time: on a RAM disk where there is one.
    shm = Path("/dev/shm")
    base = Path(tmp_path_factory.mktemp("fuzz")) if not shm.is_dir() else \
        Path(__import__("tempfile").mkdtemp(prefix="xdiag-fuzz-", dir=shm))
    svc = Services(Settings(store=str(base / "store"), ingest_inline=True))
    svc.host_peaks.get()
    yield svc
    import shutil

    shutil.rmtree(base, ignore_errors=True)


_names = itertools.count()


def check_outcome(svc: Services, data: bytes, tmp: Path) -> str:
    """Upload `data`; assert it is refused readably and leaves nothing, or is `ready`."""
    session = f"f{next(_names)}"
    path = tmp / f"{session}.xplane.pb"
    path.write_bytes(data)
    try:
        try:
            rec = svc.admission.store_session(run="fuzz", session=session,
                                       files=[admit.HostFile("h", path)], source="upload")
        except XdiagError as exc:
            assert exc.status == 400, exc.detail
            assert not PYTHON_TEXT.search(exc.detail), exc.detail
            assert svc.store.list(layout.session_prefix("fuzz", session)) == []
            assert not svc.profiles.exists(f"fuzz~{session}")
            return "refused"
        out = svc.ingest.run(rec["id"], inline=True)
        assert out["status"] == "ready", out["error"]
        data_view = svc.views.get(out)
        data_view.timeline(0, max(1, data_view.end_ns), 500)
        if data_view.hosts[0].index.num_events:
            event_details(svc.views.get(out), int(data_view.hosts[0].index.ev_src[0]))
        svc.profiles.delete(rec["id"])
        return "ready"
    finally:
        path.unlink()


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=MUTATIONS)
def test_every_accepted_upload_ingests(service: Services, tmp_path: Path, mutations) -> None:
    space = XSpace()
    space.ParseFromString(SMALL.read_bytes())
    for op, seed, extreme in mutations:
        mutate(space, op, random.Random(seed), extreme)
    check_outcome(service, space.SerializeToString(), tmp_path)


def _space() -> XSpace:
    space = XSpace()
    space.ParseFromString(SMALL.read_bytes())
    return space


def _cpu(space: XSpace):
    return next(p for p in space.planes if p.name == "/host:CPU")


def _first_stat(space: XSpace, name: str):
    plane = _cpu(space)
    sid = _stat_id(plane, name)
    return next(s for li in plane.lines for e in li.events for s in e.stats
                if s.metadata_id == sid)


def _negative_duration(s):
    _events(s)[5].duration_ps = -1000


def _negative_time(s):
    for line in _cpu(s).lines:
        line.timestamp_ns = -10**12


def _two_days(s):
    _events(s)[3].offset_ps = 2 * 86400 * 10**12


def _step_none(s):
    _first_stat(s, "step_num").ClearField("int64_value")


def _step_text(s):
    _first_stat(s, "step_num").str_value = "forty-two"


def _step_huge(s):
    _first_stat(s, "step_num").uint64_value = 2**64 - 1


def _program_text(s):
    _first_stat(s, "program_id").str_value = "10"


def _op_number(s):
    _first_stat(s, "hlo_op").int64_value = 7


def _hlo_cut(s):
    meta = next(p for p in s.planes if p.name == "/host:metadata")
    stat = next(st for m in meta.event_metadata.values() for st in m.stats
                if st.WhichOneof("value") == "bytes_value")
    stat.bytes_value = stat.bytes_value[:3]


@pytest.mark.parametrize("damage,message", [
    (_negative_duration, "negative duration"),
    (_negative_time, "before the trace's time origin"),
    (_two_days, "at most 19.5 h"),
    (_step_none, "'step_num' holds no value"),
    (_step_text, "'step_num' holds the string 'forty-two'"),
    (_step_huge, "'step_num' holds the value 18446744073709551615"),
    (_program_text, "'program_id' holds the string '10'"),
    (_op_number, "'hlo_op' holds the value 7"),
    (_hlo_cut, "is malformed"),
])
def test_what_ingest_cannot_analyse_is_refused_saying_why(service, tmp_path, damage,
                                                          message) -> None:
    space = _space()
    damage(space)
    path = tmp_path / "h.xplane.pb"
    path.write_bytes(space.SerializeToString())
    with pytest.raises(XdiagError) as caught:
        service.admission.store_session(run="fuzz", session="damaged",
                             files=[admit.HostFile("h", path)], source="upload")
    assert caught.value.status == 400 and message in caught.value.detail, caught.value.detail
    assert caught.value.detail.startswith("h.xplane.pb: ")
    assert service.store.list(layout.session_prefix("fuzz", "damaged")) == []


def test_hosts_too_far_apart_for_one_session_are_refused(service, tmp_path) -> None:
    late = _space()
    for line in (li for p in late.planes for li in p.lines):
        line.timestamp_ns += 30 * 3600 * 10**9
    (tmp_path / "late.xplane.pb").write_bytes(late.SerializeToString())
    with pytest.raises(XdiagError) as caught:
        service.admission.store_session(run="fuzz", session="apart",
                             files=[admit.HostFile("a", SMALL),
                                    admit.HostFile("b", tmp_path / "late.xplane.pb")],
                             source="upload")
    assert "30.0 h apart" in caught.value.detail, caught.value.detail
    assert service.store.list(layout.session_prefix("fuzz", "apart")) == []


def test_a_profile_without_step_annotations_ingests(service, tmp_path) -> None:
    space = _space()
    cpu = _cpu(space)
    del cpu.stat_metadata[_stat_id(cpu, "step_num")]
    assert check_outcome(service, space.SerializeToString(), tmp_path) == "ready"
