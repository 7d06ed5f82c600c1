"""Local copies of derived view files from a remote store (GCS), to memory-map.

A copy is named by a hash of (store, key, generation): a view rebuilt under the
same key (a profile deleted and uploaded again) is a new generation, so a new file,
never the old copy. Each copy is downloaded once — concurrent first views of a
profile wait for the one download — into a unique temporary name and renamed into
place. The copies are bounded (`max_bytes`, least recently opened deleted first)
and the copy of a replaced generation is deleted at once; a deleted copy that is
still mapped stays readable until it is unmapped (Linux). The directory is this
process's (`tempfiles`: named after it), removed at exit, and swept after a crash.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import mmap
import os
import secrets
import threading
from pathlib import Path

from xdiag.core import tempfiles
from xdiag.core.errors import NotFound, StoreError
from xdiag.store import ObjectStore

PREFIX = "xdiag-views-"
DEFAULT_MAX_BYTES = 2 * 1024**3
_STRIPES = 32


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


class ViewFiles:
    def __init__(self, store: ObjectStore, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.store, self.max_bytes = store, max_bytes
        self._dir: Path | None = None
        self._lock = threading.Lock()
        self._files: collections.OrderedDict[str, tuple[str, int]] = collections.OrderedDict()
        self._by_key: dict[str, str] = {}  # key -> the file of its newest generation
        self._fetching = [threading.Lock() for _ in range(_STRIPES)]
        self.bytes = 0

    @property
    def dir(self) -> Path:
        with self._lock:
            if self._dir is None or not self._dir.is_dir():
                self._dir = tempfiles.mkdtemp(PREFIX)
                atexit.register(tempfiles.remove, self._dir)
            return self._dir

    def open(self, key: str) -> mmap.mmap:
        """A read-only map of the object's current generation."""
        for _ in range(3):
            gen = self.store.generation(key)
            if not gen:
                raise NotFound(f"no object {key!r} in {self.store.url}")
            name = hashlib.sha256(f"{self.store.url}\0{key}\0{gen}".encode()).hexdigest()[:40]
            stripe = self._fetching[int(name[:8], 16) % _STRIPES]
            with stripe:
                buf = self._cached(name)
                if buf is not None:
                    return buf
                directory = self.dir
                tmp = directory / f".part-{secrets.token_hex(8)}"
                try:
                    self.store.download_to(key, tmp, generation=gen)
                    os.replace(tmp, directory / name)
                except NotFound:
                    tmp.unlink(missing_ok=True)
                    continue  # replaced since we asked for its generation: ask again
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
                return self._add(key, name)
        raise StoreError(f"{key!r} in {self.store.url} changed three times while it was "
                         "read; try again", retry_after=1)

    def _cached(self, name: str) -> mmap.mmap | None:
        with self._lock:
            if name not in self._files or self._dir is None:
                return None
            self._files.move_to_end(name)
            try:
                return _map(self._dir / name)
            except FileNotFoundError:  # removed under us (a sweep after a clock jump)
                self._drop(name)
                return None

    def _add(self, key: str, name: str) -> mmap.mmap:
        with self._lock:
            assert self._dir is not None
            path = self._dir / name
            old = self._by_key.get(key)
            if old is not None and old != name:
                self._drop(old)  # a replaced generation is never read again
            size = path.stat().st_size
            if name not in self._files:
                self.bytes += size
            self._files[name] = (key, size)
            self._by_key[key] = name
            buf = _map(path)
            while self.bytes > self.max_bytes and len(self._files) > 1:
                self._drop(next(iter(self._files)))
            return buf

    def _drop(self, name: str) -> None:
        key, size = self._files.pop(name, (None, 0))
        self.bytes -= size
        if key is not None and self._by_key.get(key) == name:
            del self._by_key[key]
        if self._dir is not None:
            (self._dir / name).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """The copies on disk now (tests, metrics)."""
        with self._lock:
            return [] if self._dir is None else sorted(self._dir.iterdir())

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                tempfiles.remove(self._dir)
            self._dir = None
            self._files.clear()
            self._by_key.clear()
            self.bytes = 0
