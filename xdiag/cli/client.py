"""HTTP client for the CLI (and scripts): one narrow wrapper around the v1 API.

Calls go over `http.client` (one kept-alive connection; an upload's files sent from
one reused buffer), and over `requests` only where its extras matter: a streamed
download, https, a proxy or ~/.netrc in the environment, a redirect. `requests` (and
urllib3) took ~80 ms of an upload's ~150 ms start-up to import, on the path to the
first view; it is imported only when used.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from xdiag.core.errors import XdiagError

DEFAULT_SERVER = "http://127.0.0.1:8791"
SEND_PIECE = 1 << 20  # an upload's file is sent this many bytes at a time


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
        token = token or os.environ.get("XDIAG_TOKEN")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._session: Any = None
        self._light = _Light(self.server) if _light_ok(self.server) else None

    @property
    def session(self) -> Any:
        """A `requests.Session` with this client's headers, made on first use."""
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers.update(self.headers)
        return self._session

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
        part = dest.with_name(f".{dest.name}.part-{os.urandom(4).hex()}")
        size = 0
        import requests

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

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        """The response (a `requests.Response`, or `_Reply` with the same fields), once
        its status says success; else a ClientError with the server's message."""
        follow = kw.pop("_follow", True)
        kw.setdefault("timeout", self.timeout)
        url = self.server + path
        resp = None
        if self._light is not None and _Light.takes(kw):
            resp = self._light.request(method, path, self.headers, **kw)
            if resp is not None and 300 <= resp.status_code < 400:
                resp = None  # a redirect: requests follows it as before
        if resp is None:
            resp = self._requests_send(method, url, **kw)
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

    def _requests_send(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        try:
            return self.session.request(method, url, **kw)
        except requests.ConnectionError:
            raise ClientError(_unreachable(self.server)) from None
        except requests.Timeout:
            raise ClientError(f"{method} {url} timed out after {kw['timeout']} s") from None

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


def _unreachable(server: str) -> str:
    return (f"cannot reach the xdiag service at {server}: is `xdiag serve` running? "
            "(set --server or $XDIAG_SERVER)")


_PROXY_VARS = ("http_proxy", "all_proxy")


def _light_ok(server: str) -> bool:
    """Whether `http.client` does what `requests` would for `server`: plain http, no
    proxy and no ~/.netrc credentials in the environment."""
    if urlsplit(server).scheme != "http":
        return False
    if any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS):
        return False
    netrc = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    return not os.path.exists(netrc)


class _Reply:
    """A response read whole: the fields of `requests.Response` the client uses."""

    def __init__(self, status: int, reason: str, headers: Any, content: bytes) -> None:
        self.status_code, self.reason, self.headers, self.content = (status, reason, headers,
                                                                      content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    def close(self) -> None:
        pass


class _Light:
    """Requests over `http.client` on one kept-alive connection."""

    def __init__(self, server: str) -> None:
        u = urlsplit(server)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.prefix = u.path.rstrip("/")
        self.conn: Any = None

    @staticmethod
    def takes(kw: dict[str, Any]) -> bool:
        """Whether these `requests` arguments are ones this transport handles."""
        data = kw.get("data")
        return not kw.get("stream") and set(kw) <= {"params", "json", "data", "headers",
                                                    "timeout"} and (
            data is None or isinstance(data, bytes | _MultipartStream))

    def request(self, method: str, path: str, base_headers: dict[str, str], *,
                timeout: float, params: dict[str, Any] | None = None, json: Any = None,
                data: Any = None, headers: dict[str, str] | None = None) -> _Reply:
        import http.client

        target = self.prefix + path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(
                {k: v for k, v in params.items() if v is not None})
        hdrs = {"User-Agent": "xdiag-cli", "Accept": "*/*", **base_headers, **(headers or {})}
        body: Any = data
        if json is not None:
            import json as jsonlib

            body = jsonlib.dumps(json).encode()
            hdrs["Content-Type"] = "application/json"
        if body is not None or method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(body) if body is not None else 0)
        # A kept connection the server has closed meanwhile: a GET is sent again once,
        # on a new connection (nothing of a POST's body is sent twice).
        for attempt in (0, 1):
            fresh = True
            try:
                fresh = self._connect(timeout)
                self.conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in hdrs.items():
                    self.conn.putheader(k, v)
                self.conn.endheaders()
                broke = self._send_body(body)
                try:
                    resp = self.conn.getresponse()
                except (http.client.HTTPException, OSError):
                    if broke is not None:  # no answer to a body it refused: say why
                        raise broke from None
                    raise
                content = resp.read()
                if resp.will_close:
                    self._close()
                return _Reply(resp.status, resp.reason, resp.headers, content)
            except TimeoutError:
                self._close()
                raise ClientError(f"{method} {self.prefix}{path} timed out after {timeout} s"
                                  ) from None
            except (http.client.HTTPException, OSError) as exc:
                self._close()
                if attempt == 0 and not fresh and method == "GET" and isinstance(
                        exc, http.client.RemoteDisconnected | ConnectionError):
                    continue
                raise ClientError(_unreachable(f"http://{self.host}:{self.port}"
                                               f"{self.prefix}")) from None
        raise AssertionError("unreachable")

    def _connect(self, timeout: float) -> bool:
        """Connects if there is no open connection; True if it made a new one."""
        import http.client

        if self.conn is not None:
            sock = self.conn.sock
            if sock is not None and not _readable(sock):  # a kept connection still open
                self.conn.timeout = timeout
                sock.settimeout(timeout)
                return False
            self._close()  # closed by the server meanwhile (readable: its end of file)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True

    def _send_body(self, body: Any) -> OSError | None:
        """Sends the body; the error if the server closed the connection before the end
        (it may have answered already: a refusal)."""
        if body is None:
            return None
        try:
            if isinstance(body, bytes):
                self.conn.sock.sendall(body)
            else:
                body.send_to(self.conn.sock)
        except (BrokenPipeError, ConnectionResetError) as exc:
            return exc
        return None

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it."""
    import select

    try:
        if hasattr(select, "poll"):  # select() fails on a descriptor past 1024
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


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
        self.boundary = "xdiag-" + os.urandom(16).hex()
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

    def send_to(self, sock: socket.socket) -> None:
        """Sends the body on `sock`, the files read into one reused buffer, `sent` told
        after each piece. (`sendfile` was slower here: 120 MB to a local service took
        0.11-0.13 s against 0.08 s, the receiver copying out of the file's pages.)"""
        done = 0
        buf = bytearray(SEND_PIECE)
        with memoryview(buf) as view:
            for part in self.parts:
                if isinstance(part, Path):
                    with open(part, "rb", buffering=0) as fh:
                        while n := fh.readinto(buf):
                            sock.sendall(view[:n])
                            done += n
                            if self.sent is not None:
                                self.sent(done)
                else:
                    sock.sendall(part)
                    done += len(part)

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
