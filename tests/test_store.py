"""One contract, both backends: every test runs on the local store and on real fake-gcs-server."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import tempfile
from pathlib import Path

import pytest

from xdiag.core.errors import BadRequest, NotFound, PreconditionFailed
from xdiag.store import ObjectStore, layout, open_store


def test_write_read_roundtrip(store: ObjectStore) -> None:
    gen = store.write("a/b/c.bin", b"\x00\x01payload")
    assert store.read("a/b/c.bin") == b"\x00\x01payload"
    data, gen2 = store.read_versioned("a/b/c.bin")
    assert data == b"\x00\x01payload" and gen2 == gen and gen > 0
    assert store.size("a/b/c.bin") == 9
    assert store.exists("a/b/c.bin")


def test_missing_key_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        store.read("nope/x")
    assert store.size("nope/x") is None
    assert not store.exists("nope/x")
    assert store.delete("nope/x") is False


def test_overwrite_changes_generation(store: ObjectStore) -> None:
    g1 = store.write("k", b"1")
    g2 = store.write("k", b"2")
    assert g2 != g1
    assert store.read("k") == b"2"


def test_precondition_create_only(store: ObjectStore) -> None:
    store.write("once", b"first", if_generation=0)
    with pytest.raises(PreconditionFailed):
        store.write("once", b"second", if_generation=0)
    assert store.read("once") == b"first"


def test_precondition_matching_generation(store: ObjectStore) -> None:
    gen = store.write("cas", b"v1")
    gen2 = store.write("cas", b"v2", if_generation=gen)
    with pytest.raises(PreconditionFailed):
        store.write("cas", b"stale", if_generation=gen)
    assert store.read_versioned("cas") == (b"v2", gen2)


def test_update_json_concurrent_writers_lose_nothing(store: ObjectStore) -> None:
    def add(i: int) -> None:
        store.update_json("counter.json", lambda cur: sorted({*(cur or []), i}), default=[])

    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(24)))
    assert store.read_json("counter.json") == list(range(24))


def test_list_prefix_is_recursive_sorted_and_scoped(store: ObjectStore) -> None:
    for key in ("r/plugins/profile/s1/h1.xplane.pb", "r/plugins/profile/s1/h2.xplane.pb",
                "r/plugins/profile/s2/h1.xplane.pb", "other/x", "r2/y"):
        store.write(key, b"x")
    assert store.list("r/plugins/profile/s1/") == [
        "r/plugins/profile/s1/h1.xplane.pb", "r/plugins/profile/s1/h2.xplane.pb"]
    assert store.list("r/") == [
        "r/plugins/profile/s1/h1.xplane.pb", "r/plugins/profile/s1/h2.xplane.pb",
        "r/plugins/profile/s2/h1.xplane.pb"]
    assert store.list("r") == [*store.list("r/"), "r2/y"]
    assert store.list("missing/") == []


def test_delete_and_delete_prefix(store: ObjectStore) -> None:
    store.write("d/1", b"x")
    store.write("d/2", b"x")
    store.write("e/1", b"x")
    assert store.delete("d/1") is True
    assert store.list("d/") == ["d/2"]
    assert store.delete_prefix("d/") == 1
    assert store.list("d/") == [] and store.list("e/") == ["e/1"]


def test_large_file_roundtrip_streams(store: ObjectStore, tmp_path: Path) -> None:
    # Above the GCS resumable threshold, so the resumable path is exercised.
    from xdiag.store.gcs import RESUMABLE_THRESHOLD

    src = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with open(src, "wb") as fh:
        for _ in range(RESUMABLE_THRESHOLD // len(block) + 3):
            fh.write(block)
    store.write_file("big/obj.bin", src)
    assert store.size("big/obj.bin") == src.stat().st_size
    dst = tmp_path / "back.bin"
    store.download_to("big/obj.bin", dst)
    assert dst.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a/../b", ""])
def test_bad_keys_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(BadRequest):
        store.write(key, b"x")


def test_json_helpers(store: ObjectStore) -> None:
    store.write_json("j.json", {"b": 1, "a": [1, 2]})
    assert store.read_json("j.json") == {"a": [1, 2], "b": 1}
    assert dict(store.iter_json("j")) == {"j.json": {"a": [1, 2], "b": 1}}


def test_raw_layout_is_what_stock_xprof_reads() -> None:
    assert layout.raw_key("run1", "2026_01_01_00_00_00", "host_9012") == (
        "run1/plugins/profile/2026_01_01_00_00_00/host_9012.xplane.pb")


def test_open_store_urls(tmp_path: Path, gcs_url: str) -> None:
    local = open_store(f"file://{tmp_path}/s")
    assert local.url == str(tmp_path / "s")
    assert open_store(tmp_path / "t").url == str(tmp_path / "t")
    gcs = open_store(gcs_url)
    assert gcs.url == gcs_url
    gcs.write("k", b"v")
    assert open_store(gcs_url).read("k") == b"v"


def test_local_writes_are_atomic(tmp_path: Path) -> None:
    """A reader never sees a write half done, and a write that fails half-way leaves the
    old object whole: each write goes to a temporary file renamed into place. (A plain
    `open(path, "wb").write(...)` fails both checks: readers see empty and cut files.)"""
    import threading

    store = open_store(tmp_path / "s")
    store.write("x.json", json.dumps({"v": 1}).encode())
    size = 8 << 20
    store.write("big", b"a" * size)
    seen: set[tuple[int, bytes]] = set()
    done = threading.Event()

    def read_while_written() -> None:
        while not done.is_set():
            data = store.read("big")
            seen.add((len(data), data[:1] + data[-1:]))

    reader = threading.Thread(target=read_while_written)
    reader.start()
    try:
        for i in range(40):
            store.write("big", (b"b" if i % 2 == 0 else b"a") * size)
    finally:
        done.set()
        reader.join()
    assert seen <= {(size, b"aa"), (size, b"bb")}, sorted(seen)[:5]
    # A write that fails after part of it is written (a buffer the writer cannot take).
    with pytest.raises(TypeError):
        store.write_parts("x.json", [b'{"v": 2', 12345])  # type: ignore[list-item]
    assert json.loads(store.read("x.json")) == {"v": 1}
    leftovers = [p for p in (tmp_path / "s").rglob("*") if ".xdiag-tmp-" in p.name]
    assert leftovers == []


def test_generation_without_reading(store: ObjectStore) -> None:
    assert store.generation("gen/none") == 0
    gen = store.write("gen/x", b"v1")
    assert store.generation("gen/x") == gen == store.read_versioned("gen/x")[1]
    gen2 = store.write("gen/x", b"v2")
    assert store.generation("gen/x") == gen2 != gen


def test_write_parts_equals_joined_write(store: ObjectStore) -> None:
    import numpy as np

    arr = np.arange(100_000, dtype=np.int64)
    parts = [b"head", memoryview(arr).cast("B"), b"", b"tail"]
    store.write_parts("parts/x", parts)
    assert store.read("parts/x") == b"head" + arr.tobytes() + b"tail"


@pytest.mark.parametrize("owned", [False, True])
def test_staged_files_are_invisible_until_commit_and_gone_on_abort(
        store: ObjectStore, tmp_path: Path, owned: bool) -> None:
    src = tmp_path / "trace.xplane.pb"
    src.write_bytes(b"x" * 100_000)
    staged = store.stage_file("stage/a.pb", src, owned=owned)
    assert store.size("stage/a.pb") is None
    staged.commit()
    assert store.read("stage/a.pb") == src.read_bytes()
    store.stage_file("stage/b.pb", src, owned=owned).abort()
    assert store.size("stage/b.pb") is None and src.exists()


def test_local_store_takes_over_an_owned_file_without_copying(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    src = tmp_path / "capture.xplane.pb"
    src.write_bytes(b"trace" * 1000)
    store.stage_file("raw/owned.pb", src, owned=True).commit()
    kept = store.local_path("raw/owned.pb")
    assert kept is not None and os.path.samefile(kept, src)  # one inode: nothing copied
    src.unlink()  # the caller's temporary name goes; the object stays
    assert store.read("raw/owned.pb") == b"trace" * 1000
    store.stage_file("raw/user.pb", kept).commit()  # not owned: a copy
    assert not os.path.samefile(store.local_path("raw/user.pb"), kept)


def test_owned_file_on_another_filesystem_is_copied(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.fail("needs /dev/shm on a filesystem of its own (tmpfs), as on Linux")
    store = open_store(tmp_path / "s")
    with tempfile.NamedTemporaryFile(dir=shm) as fh:
        fh.write(b"far" * 1000)
        fh.flush()
        store.stage_file("raw/far.pb", Path(fh.name), owned=True).commit()
        assert store.read("raw/far.pb") == b"far" * 1000
        assert os.stat(store.local_path("raw/far.pb")).st_dev == os.stat(tmp_path).st_dev
