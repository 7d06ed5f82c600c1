"""HTTP client for the CLI (and scripts): one narrow wrapper around the v1 API."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import requests

from xdiag.core.errors import XdiagError

DEFAULT_SERVER = "http://127.0.0.1:8791"


class ClientError(XdiagError):
    """An API call failed; `detail` is the server's message or the connection problem."""

    code = "client_error"

    def __init__(self, detail: str, status: int = 1) -> None:
        super().__init__(detail)
        self.status = status


def default_server() -> str:
    return os.environ.get("XDIAG_SERVER") or DEFAULT_SERVER


class Client:
    def __init__(self, server: str | None = None, token: str | None = None,
                 timeout: float = 60.0) -> None:
        self.server = (server or default_server()).rstrip("/")
        self.session = requests.Session()
        token = token or os.environ.get("XDIAG_TOKEN")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._send(method, path, **kw)
        if resp.status_code == 204 or not resp.content:
            return None
        if resp.headers.get("Content-Type", "").startswith("application/json"):
            return resp.json()
        return resp.content

    def download(self, path: str, dest: str | Path, **kw: Any) -> int:
        """GET `path` into the file `dest` as it arrives (never whole in memory); returns
        its size. The file appears only once complete: a response that breaks off leaves
        nothing behind and raises a ClientError."""
        dest = Path(dest)
        resp = self._send("GET", path, stream=True, **kw)
        part = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
        size = 0
        try:
            with resp, open(part, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    fh.write(chunk)
                    size += len(chunk)
            os.replace(part, dest)
        except requests.RequestException:
            raise ClientError(f"the response to GET {path} broke off after {size:,} bytes; "
                              f"{dest} was not written") from None
        except OSError as exc:
            raise ClientError(f"cannot write {dest}: {exc.strerror or exc}") from None
        finally:
            part.unlink(missing_ok=True)
        return size

    def _send(self, method: str, path: str, **kw: Any) -> requests.Response:
        """The response, once its status says success; else a ClientError with the
        server's message."""
        follow = kw.pop("_follow", True)
        kw.setdefault("timeout", self.timeout)
        url = self.server + path
        try:
            resp = self.session.request(method, url, **kw)
        except requests.ConnectionError:
            raise ClientError(f"cannot reach the xdiag service at {self.server}: is "
                              "`xdiag serve` running? (set --server or $XDIAG_SERVER)") from None
        except requests.Timeout:
            raise ClientError(f"{method} {url} timed out after {kw['timeout']} s") from None
        if resp.status_code == 409 and method == "GET" and follow:
            # A view of a profile still ingesting (`upload` and `capture` return once its
            # timeline can be viewed): wait for the ingest, then ask once more, so that
            # `xdiag upload F && xdiag export ...` works as it did.
            pid = _profile_of(path)
            if pid is not None and self._ingested(pid):
                resp.close()
                return self._send(method, path, _follow=False, **kw)
        if resp.status_code >= 400:
            try:
                body = resp.json()
                detail = body.get("detail") or body.get("error") or resp.text
            except ValueError:
                detail = resp.text.strip()[:500] or resp.reason
            raise ClientError(f"{detail} (HTTP {resp.status_code})", resp.status_code)
        return resp

    def _ingested(self, pid: str) -> bool:
        """True once the profile that was `ingesting` has ended its ingest; False if it
        was not ingesting (the 409 meant something else)."""
        try:
            rec = self.get(f"/api/v1/profiles/{quote(pid, safe='')}")
        except ClientError:
            return False
        if rec.get("status") != "ingesting":
            return False
        self.wait_profile(pid, "ready")
        return True

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def upload_session(self, files: list[tuple[str, Path]], *, run: str | None = None,
                       session: str | None = None, wait: bool = True,
                       sent: Callable[[int], None] | None = None) -> dict[str, Any]:
        """POST one session's host files as a streamed multipart body (no file held in
        memory). `wait`: the answer comes after the whole ingest; else once the session is
        stored (status `ingesting`; `wait_profile` follows it). `sent(bytes)` is called as
        the body goes out."""
        fields = {k: v for k, v in (("run", run), ("session", session)) if v}
        for i, (host, _) in enumerate(files):
            fields[f"host{i}"] = host
        body = _MultipartStream(fields, files, sent)
        return self.post(
            "/api/v1/profiles" + ("?wait=1" if wait else ""),
            data=body,  # iterable with __len__: requests streams it with a Content-Length
            headers={"Content-Type": body.content_type},
            timeout=max(self.timeout, 600),
        )

    def wait_profile(self, pid: str, until: str = "timeline", *, poll_s: int = 25,
                     seen: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """The profile once its timeline can be viewed (`until="timeline"`: every host's
        index is built) or its ingest has ended (`"ready"`), through the record's long
        poll; `seen(record)` gets each answer (at least every `poll_s` seconds)."""
        while True:
            rec = self.get(f"/api/v1/profiles/{quote(pid, safe='')}",
                           params={"wait": until, "timeout": poll_s})
            if seen is not None:
                seen(rec)
            if rec["status"] != "ingesting" or (until == "timeline" and rec.get("timeline_ready")):
                return rec


def _profile_of(path: str) -> str | None:
    """The profile id of a path under /api/v1/profiles/<id>/..., else None."""
    parts = path.split("?")[0].split("/")
    if len(parts) > 5 and parts[1:4] == ["api", "v1", "profiles"]:
        return unquote(parts[4])
    return None


class _MultipartStream:
    """multipart/form-data whose file parts are read from disk in chunks while sending."""

    def __init__(self, fields: dict[str, str], files: list[tuple[str, Path]],
                 sent: Callable[[int], None] | None = None) -> None:
        self.sent = sent
        self.boundary = "xdiag-" + uuid.UUID(bytes=secrets.token_bytes(16)).hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self.parts: list[bytes | Path] = []
        for name, value in fields.items():
            self.parts.append(self._head(f'name="{name}"') + value.encode() + b"\r\n")
        for host, path in files:
            self.parts.append(self._head(f'name="file"; filename="{host}.xplane.pb"',
                                         "application/octet-stream"))
            self.parts.append(Path(path))
            self.parts.append(b"\r\n")
        self.parts.append(f"--{self.boundary}--\r\n".encode())

    def _head(self, disposition: str, ctype: str | None = None) -> bytes:
        head = f"--{self.boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        return (head + "\r\n").encode()

    def __len__(self) -> int:
        return sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in self.parts)

    def __iter__(self) -> Iterator[bytes]:
        done = 0
        for part in self.parts:
            if isinstance(part, Path):
                with open(part, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        yield chunk
                        done += len(chunk)
                        if self.sent is not None:
                            self.sent(done)
            else:
                yield part
                done += len(part)
