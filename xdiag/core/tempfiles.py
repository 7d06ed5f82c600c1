"""Temporary files named after the process that writes them, so a crash's leftovers can
be told from a live writer's files and removed.

A name is `<prefix><owner>-<random>`, owner = `<machine>.<pid>.<start>`: a hash of the
host name and boot id, the process id, and the process's start time in clock ticks
since boot (`/proc/<pid>/stat`), which tells a reused pid from the writer. `sweep`
removes at once what a dead process of this machine left; names without an owner
(older versions, other tools) and those of other machines (a store shared over NFS)
only once nothing in them changed for `MAX_AGE_S`. Nothing owned by a live process
is ever removed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

MAX_AGE_S = 24 * 3600.0  # the generous bound for files whose owner cannot be checked

_OWNER = re.compile(r"([0-9a-f]{8})\.(\d+)\.(\d+)-")


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        if not os.path.isdir("/proc/self"):  # no procfs: existence only
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return 0
            return 0
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses.
    return int(stat[stat.rindex(b")") + 2:].split()[19])


@functools.cache
def machine() -> str:
    """This machine's tag: a hash of its host name and boot id (a fact, computed once)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{boot}".encode()).hexdigest()[:8]


def owner() -> str:
    """This process's owner tag (a fact of the process: a forked child has its own)."""
    return _owner_of(os.getpid())


@functools.lru_cache(maxsize=4)
def _owner_of(pid: int) -> str:
    return f"{machine()}.{pid}.{_start_ticks(pid) or 0}"


def owner_state(tag: str) -> str:
    """"mine", "alive" (another live process here), "dead", or "foreign" (another
    machine, or not a tag: cannot be checked)."""
    m = _OWNER.fullmatch(tag + "-")
    if not m or m.group(1) != machine():
        return "foreign"
    if tag == owner():
        return "mine"
    start = _start_ticks(int(m.group(2)))
    if start is None or (start and int(m.group(3)) and start != int(m.group(3))):
        return "dead"
    return "alive"


def mkdtemp(prefix: str, dir: str | Path | None = None) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{owner()}-", dir=dir))


def mkstemp(prefix: str, dir: str | Path | None = None, suffix: str = "") -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f"{prefix}{owner()}-", dir=dir, suffix=suffix)


def _newest_change(path: Path) -> float:
    """The latest mtime of `path` or anything under it (a directory being filled)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest


def is_leftover(path: Path, prefix: str, *, max_age_s: float = MAX_AGE_S,
                now: float | None = None) -> bool:
    """Whether `path` (named `<prefix>...`) was left by a process that is gone."""
    m = _OWNER.match(path.name[len(prefix):])
    if m:
        state = owner_state(m.group(0)[:-1])
        if state in ("mine", "alive"):
            return False
        if state == "dead":
            return True
    try:
        return (now or time.time()) - _newest_change(path) > max_age_s
    except OSError:
        return False  # gone already


def remove(path: Path) -> int:
    """Delete a file or a directory tree; returns the bytes freed (0 if it was gone)."""
    freed = 0
    try:
        if path.is_dir() and not path.is_symlink():
            for dirpath, _, filenames in os.walk(path):
                for name in filenames:
                    with contextlib.suppress(OSError):
                        freed += os.lstat(os.path.join(dirpath, name)).st_size
            shutil.rmtree(path, ignore_errors=True)
        else:
            freed = path.lstat().st_size
            path.unlink()
    except FileNotFoundError:
        return 0
    return freed


def sweep(directory: str | Path, prefixes: tuple[str, ...], *,
          max_age_s: float = MAX_AGE_S) -> list[tuple[Path, int]]:
    """Removes the leftovers named `<prefix>...` directly in `directory`; returns what
    was removed, with the bytes freed."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return out
    now = time.time()
    for entry in entries:
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        path = Path(entry.path)
        if is_leftover(path, prefix, max_age_s=max_age_s, now=now):
            out.append((path, remove(path)))
    return out


def system_dir() -> Path:
    return Path(tempfile.gettempdir())
