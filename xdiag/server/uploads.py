"""An upload's multipart body read as it arrives: each file part straight into a file of
its own, the form fields kept; no spooled copy of the body.

`request.files` first spools every part into a temporary file (werkzeug's parser, its
data copied several times in Python), and the route then copied that file again: ~0.5 s
for 120 MB on this 2-core VM, before validation could start. Here each chunk read from
the socket is searched once for the part's delimiter (C `find`) and written from the
buffer it arrived in. `on_file` is told when a file part is complete, so a session's
earlier hosts can be validated while later ones still arrive.

The grammar is RFC 7578 multipart/form-data as browsers and `requests` send it:
`--boundary CRLF headers CRLF CRLF data CRLF --boundary ... --boundary--`.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import IO

from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header

from xdiag.core.errors import BadRequest

CHUNK = 1 << 20  # bytes read from the socket at a time
FIELDS_MAX = 64 * 1024  # the form fields together (names of run, session, hosts)
HEADERS_MAX = 16 * 1024  # one part's headers
PARTS_MAX = 10_000


@dataclasses.dataclass
class Part:
    index: int  # among the file parts named `field`, in body order
    filename: str
    path: Path
    bytes: int = 0


@dataclasses.dataclass
class Received:
    form: MultiDict
    files: list[Part]


class _Body:
    """The body's bytes not yet consumed (`buf[lo:hi]`), read from the stream as needed
    into one buffer that is reused: each byte is copied once from the stream's read
    into it and once out to its file (the stream's `read` would allocate, zero and copy
    every chunk again, and appending to a growing buffer copies it once more: together
    ~40% of the receiving thread's CPU for 120 MB)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._readinto = getattr(stream, "readinto", None)
        self.buf = bytearray(2 * CHUNK)
        self.lo = self.hi = 0
        self.eof = False

    def __len__(self) -> int:
        return self.hi - self.lo

    def more(self) -> None:
        """Read more into the buffer (at least one byte, else the body broke off)."""
        if self.eof:
            raise BadRequest("the upload broke off before its end: send it again")
        if self.lo and (self.hi + CHUNK > len(self.buf) or self.lo == self.hi):
            # Room at the end: the bytes not yet consumed move to the front.
            n = self.hi - self.lo
            self.buf[:n] = self.buf[self.lo:self.hi]
            self.lo, self.hi = 0, n
        if self.hi + CHUNK > len(self.buf):  # a part's headers longer than a chunk
            self.buf.extend(bytes(self.hi + CHUNK - len(self.buf)))
        if self._readinto is not None:
            with memoryview(self.buf) as view:
                got = self._readinto(view[self.hi:self.hi + CHUNK]) or 0
        else:
            chunk = self.stream.read(CHUNK)
            got = len(chunk)
            self.buf[self.hi:self.hi + got] = chunk
        if got:
            self.hi += got
        else:
            self.eof = True

    def put(self, data: bytes) -> None:
        """Bytes before the unconsumed ones (the body's leading line break)."""
        if len(data) > self.lo:
            self.buf[self.lo:self.lo] = bytes(len(data) - self.lo)
            self.hi += len(data) - self.lo
            self.lo = len(data)
        self.lo -= len(data)
        self.buf[self.lo:self.lo + len(data)] = data

    def consume(self, n: int) -> None:
        self.lo += n

    def startswith(self, prefix: bytes, at: int = 0) -> bool:
        return self.buf.startswith(prefix, self.lo + at, self.hi)

    def bytes(self, a: int, b: int) -> bytes:
        return bytes(self.buf[self.lo + a:self.lo + b])

    def find(self, needle: bytes, limit: int) -> int:
        """Index of `needle` in the buffer, reading more until it is there (at most
        `limit` bytes in)."""
        start = 0
        while True:
            i = self.buf.find(needle, self.lo + start, self.hi)
            if i >= 0 and i - self.lo <= limit:
                return i - self.lo
            if len(self) > limit + len(needle):
                raise BadRequest("malformed multipart body: a part's headers are too long")
            start = max(0, len(self) - len(needle) + 1)
            self.more()

    def need(self, n: int) -> None:
        while len(self) < n:
            self.more()

    def copy_until(self, delim: bytes, out: IO[bytes] | None) -> int:
        """Move the bytes before `delim` to `out` (dropped if None) as they arrive; the
        buffer then starts at `delim`. Returns how many bytes were moved."""
        moved, start = 0, self.lo
        keep = len(delim) - 1
        while True:
            i = self.buf.find(delim, start, self.hi)
            n = i - self.lo if i >= 0 else max(0, len(self) - keep)
            if n:
                if out is not None:
                    with memoryview(self.buf) as view:
                        out.write(view[self.lo:self.lo + n])
                self.lo += n
                moved += n
            if i >= 0:
                return moved
            self.more()
            start = max(self.lo, self.hi - CHUNK - keep)  # only the new bytes are searched


class _Capped(io.BytesIO):
    """A form field's value, refused past what the fields may still take."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: bytes | memoryview) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise BadRequest(f"the form fields are over {FIELDS_MAX} bytes")
        return super().write(data)


def _disposition(headers: bytes) -> tuple[str | None, str | None]:
    """(name, filename) of a part from its headers."""
    for line in headers.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-disposition":
            kind, opts = parse_options_header(value.decode("utf-8", "replace").strip())
            if kind.lower() != "form-data":
                break
            return opts.get("name"), opts.get("filename")
    raise BadRequest("malformed multipart body: a part without Content-Disposition: form-data")


def receive(stream: IO[bytes], content_type: str | None, dest: Path, *, field: str = "file",
            on_file: Callable[[Part], None] | None = None) -> Received:
    """Read a multipart/form-data body from `stream`: file parts named `field` into
    `dest/<index>.part`, other file parts skipped, fields into `form`."""
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary or len(boundary) > 200:
        raise BadRequest("send multipart/form-data with one or more 'file' parts")
    dash = b"--" + boundary.encode("latin-1")
    delim = b"\r\n" + dash
    body = _Body(stream)
    body.put(b"\r\n")  # the first delimiter may open the body without a line break
    form: MultiDict = MultiDict()
    files: list[Part] = []
    fields_size = 0
    body.copy_until(delim, None)  # the preamble
    for _ in range(PARTS_MAX + 1):
        body.need(len(delim) + 2)
        body.consume(len(delim))
        if body.startswith(b"--"):
            return Received(form, files)  # the close delimiter; the epilogue is not read
        end = body.find(b"\r\n", 256)  # transport padding, then the line break
        if body.bytes(0, end).strip(b" \t"):
            raise BadRequest("malformed multipart body: text after a boundary")
        body.consume(end + 2)
        end = body.find(b"\r\n\r\n", HEADERS_MAX) if not body.startswith(b"\r\n") else -2
        name, filename = _disposition(body.bytes(0, max(end, 0)))
        body.need(end + 2 + len(delim))
        # An empty part may share its blank line's CRLF with the next delimiter (as
        # werkzeug's test client writes it); the delimiter is then kept.
        body.consume(end + 2 if body.startswith(delim, end + 2) else end + 4)
        if filename is not None and name == field:
            part = Part(len(files), filename, dest / f"{len(files)}.part")
            with open(part.path, "wb", buffering=0) as fh:
                part.bytes = body.copy_until(delim, _WriteAll(fh))
            files.append(part)
            if on_file is not None:
                on_file(part)
        elif filename is not None:
            body.copy_until(delim, None)  # another file field: read past it
        else:
            value = _Capped(FIELDS_MAX - fields_size)
            fields_size += body.copy_until(delim, value)
            form.add(name or "", value.getvalue().decode("utf-8", "replace"))
    raise BadRequest(f"more than {PARTS_MAX} parts in one upload")


class _WriteAll:
    """An unbuffered file's writes, each whole (no copy into a write buffer)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh

    def write(self, data: memoryview) -> int:
        with memoryview(data) as view:
            done = 0
            while done < len(view):
                done += self.fh.write(view[done:]) or 0
        return done
