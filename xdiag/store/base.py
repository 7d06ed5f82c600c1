"""The one interface every storage backend implements.

Keys are relative, '/'-separated paths. A *generation* is an opaque integer
that changes on every write of a key; conditional writes compare it, which is
how several service replicas update the same object without losing writes
(`if_generation=0` means "only if the key does not exist yet").
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from xdiag.core import jsonio
from xdiag.core.errors import BadRequest, NotFound, PreconditionFailed

T = TypeVar("T")


def check_key(key: str) -> str:
    if not key or key.startswith("/") or "\\" in key or any(
        part in ("", ".", "..") for part in key.rstrip("/").split("/")
    ):
        raise BadRequest(f"invalid store key {key!r}")
    return key


class StagedWrite(Protocol):
    def commit(self) -> int: ...
    def abort(self) -> None: ...


class _DeferredWrite:
    """A staged write that does all its work at commit."""

    def __init__(self, store: ObjectStore, key: str, path: Path) -> None:
        self.store, self.key, self.path = store, key, path

    def commit(self) -> int:
        return self.store.write_file(self.key, self.path)

    def abort(self) -> None:
        pass


class ObjectStore(abc.ABC):
    """A flat key -> bytes store with generations (GCS semantics)."""

    url: str
    # How often a waiting request may look again for a change made by another process:
    # metadata look-ups are free on a local disk, billed requests on GCS.
    recheck_s: float = 0.25

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """Return the object's bytes; raise NotFound if absent."""

    @abc.abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, int]:
        """Return (bytes, generation); raise NotFound if absent."""

    def write_parts(self, key: str, parts: Iterable[bytes | memoryview], *,
                    durable: bool = True) -> int:
        """Write the concatenation of `parts` without joining them in memory.

        `durable=False` lets a backend return before the bytes are on stable storage
        (readers see them all the same); `make_durable(key)` then finishes the job.
        """
        import tempfile

        from xdiag.core import tempfiles

        with tempfile.NamedTemporaryFile(prefix=f"xdiag-parts-{tempfiles.owner()}-") as fh:
            for part in parts:
                fh.write(part)
            fh.flush()
            return self.write_file(key, Path(fh.name))

    def make_durable(self, key: str) -> None:
        """Ensure a `write_parts(..., durable=False)` is on stable storage (no-op where
        every write already is)."""
        return None

    def generation(self, key: str) -> int:
        """The object's generation without its bytes (0 if absent): a cheap freshness check."""
        try:
            return self.read_versioned(key)[1]
        except NotFound:
            return 0

    @abc.abstractmethod
    def write(self, key: str, data: bytes, *, if_generation: int | None = None) -> int:
        """Write atomically (readers see old or new bytes, never a mix); return the generation.

        With `if_generation` set, raise PreconditionFailed unless the current generation
        equals it (0: the key must not exist).
        """

    @abc.abstractmethod
    def write_file(self, key: str, path: Path) -> int:
        """Upload a local file (large objects: streamed / resumable)."""

    def stage_file(self, key: str, path: Path, *, owned: bool = False) -> StagedWrite:
        """Start writing a local file to `key` without making it visible: the returned
        write's `commit()` makes it visible (atomically, returning the generation) and
        `abort()` leaves the store as it was. Lets a caller copy while it still validates.
        `owned`: the file is the caller's own temporary file, which the store may take over
        instead of copying (the caller then only deletes its name, never changes it).
        By default nothing is written before commit; backends that can stage override."""
        return _DeferredWrite(self, key, Path(path))

    @abc.abstractmethod
    def download_to(self, key: str, path: Path, *, generation: int | None = None) -> None:
        """Stream an object into a local file. With `generation`, that version of it:
        NotFound once it has been replaced (a backend without versions may ignore it)."""

    @abc.abstractmethod
    def size(self, key: str) -> int | None:
        """Size in bytes, or None if the key is absent."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys starting with `prefix`, sorted (recursive)."""

    @abc.abstractmethod
    def delete(self, key: str, *, if_generation: int | None = None) -> bool:
        """Delete a key; return False if it was absent. With `if_generation`, only that
        version of it: PreconditionFailed if the key now holds another."""

    def sweep_temp(self, max_age_s: float | None = None) -> list[tuple[str, int]]:
        """Remove the temporary files a dead writer left in the store (a local store's
        staged copies); return (name, bytes) of each. Never touches a live writer's."""
        return []

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the key if the backend has one (local store), else None."""
        return None

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    # JSON helpers shared by every module that keeps state in the store.

    def read_json(self, key: str) -> Any:
        return jsonio.loads(self.read(key))

    def write_json(self, key: str, value: Any, *, if_generation: int | None = None) -> int:
        # Compact and key-sorted: identical input gives identical bytes (idempotent ingest).
        return self.write(key, jsonio.dumps(value), if_generation=if_generation)

    def update_json(
        self, key: str, fn: Callable[[Any], Any], *, default: Any = None, attempts: int = 20
    ) -> Any:
        """Read-modify-write a JSON object under a generation precondition, retrying races.

        `fn` receives the current value (or `default` if absent) and returns the new one.
        """
        from xdiag.core.errors import NotFound

        for attempt in range(attempts):
            try:
                raw, gen = self.read_versioned(key)
                current = jsonio.loads(raw)
            except NotFound:
                current, gen = default, 0
            new = fn(current)
            try:
                self.write_json(key, new, if_generation=gen)
                return new
            except PreconditionFailed:
                time.sleep(min(0.5, 0.01 * 2**attempt))
        raise PreconditionFailed(f"gave up updating {key} after {attempts} conflicting writes")

    def iter_json(self, prefix: str) -> Iterator[tuple[str, Any]]:
        from xdiag.core.errors import NotFound

        for key in self.list(prefix):
            if key.endswith(".json"):
                try:
                    yield key, self.read_json(key)
                except (NotFound, ValueError):
                    continue  # deleted or being replaced between list and read
