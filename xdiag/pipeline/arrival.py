"""When a capture's trace file is complete: as soon as the job's profiler has closed it.

The JAX/TSL profiler server writes its trace straight into the capture client's log
directory (`<logdir>/plugins/profile/<session>/<host>_<port>.xplane.pb`), then frees
its copy of the trace and only then answers the RPC: measured on the demo trainer,
0.35-0.8 s between the file's `close` and the answer (strace of the job). Watching the
folder (Linux inotify, `IN_CLOSE_WRITE`) lets the capture validate and store the trace
that much earlier. Where inotify is missing, or the file was closed before its folder
was watched, the answer of the RPC decides, as before.

Pure I/O on the capture's own temporary folder: stdlib only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import threading
import time
from pathlib import Path

_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then the name, NUL-padded

_libc: ctypes.CDLL | None = None


def _inotify() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(None, use_errno=True)
            lib.inotify_init1.argtypes = [ctypes.c_int]
            lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            _libc = lib
        except (OSError, AttributeError):  # not Linux
            return None
    return _libc


class TraceArrival:
    """Watches one host's capture folder for its trace file `name`.

    Create it before the RPC starts (it makes `<logdir>/plugins/profile/`, which the
    profiler then only enters); `wait` returns the file's path once it is complete."""

    def __init__(self, logdir: Path, name: str) -> None:
        self.name = name
        self.profile_dir = Path(logdir) / "plugins" / "profile"
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._sessions: dict[int, Path] = {}  # watch descriptor -> session folder
        self.early = False  # whether the file was seen closed before the RPC ended
        lib = _inotify()
        if lib is None:
            return
        fd = lib.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return
        self._fd = fd
        self._profile_wd = lib.inotify_add_watch(fd, bytes(self.profile_dir),
                                                 _IN_CREATE | _IN_MOVED_TO)
        if self._profile_wd < 0:
            self.close()

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def wait(self, rpc: threading.Thread, deadline: float) -> Path | None:
        """The trace file once the profiler has closed it, or once the RPC has ended (it
        is there or not); None if neither by `deadline` (time.monotonic())."""
        try:
            poller = select.poll()  # not select(): a busy service may hold fds past 1024
            if self._fd >= 0:
                poller.register(self._fd, select.POLLIN)
            while self._fd >= 0 and rpc.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if poller.poll(min(left, 0.05) * 1000):
                    found = self._events()
                    if found is not None:
                        self.early = rpc.is_alive()
                        return found
            rpc.join(max(0.0, deadline - time.monotonic()))
            if rpc.is_alive():
                return None
            return next(iter(self.profile_dir.glob("*/" + self.name)), None)
        finally:
            self.close()

    def _events(self) -> Path | None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return None
        pos = 0
        while pos + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
            name = data[pos + _EVENT.size:pos + _EVENT.size + length].split(b"\0", 1)[0]
            pos += _EVENT.size + length
            text = os.fsdecode(name)
            if wd == self._profile_wd and mask & _IN_ISDIR:
                self._watch_session(self.profile_dir / text)
            elif wd in self._sessions and text == self.name and \
                    mask & (_IN_CLOSE_WRITE | _IN_MOVED_TO):
                return self._sessions[wd] / text
        return None

    def _watch_session(self, folder: Path) -> None:
        # A file opened before this watch is still seen closed, if it closes after it;
        # one closed before it is not, and then the RPC's answer decides.
        lib = _inotify()
        wd = lib.inotify_add_watch(self._fd, bytes(folder),
                                   _IN_CLOSE_WRITE | _IN_MOVED_TO) if lib else -1
        if wd >= 0:
            self._sessions[wd] = folder
