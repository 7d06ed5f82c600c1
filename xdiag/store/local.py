"""Local-filesystem store: the default backend.

Writes go to a temporary file in the same directory and are renamed into
place, so a reader never sees a partial object. Temporary files are named after
their writing process (`tempfiles`), so `sweep_temp` removes those a killed
process left and never a live writer's. Conditional writes hold an
exclusive `flock` so several processes on one machine compare-and-swap safely.
The generation of a key is its mtime in nanoseconds (bumped if a rewrite lands
in the same tick).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from xdiag.core import tempfiles
from xdiag.core.errors import NotFound, PreconditionFailed
from xdiag.store.base import ObjectStore, check_key

_TMP_PREFIX = ".xdiag-tmp-"


def _copy_into(src: Any, dst: Any) -> None:
    """Copy a whole file in the kernel (sendfile: no round trip through Python buffers,
    2-4x faster for a large upload); fall back to a buffered copy where unsupported."""
    size = os.fstat(src.fileno()).st_size
    done = 0
    try:
        while done < size:
            sent = os.sendfile(dst.fileno(), src.fileno(), done, size - done)
            if sent == 0:
                break
            done += sent
    except OSError:
        if done:
            raise
    if done < size:
        src.seek(done)
        shutil.copyfileobj(src, dst, 1 << 20)


class _Staged:
    """A written, fsynced temporary file; commit renames it into place."""

    def __init__(self, store: LocalStore, path: Path, tmp: Path) -> None:
        self.store, self.path, self.tmp = store, path, tmp

    def commit(self) -> int:
        try:
            old_gen = self.store._generation(self.path)
            st = os.stat(self.tmp)
            if st.st_mtime_ns <= old_gen:  # keep generations strictly increasing
                os.utime(self.tmp, ns=(st.st_atime_ns, old_gen + 1))
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.store._generation(self.path)

    def abort(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


class LocalStore(ObjectStore):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._paths: dict[str, Path] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = str(self.root)
        self._lock_path = self.root / ".xdiag" / ".lock"

    def _path(self, key: str) -> Path:
        # Memoised: requests map the same few keys (records, manifests) again and again,
        # and the pathlib join plus key check were a third of a stored view's look-up.
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) > 65536:
                self._paths.clear()
            path = self._paths[key] = self.root / check_key(key)
        return path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _generation(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def read(self, key: str) -> bytes:
        return self.read_versioned(key)[0]

    def generation(self, key: str) -> int:
        return self._generation(self._path(key))

    def read_versioned(self, key: str) -> tuple[bytes, int]:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                gen = os.fstat(fh.fileno()).st_mtime_ns
                return fh.read(), gen
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r} in {self.url}") from None

    def _atomic_replace(self, path: Path, fill: object) -> int:
        return self._stage(path, fill).commit()

    def _stage(self, path: Path, fill: object, sync: bool = True) -> _Staged:
        """`fill` written (and fsynced) to a temporary file beside `path`, not renamed yet."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfiles.mkstemp(_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(fill, bytes | bytearray | memoryview):
                    fh.write(fill)
                elif isinstance(fill, list):  # buffers, written in turn
                    for part in fill:
                        fh.write(part)
                else:
                    with open(fill, "rb") as src:  # type: ignore[call-overload]
                        _copy_into(src, fh)
                fh.flush()
                if sync:
                    os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return _Staged(self, path, Path(tmp))

    def stage_file(self, key: str, path: Path, *, owned: bool = False) -> _Staged:
        if owned:
            staged = self._stage_link(self._path(key), Path(path))
            if staged is not None:
                return staged
        return self._stage(self._path(key), Path(path))

    def _stage_link(self, path: Path, src: Path) -> _Staged | None:
        """The caller's own file staged by a hard link beside `path`: no copy of what may
        be gigabytes (a capture's or an upload's temporary file on this filesystem). None
        when it cannot be linked (another filesystem, no hard links), and the caller copies."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP_PREFIX}{tempfiles.owner()}-{secrets.token_hex(8)}"
        try:
            os.link(src, tmp)
        except OSError:
            return None
        try:
            fd = os.open(tmp, os.O_RDONLY)  # durable like a copy: the data, before commit
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return _Staged(self, path, tmp)

    def write_parts(self, key: str, parts: Iterable[bytes | memoryview], *,
                    durable: bool = True) -> int:
        return self._stage(self._path(key), list(parts), sync=durable).commit()

    def make_durable(self, key: str) -> None:
        path = self._path(key)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dfd = os.open(path.parent, os.O_RDONLY)  # and the rename that made it visible
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def write(self, key: str, data: bytes, *, if_generation: int | None = None) -> int:
        path = self._path(key)
        if if_generation is None:
            return self._atomic_replace(path, bytes(data))
        with self._locked():
            current = self._generation(path)
            if current != if_generation:
                raise PreconditionFailed(
                    f"{key!r} changed (generation {current}, expected {if_generation})"
                )
            return self._atomic_replace(path, bytes(data))

    def write_file(self, key: str, path: Path) -> int:
        return self._atomic_replace(self._path(key), Path(path))

    def download_to(self, key: str, path: Path, *, generation: int | None = None) -> None:
        src = self._path(key)
        if not src.is_file():
            raise NotFound(f"no object {key!r} in {self.url}")
        shutil.copyfile(src, path)

    def size(self, key: str) -> int | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if not os.path.isdir(self._path(key)) else None

    def list(self, prefix: str) -> list[str]:
        # Walk only the directory that holds the prefix, not the whole root.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base_dir if base_dir else self.root
        if not start.is_dir():
            return []
        out = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            if not (rel_dir.startswith(prefix) or prefix.startswith(rel_dir)):
                dirnames[:] = []
                continue
            for name in filenames:
                key = rel_dir + name
                if name.startswith(_TMP_PREFIX) or key == ".xdiag/.lock":
                    continue
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    def delete(self, key: str, *, if_generation: int | None = None) -> bool:
        path = self._path(key)
        if if_generation is not None:
            with self._locked():
                current = self._generation(path)
                if current and current != if_generation:
                    raise PreconditionFailed(
                        f"{key!r} changed (generation {current}, expected {if_generation})")
                return self._unlink(path)
        return self._unlink(path)

    def _unlink(self, path: Path) -> bool:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError):
            return False
        # Remove now-empty parent directories so deleted sessions leave no trace.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return True

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def sweep_temp(self, max_age_s: float | None = None) -> list[tuple[str, int]]:
        out = []
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                if not name.startswith(_TMP_PREFIX):
                    continue
                path = Path(dirpath) / name
                if tempfiles.is_leftover(path, _TMP_PREFIX,
                                         max_age_s=max_age_s or tempfiles.MAX_AGE_S):
                    out.append((str(path.relative_to(self.root)), tempfiles.remove(path)))
        return out
